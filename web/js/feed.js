// Feeds: what the message list shows for one channel (or "home" when none is selected).
// Pure functions over immutable data, used by the reducer.

export const HOME = 'home';

/** The feed of a channel, or HOME. */
export function feedKey(projectId, channel) {
  return projectId && channel ? `${projectId}/${channel}` : HOME;
}

export function emptyFeed() {
  return { items: [], positions: {} };
}

let localCounter = 0;

/** An id for items made by the client (system lines). */
export function localId(prefix = 'local') {
  localCounter += 1;
  return `${prefix}-${localCounter}`;
}

/**
 * Where a frame sits in its topic's history stream, or null for frames that are not part of
 * one (direct answers, typing, presence).
 * @returns {{topic: string, seq: number, epoch: string}|null}
 */
export function positionOf(frame) {
  if (!frame || typeof frame.topic !== 'string' || typeof frame.seq !== 'number') return null;
  return { topic: frame.topic, seq: frame.seq, epoch: String(frame.epoch ?? '') };
}

/**
 * Is an event at (topic, seq, epoch) new, given what was seen? Events without a position
 * (direct answers) are always new. A changed epoch means the history restarted.
 */
export function isNewEvent(positions, topic, seq, epoch) {
  if (!topic || typeof seq !== 'number') return true;
  const seen = positions[topic];
  return !seen || seen.epoch !== epoch || seq > seen.seq;
}

/** Positions after seeing (topic, seq, epoch). */
export function advance(positions, topic, seq, epoch) {
  if (!topic || typeof seq !== 'number') return positions;
  const seen = positions[topic];
  if (seen && seen.epoch === epoch && seen.seq >= seq) return positions;
  return { ...positions, [topic]: { seq, epoch } };
}

/** Items that come from a channel's history stream (dropped when its epoch changes). */
const STREAM_KINDS = new Set(['message', 'agent']);

/** A feed item from a history-stream frame (`message`, `agent_response`; else a system line). */
export function itemFromFrame(frame) {
  const data = frame.data || {};
  if (frame.event === 'agent_response') {
    return {
      kind: 'agent',
      id: data.id || localId('agent'),
      seq: frame.seq ?? null,
      epoch: frame.epoch ?? null,
      agentId: String(data.agent_id || 'Agent'),
      text: String(data.message ?? ''),
      result: data.result && typeof data.result === 'object' ? data.result : null,
      elements: Array.isArray(data.interactive_elements) ? data.interactive_elements : [],
      ts: data.ts ?? Date.now() / 1000,
    };
  }
  if (frame.event === 'message') {
    return {
      kind: 'message',
      id: data.id || localId('msg'),
      seq: frame.seq ?? null,
      epoch: frame.epoch ?? null,
      user: data.user || { id: '', username: 'unknown' },
      text: String(data.text ?? ''),
      ts: data.ts ?? Date.now() / 1000,
    };
  }
  return systemItem(`${frame.event}`, 'info', frame.seq ?? null);
}

/** A one-line notice from the client or the server. */
export function systemItem(text, tone = 'info', seq = null) {
  return { kind: 'system', id: localId('sys'), seq, text, tone, ts: Date.now() / 1000 };
}

/** Append items to a feed (created if missing). */
export function appendTo(feeds, key, ...items) {
  const feed = feeds[key] || emptyFeed();
  return { ...feeds, [key]: { ...feed, items: [...feed.items, ...items] } };
}

/** Replace the item with `id` in whichever feed holds it. */
export function updateItem(feeds, key, id, change) {
  const feed = feeds[key];
  if (!feed) return feeds;
  const index = feed.items.findIndex((item) => item.id === id);
  if (index < 0) return feeds;
  const items = feed.items.slice();
  items[index] = { ...items[index], ...change(items[index]) };
  return { ...feeds, [key]: { ...feed, items } };
}

/**
 * Add a channel stream event (live or from history) to its feed, skipping what was seen.
 * A changed epoch drops the messages of the old history (their seqs mean nothing now).
 */
export function addStreamEvent(feeds, key, frame) {
  const feed = feeds[key] || emptyFeed();
  const { topic, seq, epoch } = frame;
  if (!isNewEvent(feed.positions, topic, seq, epoch)) return feeds;
  const seen = topic ? feed.positions[topic] : null;
  const items =
    seen && seen.epoch !== epoch
      ? feed.items.filter((item) => !STREAM_KINDS.has(item.kind) || item.epoch === epoch)
      : feed.items;
  return {
    ...feeds,
    [key]: {
      items: [...items, itemFromFrame(frame)],
      positions: advance(feed.positions, topic, seq, epoch),
    },
  };
}

/**
 * Rebuild a channel's feed from a fresh `joined_channel.history` (after events were missed and
 * could not be replayed): its stream items are replaced, the client's own items (commands,
 * messages to agents, notices) stay, and everything is ordered by time.
 */
export function rebuildFeed(feeds, key, frames) {
  const old = feeds[key] || emptyFeed();
  let rebuilt = { ...feeds, [key]: emptyFeed() };
  for (const frame of frames) rebuilt = addStreamEvent(rebuilt, key, frame);
  const fresh = rebuilt[key];
  const own = old.items.filter((item) => !STREAM_KINDS.has(item.kind));
  // Stable: items with the same time keep their order (history first, then the client's own).
  const items = [...fresh.items, ...own].sort((a, b) => a.ts - b.ts);
  return { ...feeds, [key]: { items, positions: fresh.positions } };
}

/** Move the item with `id` from whichever feed holds it to the end of feed `key`. */
export function moveItem(feeds, id, key) {
  for (const [from, feed] of Object.entries(feeds)) {
    const item = feed.items.find((candidate) => candidate.id === id);
    if (!item) continue;
    if (from === key) return feeds;
    const without = { ...feeds, [from]: { ...feed, items: feed.items.filter((i) => i !== item) } };
    return appendTo(without, key, item);
  }
  return feeds;
}

/**
 * The part of a feed the message list shows: items `start..end` (inclusive), at most `size`.
 * `win` is where it stood, by item ids (stable when older items are put in front); `endId`
 * null means it follows the newest item. `move`: 'none' keeps it, 'up' shows `step` older
 * items and lets the newest go past `size`, 'down' the reverse, 'tail' shows the newest
 * `step`, 'freeze' stops following so that the window stays at most `size`.
 * @returns {{start: number, end: number, startId: string|null, endId: string|null}}
 */
export function moveWindow(items, win, move, { size, step }) {
  const last = items.length - 1;
  if (last < 0) return { start: 0, end: -1, startId: null, endId: null };
  const indexOf = (id) => (id === null ? -1 : items.findIndex((item) => item.id === id));
  let end = win.endId === null ? last : indexOf(win.endId);
  let start = indexOf(win.startId);
  if (end < 0) end = last;
  if (move === 'tail' || start < 0 || start > end) {
    end = last;
    start = Math.max(0, last - step + 1);
  } else if (move === 'up') {
    start = Math.max(0, start - step);
    end = Math.min(end, start + size - 1);
  } else if (move === 'down') {
    end = Math.min(last, end + step);
    start = Math.max(start, end - size + 1);
  } else if (move === 'freeze') {
    end = Math.min(end, start + size - 1);
  }
  return { start, end, startId: items[start].id, endId: end === last ? null : items[end].id };
}
