// How the web client words a wait.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { formatWait, pendingWait } from '../../web/js/format.js';

test('a wait says nothing for its first seconds, then seconds, then minutes', () => {
  assert.equal(formatWait(0), '');
  assert.equal(formatWait(2.9), '');
  assert.equal(formatWait(3), '3 s');
  assert.equal(formatWait(59.9), '59 s');
  assert.equal(formatWait(60), '1 min 0 s');
  assert.equal(formatWait(125), '2 min 5 s');
  assert.equal(formatWait(1, 0), '1 s');
});

test('a command still sending past a few seconds says the server is busy, not lost', () => {
  assert.equal(pendingWait(4.9, 'sending'), '4 s');
  assert.match(pendingWait(5, 'sending'), /^5 s · the server is slow/); // SLOW_SEND_S
  assert.equal(
    pendingWait(12, 'sending'),
    '12 s · the server is slow to take it in (busy); it is not lost while connected',
  );
  assert.equal(pendingWait(12, 'received'), '12 s'); // taken in: the other text says why
});
