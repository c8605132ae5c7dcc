// Unit tests of the reducer (web/js/store.js): `node --test tests/web/`.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  boardFrom, createStore, initialState, pendingRef, reducer,
} from '../../web/js/store.js';

const run = (...actions) => actions.reduce(reducer, initialState);

const message = (seq, text, channel = 'general', id = `m${seq}`) => ({
  event: 'message',
  topic: `channel:p/${channel}`,
  seq,
  epoch: 'e1',
  data: { id, project_id: 'p', channel, text, user: { id: 'u2', username: 'bob' }, ts: seq },
});

test('login, then logout keeps the settings and clears the session', () => {
  let state = run({ type: 'LOGIN_SUBMITTED' }, { type: 'LOGGED_IN', username: 'demo' });
  assert.equal(state.auth.status, 'authenticated');
  state = reducer(state, { type: 'SETTINGS_CHANGED', settings: { theme: 'light' } });
  state = reducer(state, { type: 'LOGGED_OUT', error: 'Your session has expired.' });
  assert.equal(state.auth.status, 'anonymous');
  assert.equal(state.auth.error, 'Your session has expired.');
  assert.equal(state.settings.theme, 'light');
});

test('an event applied twice (same topic seq) changes nothing the second time', () => {
  const selected = run({ type: 'CHANNEL_SELECTED', projectId: 'p', channel: 'general' });
  const once = reducer(selected, { type: 'MESSAGE_RECEIVED', frame: message(1, 'hi') });
  const twice = reducer(once, { type: 'MESSAGE_RECEIVED', frame: message(1, 'hi') });
  assert.equal(twice, once);
  assert.deepEqual(
    once.feeds['p/general'].items.map((item) => item.text),
    ['hi'],
  );
});

test('unread counts grow in other channels and clear when the channel is opened', () => {
  let state = run({ type: 'CHANNEL_SELECTED', projectId: 'p', channel: 'general' });
  state = reducer(state, { type: 'MESSAGE_RECEIVED', frame: message(1, 'a', 'dev') });
  state = reducer(state, { type: 'MESSAGE_RECEIVED', frame: message(2, 'b', 'dev') });
  state = reducer(state, { type: 'MESSAGE_RECEIVED', frame: message(1, 'c', 'general') });
  assert.deepEqual(state.unread, { 'p/dev': 2 });
  state = reducer(state, { type: 'CHANNEL_SELECTED', projectId: 'p', channel: 'dev' });
  assert.deepEqual(state.unread, {});
});

test('a command: sent, acknowledged, answered', () => {
  let state = run({ type: 'COMMAND_SENT', id: 'f1', text: '/help', feed: 'home', author: 'demo' });
  assert.equal(state.feeds.home.items[0].status, 'sending');
  state = reducer(state, { type: 'COMMAND_ACKED', ref: 'f1', commandId: 'c1' });
  assert.equal(state.feeds.home.items[0].status, 'received');
  state = reducer(state, {
    type: 'COMMAND_RESULT',
    ref: 'f1',
    data: { command: '/help', ok: true, result: { message: 'ok' } },
  });
  assert.equal(state.feeds.home.items[0].status, 'done');
  assert.deepEqual(state.pending, {});
});

test('a project list that fails is said, not loading for ever; a later one clears it', () => {
  const sent = { type: 'COMMAND_SENT', text: '/project list', silent: true, feed: 'home' };
  let state = run({ ...sent, id: 'f1' });
  state = reducer(state, { type: 'COMMAND_REJECTED', ref: 'f1', code: 'unavailable', message: 'down' });
  assert.deepEqual(state.projects, { list: [], loaded: false, error: 'down' });
  assert.deepEqual(state.feeds.home?.items ?? [], []); // silent: nothing in the feed
  state = reducer(state, { ...sent, id: 'f2' });
  const projects = [{ id: 'p', name: 'p', state: 'IDLE', channels: ['general'] }];
  state = reducer(state, {
    type: 'COMMAND_RESULT',
    ref: 'f2',
    data: { command: '/project list', ok: true, result: { projects } },
  });
  assert.deepEqual(state.projects, { list: projects, loaded: true, error: null });
});

test('a command acknowledged behind a long queue keeps how many were waiting', () => {
  let state = run({ type: 'COMMAND_SENT', id: 'f1', text: '/help', feed: 'home', author: 'demo' });
  state = reducer(state, { type: 'COMMAND_ACKED', ref: 'f1', commandId: 'c1', queuedAhead: 250 });
  assert.equal(state.feeds.home.items[0].status, 'received');
  assert.equal(state.feeds.home.items[0].queuedAhead, 250);
});

