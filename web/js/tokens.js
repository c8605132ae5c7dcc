// The session's tokens, kept in sessionStorage (per tab, gone when the tab closes).
import * as storage from './storage.js';

const KEY = 'huddle.tokens';

/**
 * Store a token pair as the auth service returned it.
 * @param {{access_token: string, refresh_token: string, expires_in: number}} pair
 * @param {string} [username] who logged in, shown until the socket says who we are
 */
export function save(pair, username) {
  const now = Date.now();
  const previous = load();
  storage.write(KEY, {
    access_token: pair.access_token,
    refresh_token: pair.refresh_token,
    issued_at: now,
    expires_at: now + pair.expires_in * 1000,
    username: username ?? previous?.username ?? null,
  });
}

/** @returns {{access_token: string, refresh_token: string, issued_at: number,
 *            expires_at: number, username: string|null} | null} */
export function load() {
  const tokens = storage.read(KEY);
  return tokens && tokens.access_token && tokens.refresh_token ? tokens : null;
}

export function clear() {
  storage.remove(KEY);
}

/** How long before expiry to refresh: a fifth of the lifetime, at most a minute. */
export function refreshMarginMs(tokens) {
  return Math.min(60_000, (tokens.expires_at - tokens.issued_at) / 5);
}
