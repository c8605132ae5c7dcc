// What server frames lead to (web/js/frames.js, commands.js): `node --test tests/web/`.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { createCommands } from '../../web/js/commands.js';
import { createFrameHandler } from '../../web/js/frames.js';
import { initialState, reducer } from '../../web/js/store.js';

/** Real commands and reducer over a fake socket that records what is sent; `hooks`: the
 * app's (frames.js calls them). */
function setup(hooks = {}) {
  let state = initialState;
  const store = {
    getState: () => state,
    dispatch: (action) => {
      state = reducer(state, action);
    },
  };
  const sent = [];
  const socket = {
    send: (event, data) => {
      sent.push({ event, data });
      return `f${sent.length}`;
    },
  };
  const commands = createCommands({ store, socket });
  const resume = { refused: () => false, hold: () => false, follow: () => {} };
  const handle = createFrameHandler({ store, commands, resume, hooks });
  return { store, sent, commands, handle };
}

test('a project registered elsewhere is listed, not opened; this tab opens its own', () => {
  const { store, sent, handle } = setup();
  const registered = (ref) => ({
    event: 'command_result',
    ...(ref ? { ref } : {}),
    data: { command: '/project register', ok: true, result: { project_id: 'newp' } },
  });
  handle(registered(null)); // another tab's, or POST /api/projects
  assert.deepEqual(
    sent.map((frame) => frame.event),
    ['command'], // the project list, asked for again
  );
  assert.equal(store.getState().current.projectId, null);

  handle(registered('c9'));
  assert.deepEqual(sent.at(-1), {
    event: 'join_channel',
    data: { project_id: 'newp', channel: 'general' },
  });
  assert.equal(store.getState().current.projectId, 'newp');
});

test('a join refused for now keeps the channel open; refused for good, it goes home', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { store, sent, commands, handle } = setup();
  commands.join('p', 'general');
  handle({ event: 'error', ref: 'f1', data: { code: 'unavailable', message: 'store away' } });
  assert.equal(store.getState().current.projectId, 'p');
  t.mock.timers.tick(3000);
  const again = { event: 'join_channel', data: { project_id: 'p', channel: 'general' } };
  assert.deepEqual(sent.at(-1), again);

  const refused = { code: 'forbidden', message: 'not yours' };
  handle({ event: 'error', ref: `f${sent.length}`, data: refused });
  assert.equal(store.getState().current.projectId, null);
});

test('a join refused again and again backs off, up to half a minute', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { sent, commands, handle } = setup();
  commands.join('p', 'general');
  const away = { code: 'unavailable', message: 'store away' };
  const joinsSent = () => sent.filter((frame) => frame.event === 'join_channel').length;
  const ceilings = [3000, 6000, 12_000, 24_000, 30_000, 30_000];
  for (const ceiling of ceilings) {
    const before = joinsSent();
    handle({ event: 'error', ref: `f${sent.length}`, data: away });
    t.mock.timers.tick(ceiling / 2 - 1); // at least half the ceiling: not yet
    assert.equal(joinsSent(), before);
    t.mock.timers.tick(ceiling / 2 + 1);
    assert.equal(joinsSent(), before + 1);
  }
});

test('a join waiting to be tried again is not sent after logout', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { sent, commands, handle } = setup();
  commands.join('p', 'general');
  handle({ event: 'error', ref: 'f1', data: { code: 'unavailable', message: 'store away' } });
  commands.forget();
  t.mock.timers.tick(60_000);
  assert.equal(sent.filter((frame) => frame.event === 'join_channel').length, 1);
});

test('a card subscription refused for now says nothing; the board asks again later', () => {
  const refusedRefs = [];
  const followRefused = (ref) => {
    refusedRefs.push(ref);
    return ref === 's1';
  };
  const { store, handle } = setup({ followRefused });
  const before = store.getState();
  const message = 'the subscribe was not accepted: this server is shutting down; send it again';
  handle({ event: 'error', ref: 's1', data: { code: 'unavailable', message } });
  assert.equal(store.getState(), before);
  assert.deepEqual(refusedRefs, ['s1']);
});

