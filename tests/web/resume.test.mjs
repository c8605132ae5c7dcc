// Unit tests of catching up and following topics (web/js/resume.js): `node --test tests/web/`.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { createResume } from '../../web/js/resume.js';

/** A resume over a fake store and socket that record what they are given. */
function setup({ topics = {}, projectId = null } = {}) {
  const sent = [];
  const dispatched = [];
  const state = { topics, current: { projectId, channel: projectId ? 'general' : null } };
  const store = { getState: () => state, dispatch: (action) => dispatched.push(action) };
  const socket = {
    send: (event, data) => {
      sent.push({ event, data, id: `f${sent.length + 1}` });
      return `f${sent.length}`;
    },
  };
  const refetched = [];
  const commands = {
    rejoin: (...args) => refetched.push(['rejoin', ...args]),
    refreshProjects: () => refetched.push(['projects']),
    refreshAgents: (...args) => refetched.push(['agents', ...args]),
  };
  return { resume: createResume({ store, socket, commands }), sent, dispatched, refetched };
}

test('follow asks, from now, for the projects not followed yet', () => {
  const known = { 'project:a': { seq: 4, epoch: 'e' } };
  const { resume, sent } = setup({ topics: known, projectId: 'b' });
  resume.follow(['a', 'b', 'c', 'd', 'c']);
  assert.deepEqual(sent, [
    {
      event: 'resume',
      data: { positions: { 'project:c': { seq: 0, epoch: '' }, 'project:d': { seq: 0, epoch: '' } } },
      id: 'f1',
    },
  ]);
  resume.follow(['c', 'd']); // already asked for: not again
  assert.equal(sent.length, 1);
});

test('follow sends at most 100 topics per frame', () => {
  const { resume, sent } = setup();
  resume.follow(Array.from({ length: 250 }, (_, i) => `p${i}`));
  assert.deepEqual(
    sent.map((frame) => Object.keys(frame.data.positions).length),
    [100, 100, 50],
  );
});

test('the answer to a follow notes where each topic stands and fetches nothing', () => {
  const { resume, dispatched, refetched } = setup();
  resume.follow(['c']);
  resume.answered({
    event: 'resumed',
    ref: 'f1',
    data: { 'project:c': { recovered: false, seq: 7, epoch: 'x' } },
  });
  assert.deepEqual(dispatched, [
    { type: 'RESUMED', data: { 'project:c': { recovered: false, seq: 7, epoch: 'x' } } },
  ]);
  assert.deepEqual(refetched, []);
});

test('a refused follow is forgotten, so the next list asks again', () => {
  const { resume, sent, refetched } = setup();
  resume.follow(['c']);
  assert.equal(resume.refused('f1'), true);
  assert.deepEqual(refetched, []);
  resume.follow(['c']);
  assert.equal(sent.length, 2);
});

test('a reconnect forgets the follows of the earlier socket', () => {
  const { resume, sent, dispatched } = setup();
  resume.follow(['c']);
  resume.begin(() => {});
  resume.answered({ event: 'resumed', ref: 'f1', data: { 'project:c': { seq: 1, epoch: 'x' } } });
  assert.deepEqual(dispatched, []);
  resume.follow(['c']);
  assert.equal(sent.length, 2);
});
