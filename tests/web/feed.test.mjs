// Unit tests of the message list's window (web/js/feed.js `moveWindow`): `node --test tests/web/`.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { moveWindow } from '../../web/js/feed.js';

const SIZES = { size: 300, step: 150 };
const feed = (count, from = 1) =>
  Array.from({ length: count }, (_, i) => ({ id: `m${from + i}`, kind: 'message' }));
const ids = (items, range) => [items[range.start].id, items[range.end].id];

test('a channel opens on its newest page and follows new items', () => {
  const items = feed(1000);
  const opened = moveWindow(items, { startId: null, endId: null }, 'tail', SIZES);
  assert.deepEqual(ids(items, opened), ['m851', 'm1000']);
  assert.equal(opened.endId, null);
  const more = [...items, ...feed(2, 1001)];
  const kept = moveWindow(more, opened, 'none', SIZES);
  assert.deepEqual(ids(more, kept), ['m851', 'm1002']);
});

test('moving up shows older items and lets the newest go beyond the window size', () => {
  const items = feed(1000);
  let range = moveWindow(items, { startId: null, endId: null }, 'tail', SIZES);
  range = moveWindow(items, range, 'up', SIZES);
  assert.deepEqual(ids(items, range), ['m701', 'm1000']);
  assert.equal(range.endId, null, 'still ends at the newest');
  range = moveWindow(items, range, 'up', SIZES);
  assert.deepEqual(ids(items, range), ['m551', 'm850']);
  assert.equal(range.endId, 'm850', 'no longer follows');
  for (let step = 0; step < 10; step += 1) range = moveWindow(items, range, 'up', SIZES);
  assert.deepEqual(ids(items, range), ['m1', 'm300']);
});

test('moving down comes back to the newest and follows again', () => {
  const items = feed(1000);
  let range = { startId: 'm1', endId: 'm300' };
  range = moveWindow(items, range, 'down', SIZES);
  assert.deepEqual(ids(items, range), ['m151', 'm450']);
  for (let step = 0; step < 10; step += 1) range = moveWindow(items, range, 'down', SIZES);
  assert.deepEqual(ids(items, range), ['m701', 'm1000']);
  assert.equal(range.endId, null);
});

test('older items put in front keep the window on the same items', () => {
  const items = feed(100, 51);
  const range = moveWindow(items, { startId: null, endId: null }, 'tail', SIZES);
  assert.equal(range.start, 0);
  const more = [...feed(50, 1), ...items];
  const same = moveWindow(more, range, 'none', SIZES);
  assert.deepEqual(ids(more, same), ['m51', 'm150']);
  const up = moveWindow(more, range, 'up', SIZES);
  assert.deepEqual(ids(more, up), ['m1', 'm150']);
});

test('a window whose items vanished goes back to the newest; freeze bounds a growing one', () => {
  const items = feed(500);
  assert.deepEqual(ids(items, moveWindow(items, { startId: 'x', endId: null }, 'none', SIZES)), [
    'm351',
    'm500',
  ]);
  const frozen = moveWindow(items, { startId: 'm1', endId: null }, 'freeze', SIZES);
  assert.deepEqual(ids(items, frozen), ['m1', 'm300']);
  assert.deepEqual(moveWindow([], frozen, 'none', SIZES), {
    start: 0,
    end: -1,
    startId: null,
    endId: null,
  });
});