test('a dropped connection loses unacknowledged commands and keeps acknowledged ones', () => {
  let state = run(
    { type: 'CONNECTION_CHANGED', status: 'connected' },
    { type: 'COMMAND_SENT', id: 'f1', text: '/state', feed: 'home', author: 'demo' },
    { type: 'COMMAND_SENT', id: 'f2', text: '/help', feed: 'home', author: 'demo' },
    { type: 'COMMAND_ACKED', ref: 'f2', commandId: 'c2' },
  );
  state = reducer(state, { type: 'CONNECTION_CHANGED', status: 'reconnecting', retryAt: 1 });
  assert.equal(state.feeds.home.items[0].status, 'lost');
  assert.equal(state.pending.f2.carried, true);
});

test('older history pages go before what is shown, without duplicates', () => {
  let state = run(
    { type: 'CHANNEL_SELECTED', projectId: 'p', channel: 'general' },
    { type: 'MESSAGE_RECEIVED', frame: message(3, 'three') },
    { type: 'HISTORY_REQUESTED', key: 'p/general' },
  );
  assert.equal(state.history['p/general'].loading, true);
  // Newest first, as the history API serves them; seq 3 is already shown.
  state = reducer(state, {
    type: 'HISTORY_LOADED',
    key: 'p/general',
    items: [message(3, 'three'), message(2, 'two'), message(1, 'one')],
    nextBefore: null,
  });
  const feed = state.feeds['p/general'].items.map((item) => item.text);
  assert.deepEqual(feed, ['one', 'two', 'three']);
  assert.deepEqual(state.history['p/general'], {
    loading: false,
    before: 1,
    done: true,
    error: null,
  });
});

/** A board of project p: sprint S1 with task T1 (pending), and `stories`. */
const boardOf = (stories = []) =>
  boardFrom(
    'p',
    [{ id: 'S1', status: 'active', tasks: [{ id: 'T1', title: 'Login', status: 'pending' }] }],
    { stories },
  );
/** T1 dragged to done. */
const taskDone = {
  changeId: 'c1',
  entityType: 'task',
  entityId: 'p:S1:T1',
  field: 'status',
  oldValue: 'pending',
  newValue: 'done',
};

test('sprint board: a change moves the card, a rejection moves it back and says why', () => {
  const data = boardOf([{ id: 'US1', title: 'Login story', status: 'approved' }]);
  assert.equal(data.tasks[0].entityId, 'p:S1:T1');
  assert.equal(data.stories[0].entityId, 'p:US1');
  let state = run(
    { type: 'BOARD_REQUESTED', projectId: 'p' },
    { type: 'BOARD_LOADED', projectId: 'p', data },
  );
  state = reducer(state, { type: 'CHANGE_SENT', change: taskDone });
  assert.equal(state.board.tasks[0].status, 'done');
  state = reducer(state, {
    type: 'CHANGE_REJECTED',
    changeId: 'c1',
    reason: 'task.status cannot be changed',
  });
  assert.equal(state.board.tasks[0].status, 'pending');
  assert.equal(state.board.rejection.reason, 'task.status cannot be changed');
  assert.equal(state.board.rejection.title, 'Login');
  // Another user's change arrives live.
  state = reducer(state, {
    type: 'ENTITY_CHANGED',
    data: { entity_type: 'story', entity_id: 'p:US1', field: 'status', new_value: 'proposed' },
  });
  assert.equal(state.board.stories[0].status, 'proposed');
});

test('sprint board: a change that may still apply stays where the user put it', () => {
  const data = boardOf([]);
  let state = run(
    { type: 'BOARD_REQUESTED', projectId: 'p' },
    { type: 'BOARD_LOADED', projectId: 'p', data },
    { type: 'CHANGE_SENT', change: taskDone },
  );
  state = reducer(state, { type: 'CHANGE_IN_DOUBT', changeId: 'c1', reason: 'server leaving' });
  assert.equal(state.board.tasks[0].status, 'done');
  assert.deepEqual(state.board.changes, {}); // the board read next is taken as it is
  assert.equal(state.board.rejection.inDoubt, true);
  assert.equal(state.board.rejection.reason, 'server leaving');
  state = reducer(state, { type: 'BOARD_LOADED', projectId: 'p', data }); // it did not apply
  assert.equal(state.board.tasks[0].status, 'pending');
  // Its answer may still come on this socket: it replaces the "not confirmed" line.
  const refused = reducer(state, { type: 'CHANGE_REJECTED', changeId: 'c1', reason: 'no' });
  const { inDoubt, reason } = refused.board.rejection;
  assert.deepEqual([inDoubt, reason], [false, 'no']);
  assert.equal(refused.board.tasks[0].status, 'pending');
  const applied = reducer(state, { type: 'CHANGE_CONFIRMED', changeId: 'c1' });
  assert.equal(applied.board.rejection, null);
  assert.equal(reducer(state, { type: 'CHANGE_CONFIRMED', changeId: 'c9' }), state);
});

