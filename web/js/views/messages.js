// The message list of the current feed, windowed: at most WINDOW items are in the DOM. It
// appends new items, updates changed ones, and keeps what the user sees in place.
import { byId, h } from '../dom.js';
import { HOME, moveWindow } from '../feed.js';
import { pendingWait } from '../format.js';
import { oldestSeq } from '../history.js';
import { currentFeedKey, currentProject, watch } from '../store.js';
import { markRunnable } from './interactive.js';
import { renderItem } from './message-item.js';

const STICK_PX = 120;
/** Items shown or let go per step of the window (and shown when a channel opens). */
export const PAGE = 150;
/** At most this many items are in the DOM; older or newer ones come back on scrolling. */
export const WINDOW = 2 * PAGE;
const SIZES = { size: WINDOW, step: PAGE };
/** Scrolled this close to an end, the window moves (or older items are fetched). */
const EDGE_PX = 80;

function welcome(key, projectName, channel) {
  if (key === HOME) {
    return h(
      'header',
      { class: 'feed-welcome' },
      h('div', { class: 'welcome-mark', text: 'H', attrs: { 'aria-hidden': 'true' } }),
      h('h3', { class: 'welcome-title', text: 'Welcome to Huddle' }),
      h(
        'p',
        { class: 'welcome-text' },
        'Type ',
        h('code', { text: '/help' }),
        ' to see every command, ',
        h('code', { text: '/project register <name>' }),
        ' to start a project, or pick a channel on the left.',
      ),
    );
  }
  return h(
    'header',
    { class: 'feed-welcome' },
    h('div', { class: 'welcome-mark welcome-hash', text: '#', attrs: { 'aria-hidden': 'true' } }),
    h('h3', { class: 'welcome-title', text: `Welcome to #${channel}!` }),
    h(
      'p',
      { class: 'welcome-text' },
      `This is the start of #${channel} in ${projectName}. Chat here, ask an agent with `,
      h('code', { text: '@CodeAgent …' }),
      ', or drive the workflow with ',
      h('code', { text: '/epic "<description>"' }),
      ' and ',
      h('code', { text: '/state' }),
      '.',
    ),
  );
}

/** Is the first item held the first of the channel (nothing older on the server)? */
function atBeginning(key, items, history) {
  if (key === HOME || history?.done) return true;
  const oldest = oldestSeq({ items });
  return oldest === null || oldest <= 1;
}

function olderLine(history) {
  let text = 'Scroll up for older messages';
  if (history?.loading) text = 'Loading older messages…';
  else if (history?.error) text = `Older messages could not be loaded: ${history.error}`;
  return h('div', { class: 'feed-welcome feed-older', text, attrs: { 'data-testid': 'feed-older' } });
}

/**
 * Where the first item seen ends, relative to the list's top (to keep it there). Its bottom, as
 * its top moves when it joins the group of an older item put above it.
 */
function anchorOf(list, rendered) {
  const top = list.getBoundingClientRect().top;
  for (const [id, entry] of rendered) {
    const box = entry.node.getBoundingClientRect();
    if (box.bottom > top) return { id, offset: box.bottom - top };
  }
  return null;
}

/**
 * @param {{store: any, onCommand: (command: string) => void,
 *   onNeedOlder?: (key: string) => void}} deps `onCommand`: a button or select of a message or
 *   embed was chosen; `onNeedOlder`: the top of what is held was reached
 */
