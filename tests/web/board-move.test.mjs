// Unit tests of moving a board card without a mouse (web/js/board-move.js): `node --test tests/web/`.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { boardKey, dropStatus, isDrag } from '../../web/js/board-move.js';

const columns = ['proposed', 'approved', 'planned', 'done', 'rejected'];
const card = { entityId: 'p:S1', entityType: 'story', title: 'Login', status: 'proposed' };

test('nothing is carried until Space or Enter on a focused card', () => {
  assert.deepEqual(boardKey(null, 'ArrowRight', { card, columns }), { carry: null, handled: false });
  assert.equal(boardKey(null, ' ', { card: null, columns }).handled, false);
  const picked = boardKey(null, ' ', { card, columns });
  assert.equal(picked.handled, true);
  assert.deepEqual(picked.carry, { entityId: 'p:S1', entityType: 'story', title: 'Login', from: 'proposed', to: 'proposed' });
  assert.match(picked.announce, /Picked up Login in Proposed/);
  assert.equal(boardKey(null, 'Enter', { card, columns }).carry.entityId, 'p:S1');
});

test('arrows choose a column within the lane, clamped at its ends', () => {
  let { carry } = boardKey(null, 'Enter', { card, columns });
  let answer = boardKey(carry, 'ArrowLeft', { card, columns });
  assert.equal(answer.carry.to, 'proposed');
  answer = boardKey(answer.carry, 'ArrowRight', { card, columns });
  assert.equal(answer.carry.to, 'approved');
  assert.equal(answer.announce, 'Login: over Approved.');
  for (let i = 0; i < 10; i += 1) answer = boardKey(answer.carry, 'ArrowRight', { card, columns });
  assert.equal(answer.carry.to, 'rejected');
  carry = answer.carry;
  assert.equal(carry.from, 'proposed');
});

test('a drop on another column sends the change; on its own column it does not', () => {
  const { carry } = boardKey(null, ' ', { card, columns });
  const over = boardKey(carry, 'ArrowRight', { card, columns }).carry;
  const dropped = boardKey(over, 'Enter', { card, columns });
  assert.deepEqual(dropped.send, { entityId: 'p:S1', status: 'approved' });
  assert.equal(dropped.carry, null);
  assert.match(dropped.announce, /dropped in Approved/);
  const stays = boardKey(carry, ' ', { card, columns });
  assert.equal(stays.send, undefined);
  assert.equal(stays.carry, null);
  assert.match(stays.announce, /stays in Proposed/);
});

test('Escape cancels, Tab cancels and leaves the key to the page, other keys are swallowed', () => {
  const { carry } = boardKey(null, ' ', { card, columns });
  const over = boardKey(carry, 'ArrowRight', { card, columns }).carry;
  const cancelled = boardKey(over, 'Escape', { card, columns });
  assert.equal(cancelled.carry, null);
  assert.equal(cancelled.send, undefined);
  assert.match(cancelled.announce, /cancelled: Login stays in Proposed/);
  const tabbed = boardKey(over, 'Tab', { card, columns });
  assert.equal(tabbed.carry, null);
  assert.equal(tabbed.handled, false);
  const other = boardKey(over, 'x', { card, columns });
  assert.equal(other.carry, over);
  assert.equal(other.handled, true);
});

test('a status not among the columns starts from the first column', () => {
  const odd = { ...card, status: 'skipped' };
  const { carry } = boardKey(null, ' ', { card: odd, columns });
  assert.equal(boardKey(carry, 'ArrowRight', { card: odd, columns }).carry.to, 'proposed');
});

test('a touch is a drag once it moved 8 px; a drop needs the same lane and another column', () => {
  assert.equal(isDrag({ x: 0, y: 0 }, { x: 3, y: 4 }), false);
  assert.equal(isDrag({ x: 0, y: 0 }, { x: 6, y: 8 }), true);
  assert.equal(dropStatus(card, { entityType: 'story', status: 'approved' }), 'approved');
  assert.equal(dropStatus(card, { entityType: 'story', status: 'proposed' }), null);
  assert.equal(dropStatus(card, { entityType: 'task', status: 'done' }), null);
  assert.equal(dropStatus(card, null), null);
  assert.equal(dropStatus(null, { entityType: 'story', status: 'approved' }), null);
});

test('a notification sounds only with the sound setting on', async () => {
  const { notificationSound } = await import('../../web/js/settings.js');
  let played = 0;
  const play = () => {
    played += 1;
  };
  assert.equal(notificationSound({ sound: false }, play), false);
  assert.equal(notificationSound(undefined, play), false);
  assert.equal(played, 0);
  assert.equal(notificationSound({ sound: true }, play), true);
  assert.equal(played, 1);
});