test('the store notifies subscribers only on change', () => {
  const store = createStore();
  let calls = 0;
  store.subscribe(() => {
    calls += 1;
  });
  store.dispatch({ type: 'NOTHING' });
  store.dispatch({ type: 'MODAL_OPENED', modal: 'help' });
  store.dispatch({ type: 'MODAL_CLOSED' });
  store.dispatch({ type: 'MODAL_CLOSED' });
  assert.equal(calls, 2);
});

test('added to a project: a toast; removed from the open one: a toast, unfollowed, home', () => {
  let state = run(
    { type: 'CHANNEL_SELECTED', projectId: 'p', channel: 'general' },
    { type: 'MESSAGE_RECEIVED', frame: message(1, 'hi') },
    { type: 'EVENT_SEEN', frame: { event: 'x', topic: 'project:p', seq: 3, epoch: 'e1' } },
    { type: 'EVENT_SEEN', frame: { event: 'x', topic: 'project:q', seq: 2, epoch: 'e1' } },
    { type: 'EVENT_SEEN', frame: { event: 'x', topic: 'entity:task:p:SP1:T1', seq: 1, epoch: 'e' } },
    { type: 'EVENT_SEEN', frame: { event: 'x', topic: 'entity:task:pq:SP1:T1', seq: 1, epoch: 'e' } },
  );
  state = reducer(state, { type: 'MEMBERSHIP_CHANGED', data: { project_id: 'q', member: true } });
  assert.deepEqual(
    state.toasts.map((toast) => [toast.type, toast.title, toast.projectId]),
    [['info', 'Added to q', 'q']],
  );
  assert.equal(state.current.projectId, 'p');
  state = reducer(state, { type: 'MEMBERSHIP_CHANGED', data: { project_id: 'p', member: false } });
  assert.deepEqual(state.toasts.at(-1).title, 'Removed from p');
  assert.equal(state.toasts.at(-1).type, 'warning');
  assert.deepEqual(Object.keys(state.topics), ['project:q', 'entity:task:pq:SP1:T1']);
  assert.deepEqual(state.current, { projectId: null, channel: null, joined: false });
  const same = reducer(state, { type: 'MEMBERSHIP_CHANGED', data: {} });
  assert.equal(same, state); // nothing named: nothing to do
});

test('a channel created in a project joins its list entry once', () => {
  const created = (projectId, channel) => ({
    type: 'CHANNEL_CREATED',
    frame: { event: 'channel_created', data: { project_id: projectId, channel } },
  });
  let state = run({
    type: 'PROJECTS_LOADED',
    projects: [
      { id: 'p', name: 'p', state: 'IDLE', channels: ['general'] },
      { id: 'q', name: 'q', state: 'IDLE', channels: ['general'] },
    ],
  });
  state = reducer(state, created('p', 'design'));
  state = reducer(state, created('p', 'design')); // replayed: still once
  assert.deepEqual(
    state.projects.list.map((project) => project.channels),
    [['general', 'design'], ['general']],
  );
  const unknown = reducer(state, created('nope', 'x')); // a project not listed: nothing
  assert.deepEqual(unknown.projects.list, state.projects.list);
});

test('a notification of a project not shown marks it until it is opened or left', () => {
  const notice = (project) => ({
    type: 'NOTIFICATION',
    frame: { event: 'notification', topic: `project:${project}`, data: { title: 'Done' } },
  });
  let state = run({ type: 'CHANNEL_SELECTED', projectId: 'p', channel: 'general' });
  state = reducer(state, notice('p')); // the project shown: its toast is enough
  state = reducer(state, notice('q'));
  state = reducer(state, notice('q'));
  state = reducer(state, notice('r'));
  assert.deepEqual(state.alerts, { q: 2, r: 1 });
  assert.equal(state.toasts.length, 4);
  state = reducer(state, { type: 'CHANNEL_SELECTED', projectId: 'q', channel: 'general' });
  assert.deepEqual(state.alerts, { r: 1 });
  state = reducer(state, { type: 'MEMBERSHIP_CHANGED', data: { project_id: 'r', member: false } });
  assert.deepEqual(state.alerts, {});
});

test('a chat or agent message the server gave up on is said in the channel', () => {
  let state = run({ type: 'CHANNEL_SELECTED', projectId: 'p', channel: 'general' });
  for (const command of ['message', 'agent_message']) {
    state = reducer(state, {
      type: 'COMMAND_RESULT',
      data: { command, ok: false, error: `${command} set aside (id x)`, hint: 'Try again' },
    });
  }
  const said = state.feeds['p/general'].items.map((item) => item.text);
  assert.deepEqual(said, [
    'message set aside (id x) — Try again',
    'agent_message set aside (id x) — Try again',
  ]);
});