export function mountMessages({ store, onCommand, onNeedOlder = () => {} }) {
  const list = byId('message-list');
  const ctx = { onCommand };
  /** What is rendered: the feed's key, items and window, and the node per item id. */
  let view = { key: null, items: [], projectName: null, channel: null, history: null };
  let win = { start: 0, end: -1, startId: null, endId: null };
  /** @type {Map<string, {item: any, prev: any, node: Element}>} */
  let rendered = new Map();
  let head = null;
  let headSignature = null;
  // Whether the list was at its newest item when last seen. Measured while it shows; kept
  // while it is hidden (behind the dashboard), where it measures 0 and cannot scroll.
  let atBottom = true;
  const showing = () => list.clientHeight > 0;
  const nearBottom = () => list.scrollHeight - list.scrollTop - list.clientHeight < STICK_PX;

  function renderHead() {
    const { key, items, projectName, channel, history } = view;
    const beginning = win.start === 0 && atBeginning(key, items, history);
    const signature = beginning
      ? `welcome ${key} ${projectName}`
      : `older ${history?.loading} ${history?.error}`;
    if (signature === headSignature) return;
    const node = beginning ? welcome(key, projectName, channel) : olderLine(history);
    if (head) head.replaceWith(node);
    else list.prepend(node);
    head = node;
    headSignature = signature;
  }

  /** Put the window's items in the DOM, reusing the nodes of unchanged items. */
  function reconcile() {
    const next = new Map();
    const nodes = [];
    let prev = view.items[win.start - 1];
    for (let index = win.start; index <= win.end; index += 1) {
      const item = view.items[index];
      const old = rendered.get(item.id);
      const reuse = old && old.item === item && old.prev === prev;
      const node = reuse ? old.node : renderItem(item, prev, ctx);
      next.set(item.id, { item, prev, node });
      nodes.push(node);
      prev = item;
    }
    for (const [id, entry] of rendered) {
      if (next.get(id)?.node !== entry.node) entry.node.remove();
    }
    let cursor = head.nextSibling;
    for (const node of nodes) {
      if (cursor === node) cursor = cursor.nextSibling;
      else list.insertBefore(node, cursor);
    }
    rendered = next;
    list.dataset.windowStart = String(win.start);
    list.dataset.windowEnd = String(win.end);
    list.dataset.total = String(view.items.length);
  }

  /** Move the window and render it; `stick`: scroll to the newest, else keep what is seen. */
  function show(move, stick = false) {
    const anchor = stick ? null : anchorOf(list, rendered);
    win = moveWindow(view.items, win, move, SIZES);
    renderHead();
    reconcile();
    markButtons();
    // By id: the item's node may be new (its grouping changes when older items come above it).
    const node = anchor && rendered.get(anchor.id)?.node;
    if (stick) list.scrollTop = list.scrollHeight;
    else if (node) {
      const top = list.getBoundingClientRect().top;
      list.scrollTop += node.getBoundingClientRect().bottom - top - anchor.offset;
    }
    if (showing()) atBottom = nearBottom();
  }

  /** The shown answers' buttons, usable or not in the project's workflow state. */
  function markButtons() {
    const state = store.getState();
    const projectId = state.current.projectId;
    markRunnable(list, state.catalog, projectId ? state.workflow[projectId] : null);
  }

  function render(key, items, projectName, channel, history) {
    const before = view;
    view = { key, items, projectName, channel, history };
    if (key !== before.key) {
      head?.remove();
      head = null;
      headSignature = null;
      for (const entry of rendered.values()) entry.node.remove();
      rendered = new Map();
      win = { start: 0, end: -1, startId: null, endId: null };
      show('tail', true);
      return;
    }
    const following = win.endId === null;
    const atNewest = following && (showing() ? nearBottom() : atBottom);
    const newest = items.at(-1);
    const fresh = newest && newest.id !== before.items.at(-1)?.id ? newest : null;
    const sentByMe = fresh?.kind === 'command' || fresh?.kind === 'mention';
    // Older items put in front of a window that showed the first one: show them (scroll-up).
    const olderArrived =
      win.start === 0 && items[0]?.id !== before.items[0]?.id && win.startId !== null;
    if (sentByMe) show('tail', true);
    else if (olderArrived) show('up');
    else if (atNewest) show(items.length > WINDOW ? 'tail' : 'none', true);
    else if (following && win.end - win.start >= WINDOW + PAGE) show('freeze');
    else show('none');
  }

  // A pending command says how long it has waited, so a slow answer is not a silent one.
  setInterval(() => {
    const now = Date.now() / 1000;
    for (const node of list.querySelectorAll('.msg-pending-wait')) {
      node.textContent = pendingWait(now - Number(node.dataset.since), node.dataset.status);
    }
  }, 1000);

  // Shown again (back from the dashboard): at the newest item if it was there when hidden.
  new ResizeObserver(() => {
    if (showing() && atBottom && win.endId === null) list.scrollTop = list.scrollHeight;
  }).observe(list);

  list.addEventListener(
    'scroll',
    () => {
      if (!view.key) return;
      if (showing()) atBottom = nearBottom();
      if (list.scrollTop <= EDGE_PX) {
        if (win.start > 0) show('up');
        else if (!atBeginning(view.key, view.items, view.history)) onNeedOlder(view.key);
      } else if (
        win.endId !== null &&
        list.scrollHeight - list.scrollTop - list.clientHeight <= EDGE_PX
      ) {
        show('down');
      }
    },
    { passive: true },
  );

  watch(
    store,
    (state) => [state.catalog, state.current.projectId && state.workflow[state.current.projectId]],
    markButtons,
  );

  watch(
    store,
    (state) => {
      const key = currentFeedKey(state);
      return [
        key,
        state.feeds[key]?.items ?? [],
        currentProject(state)?.name ?? state.current.projectId,
        state.current.channel,
        state.history[key],
      ];
    },
    render,
  );
}