test('a chat message refused says so in its channel, with the text to send again', () => {
  const { store, sent, commands, handle } = setup();
  store.dispatch({ type: 'CHANNEL_SELECTED', projectId: 'p', channel: 'general' });
  assert.ok(commands.message('hello there'));
  const ref = `f${sent.length}`;
  handle({ event: 'error', ref, data: { code: 'rate_limited', message: 'too many frames' } });
  const said = store.getState().feeds['p/general'].items.map((item) => item.text);
  assert.deepEqual(said, ['Not sent: too many frames. Your message: “hello there”']);
  handle({ event: 'error', ref, data: { code: 'rate_limited', message: 'again' } });
  assert.equal(store.getState().feeds['p/general'].items.length, 1); // taken once
});

test('a chat message that may still be posted says so, not that it was not sent', () => {
  const { store, sent, commands, handle } = setup();
  store.dispatch({ type: 'CHANNEL_SELECTED', projectId: 'p', channel: 'general' });
  assert.ok(commands.message('hello there'));
  const data = { code: 'unavailable', message: 'server leaving', may_still_run: true };
  handle({ event: 'error', ref: `f${sent.length}`, data });
  const said = store.getState().feeds['p/general'].items.map((item) => item.text);
  const text = 'Not confirmed: server leaving. If it does not appear, send it again: “hello there”';
  assert.deepEqual(said, [text]);
});

test('50 chat messages are remembered for a refusal; an older one gets a plain notice', () => {
  const { store, sent, commands, handle } = setup();
  store.dispatch({ type: 'CHANNEL_SELECTED', projectId: 'p', channel: 'general' });
  for (let i = 0; i <= 50; i += 1) commands.message(`m${i}`); // 51 sent, f1 to f51
  handle({ event: 'error', ref: 'f1', data: { code: 'unavailable', message: 'broker away' } });
  handle({ event: 'error', ref: 'f2', data: { code: 'unavailable', message: 'broker away' } });
  const said = store.getState().feeds['p/general'].items.map((item) => item.text);
  assert.deepEqual(said, [
    'broker away (unavailable)', // the oldest, forgotten: no text to give back
    'Not sent: broker away. Your message: “m1”',
  ]);
  assert.equal(sent.length, 51);
});

test('a message to an agent that may still run is shown unconfirmed, not failed', () => {
  const { store, handle } = setup();
  const sent = { type: 'AGENT_MESSAGE_SENT', id: 'a1', agentId: 'CodeAgent', text: 'hi' };
  store.dispatch({ ...sent, author: 'me', feed: 'p/general' });
  const data = { code: 'unavailable', message: 'server leaving', may_still_run: true };
  handle({ event: 'error', ref: 'a1', data });
  const [item] = store.getState().feeds['p/general'].items;
  assert.deepEqual([item.status, item.error], ['unconfirmed', 'server leaving']);
});

test('a card move that may still apply is not undone; the board is read again', () => {
  const stale = [];
  const { store, handle } = setup({ boardStale: (projectId) => stale.push(projectId) });
  store.dispatch({ type: 'BOARD_REQUESTED', projectId: 'p' });
  const data = { sprint: { id: 'S1', key: 'p:S1', status: 'active' }, stories: [] };
  const card = { entityType: 'task', entityId: 'p:S1:T1', id: 'T1', status: 'pending' };
  store.dispatch({ type: 'BOARD_LOADED', projectId: 'p', data: { ...data, tasks: [card] } });
  const change = { changeId: 'c1', ref: 'f9', entityType: 'task', entityId: 'p:S1:T1' };
  const moved = { ...change, field: 'status', oldValue: 'pending', newValue: 'done' };
  store.dispatch({ type: 'CHANGE_SENT', change: moved });
  const error = { code: 'unavailable', message: 'server leaving', may_still_run: true };
  handle({ event: 'error', ref: 'f9', data: error });
  assert.equal(store.getState().board.tasks[0].status, 'done');
  assert.equal(store.getState().board.rejection.inDoubt, true);
  assert.deepEqual(stale, ['p']);
});

test('logging out forgets the chat texts kept for a refusal', () => {
  const { store, sent, commands, handle } = setup();
  store.dispatch({ type: 'CHANNEL_SELECTED', projectId: 'p', channel: 'general' });
  assert.ok(commands.message('private words'));
  commands.forget();
  handle({ event: 'error', ref: `f${sent.length}`, data: { code: 'unavailable', message: 'x' } });
  const said = store.getState().feeds['p/general'].items.map((item) => item.text);
  assert.deepEqual(said, ['x (unavailable)']);
});
