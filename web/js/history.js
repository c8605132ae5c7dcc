// Channel history beyond what `join_channel` brings: older pages from the history API on
// scroll-up, and the recent messages of each channel cached in localStorage (bounded) so that a
// reload without network still shows them.
import * as api from './api.js';
import { HOME, feedKey } from './feed.js';

export const PAGE_SIZE = 50;
/** Per channel, this many recent messages are cached; at most CACHE_CHANNELS channels. */
export const CACHE_ITEMS = 50;
export const CACHE_CHANNELS = 10;
const CACHE_INDEX = 'huddle.cache.index';
const cacheKey = (key) => `huddle.cache.${key}`;

const STREAM = new Set(['message', 'agent']);

/** The oldest history seq a feed holds (what `before=` asks below), or null. */
export function oldestSeq(feed) {
  for (const item of feed?.items || []) {
    if (STREAM.has(item.kind) && typeof item.seq === 'number' && !item.cached) return item.seq;
  }
  return null;
}

function readJson(key) {
  try {
    return JSON.parse(window.localStorage.getItem(key) || 'null');
  } catch {
    return null;
  }
}

function writeJson(key, value) {
  try {
    if (value === null) window.localStorage.removeItem(key);
    else window.localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // Quota or private mode: nothing cached.
  }
}

/** Keep a channel's recent stream items; the least recently written channels go first. */
export function cacheFeed(key, items) {
  const recent = items.filter((item) => STREAM.has(item.kind)).slice(-CACHE_ITEMS);
  if (!recent.length) return;
  writeJson(cacheKey(key), recent.map((item) => ({ ...item, cached: true })));
  const index = (readJson(CACHE_INDEX) || []).filter((k) => k !== key);
  index.push(key);
  while (index.length > CACHE_CHANNELS) writeJson(cacheKey(index.shift()), null);
  writeJson(CACHE_INDEX, index);
}

export function cachedFeed(key) {
  const items = readJson(cacheKey(key));
  return Array.isArray(items) ? items : [];
}

/** Forget every cached channel (logout). */
export function clearCache() {
  for (const key of readJson(CACHE_INDEX) || []) writeJson(cacheKey(key), null);
  writeJson(CACHE_INDEX, null);
}

export function createHistory({ store }) {
  async function loadOlder(key) {
    const state = store.getState();
    if (key === HOME || state.connection.status !== 'connected') return;
    const entry = state.history[key];
    if (entry?.loading || entry?.done) return;
    const before = entry?.before ?? oldestSeq(state.feeds[key]);
    if (before === null || before <= 1) {
      store.dispatch({ type: 'HISTORY_LOADED', key, items: [], nextBefore: null });
      return;
    }
    const [projectId, channel] = key.split('/');
    store.dispatch({ type: 'HISTORY_REQUESTED', key });
    try {
      const page = await api.apiGet(
        'sync',
        `/api/messages/${encodeURIComponent(projectId)}/${encodeURIComponent(channel)}` +
          `?before=${before}&limit=${PAGE_SIZE}`,
      );
      const items = (page.items || []).map((frame) => ({
        ...frame,
        topic: frame.topic ?? page.topic,
        epoch: frame.epoch ?? page.epoch,
      }));
      store.dispatch({ type: 'HISTORY_LOADED', key, items, nextBefore: page.next_before ?? null });
    } catch (error) {
      store.dispatch({ type: 'HISTORY_FAILED', key, error: error.message || String(error) });
    }
  }

  function mount() {
    let lastKey = null;
    let lastItems = null;
    let timer = null;
    store.subscribe((state) => {
      const key = feedKey(state.current.projectId, state.current.channel);
      if (key !== lastKey) {
        lastKey = key;
        // A channel opened with nothing to show yet: what was cached, until the server answers.
        if (key !== HOME && !(state.feeds[key]?.items || []).length) {
          const cached = cachedFeed(key);
          if (cached.length) store.dispatch({ type: 'CACHE_RESTORED', key, items: cached });
        }
      }
      const items = state.feeds[key]?.items;
      if (key === HOME || !items || items === lastItems) return;
      lastItems = items;
      clearTimeout(timer);
      timer = setTimeout(() => cacheFeed(key, items.filter((item) => !item.cached)), 500);
    });
  }

  return { loadOlder, mount };
}
