// The composer's send rules and hints (web/js/views/composer.js): `node --test tests/web/`.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { composerMode } from '../../web/js/views/composer.js';

test('offline, the hint says why, so the user knows whether to wait or to click', () => {
  const away = composerMode('hello', { channel: 'general', connected: false });
  assert.deepEqual(away, {
    canSend: false,
    hint: 'Not connected: sending is paused until Huddle reconnects.',
  });
  const reason = 'Disconnected: Huddle was opened in too many other tabs. Click to reconnect.';
  const replaced = composerMode('hello', { channel: 'general', connected: false, reason });
  assert.equal(replaced.hint, `Not connected: ${reason}`);
  assert.equal(composerMode('hello', { channel: 'general', connected: true }).canSend, true);
});