test('past the toast limit the oldest go, errors last: an error waits to be closed', () => {
  const notice = (type, title) => ({
    type: 'NOTIFICATION',
    frame: { event: 'notification', topic: 'project:p', data: { type, title } },
  });
  let state = run(notice('error', 'Task T1 is blocked'));
  for (let i = 1; i <= 6; i += 1) state = reducer(state, notice('info', `info ${i}`));
  assert.deepEqual(
    state.toasts.map((toast) => toast.title),
    ['Task T1 is blocked', 'info 3', 'info 4', 'info 5', 'info 6'],
  );
  for (let i = 2; i <= 6; i += 1) state = reducer(state, notice('error', `error ${i}`));
  assert.deepEqual(
    state.toasts.map((toast) => toast.title),
    ['error 2', 'error 3', 'error 4', 'error 5', 'error 6'], // only errors left: the oldest goes
  );
});

test('a command refused as "may still run" waits on for its result; a plain refusal fails', () => {
  let state = run({ type: 'COMMAND_SENT', id: 'f1', text: '/sprint start', feed: 'p/general' });
  const message = 'the broker did not confirm the command in time: it may still run';
  state = reducer(state, {
    type: 'COMMAND_REJECTED',
    ref: 'f1',
    code: 'unavailable',
    message,
    mayStillRun: true,
  });
  const item = () => state.feeds['p/general'].items[0];
  assert.deepEqual([item().status, item().error], ['unconfirmed', message]);
  assert.ok(state.pending.f1);
  state = reducer(state, {
    type: 'COMMAND_RESULT',
    ref: 'f1',
    data: { command: '/sprint start', ok: true, result: { message: 'Sprint SP1 started' } },
  });
  assert.equal(item().status, 'done');
  assert.deepEqual(state.pending, {});

  state = reducer(state, { type: 'COMMAND_SENT', id: 'f3', text: '/state', feed: 'p/general' });
  state = reducer(state, {
    type: 'COMMAND_REJECTED', ref: 'f3', code: 'unavailable', message, mayStillRun: true,
    commandId: 'abc',
  });
  // The socket drops before the result: kept by its command id, which the replayed result has.
  state = reducer(state, { type: 'CONNECTION_CHANGED', status: 'connected' });
  state = reducer(state, { type: 'CONNECTION_CHANGED', status: 'reconnecting' });
  assert.equal(state.pending.f3.commandId, 'abc');
  const replayed = { data: { command_id: 'abc', command: '/state', ok: true, result: {} } };
  assert.equal(pendingRef(state, replayed), 'f3');
  state = reducer(state, { type: 'COMMAND_RESULT', ref: 'f3', data: replayed.data });
  assert.equal(state.feeds['p/general'].items[1].status, 'done');
  assert.deepEqual(state.pending, {});

  state = reducer(state, { type: 'COMMAND_SENT', id: 'f2', text: '/state', feed: 'p/general' });
  state = reducer(state, { type: 'COMMAND_REJECTED', ref: 'f2', code: 'unavailable', message });
  assert.equal(state.feeds['p/general'].items[2].status, 'done'); // shown as failed at once
  assert.deepEqual(state.pending, {});
});

test('a board move unanswered when the socket drops goes back and is not re-applied', () => {
  const data = boardOf();
  let state = run(
    { type: 'CONNECTION_CHANGED', status: 'connected' },
    { type: 'BOARD_REQUESTED', projectId: 'p' },
    { type: 'BOARD_LOADED', projectId: 'p', data },
  );
  state = reducer(state, { type: 'CHANGE_SENT', change: taskDone });
  state = reducer(state, { type: 'CONNECTION_CHANGED', status: 'reconnecting' });
  assert.equal(state.board.tasks[0].status, 'pending'); // its answer went to the old socket
  assert.deepEqual(state.board.changes, {});
  state = reducer(state, { type: 'BOARD_LOADED', projectId: 'p', data }); // read again
  assert.equal(state.board.tasks[0].status, 'pending');
});

test('an error notice on the dashboard (the chat hidden) also shows as a toast', () => {
  const notice = { type: 'NOTICE', tone: 'error', text: 'Not connected: the change was not sent.' };
  let state = run({ type: 'CHANNEL_SELECTED', projectId: 'p', channel: 'general' }, notice);
  assert.equal(state.toasts.length, 0); // in the chat, the line itself is seen
  state = reducer(state, { type: 'VIEW_CHANGED', view: 'dashboard' });
  state = reducer(state, notice);
  state = reducer(state, { type: 'NOTICE', tone: 'info', text: 'fyi' });
  assert.deepEqual(
    state.toasts.map((toast) => [toast.type, toast.message]),
    [['error', 'Not connected: the change was not sent.']],
  );
});
