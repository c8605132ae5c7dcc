// The line between the messages and the input: who else is typing in this channel, and a
// small notice when the server asks the client to slow down.
import { byId } from '../dom.js';
import { TYPING_TTL_MS, currentFeedKey, watch } from '../store.js';

/** How long the "slow down" notice stays after the last `rate_limited` (ms). */
export const RATE_NOTICE_MS = 5000;

/** "A is typing…", "A and B are typing…", "A, B and C are typing…", "Several people…". */
export function typingText(names) {
  if (!names.length) return '';
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  if (names.length === 3) return `${names[0]}, ${names[1]} and ${names[2]} are typing…`;
  return 'Several people are typing…';
}

/**
 * Who of `entries` (user id -> {username, at}) is typing at `now`, other than `ownId`: their
 * names, first to start first, and when the first of them stops showing (ms, or null).
 */
export function activeTypers(entries, ownId, now = Date.now()) {
  const active = Object.entries(entries || {})
    .filter(([id, entry]) => id !== ownId && now - entry.at < TYPING_TTL_MS)
    .sort(([, a], [, b]) => a.at - b.at);
  const names = [...new Set(active.map(([, entry]) => entry.username))];
  const expires = active.length
    ? Math.min(...active.map(([, entry]) => entry.at + TYPING_TTL_MS))
    : null;
  return { names, expires };
}

export function mountActivity({ store }) {
  const indicator = byId('typing-indicator');
  const text = byId('typing-text');
  const notice = byId('rate-notice');
  let typingTimer = null;
  let noticeTimer = null;

  const renderTyping = (entries, ownId) => {
    clearTimeout(typingTimer);
    const now = Date.now();
    const { names, expires } = activeTypers(entries, ownId, now);
    const label = typingText(names);
    if (text.textContent !== label) text.textContent = label;
    indicator.dataset.active = String(names.length > 0);
    // Nothing in the store changes when a typist goes quiet: look again when the first expires.
    if (expires !== null) {
      typingTimer = setTimeout(() => renderTyping(entries, ownId), expires - now + 20);
    }
  };
  watch(store, (state) => [state.typing[currentFeedKey(state)], state.user?.id], renderTyping);

  watch(
    store,
    (state) => [state.rateLimitedAt],
    (at) => {
      clearTimeout(noticeTimer);
      const left = at + RATE_NOTICE_MS - Date.now();
      notice.hidden = !at || left <= 0;
      if (!notice.hidden) noticeTimer = setTimeout(() => (notice.hidden = true), left);
    },
  );
}
