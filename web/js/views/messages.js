// The message list of the current feed: appends new items, updates changed ones, keeps scroll.
import { byId, h } from '../dom.js';
import { HOME } from '../feed.js';
import { currentFeedKey, currentProject, watch } from '../store.js';
import { renderItem } from './message-item.js';

const STICK_PX = 120;
/** Windowed rendering: at most about this many items are in the DOM at once per page. */
export const PAGE = 150;
/** Scrolled this close to the top, older items are shown (or fetched). */
const TOP_PX = 80;

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

/**
 * @param {{store: any, onCommand: (command: string) => void}} deps `onCommand`: a button or
 *   select of a message or embed was chosen
 */
export function mountMessages({ store, onCommand, onNeedOlder = () => {} }) {
  const list = byId('message-list');
  const ctx = { onCommand };
  let renderedKey = null;
  let welcomeNode = null;
  let welcomeName = null;
  /** @type {{item: any, node: Element}[]} */
  let rendered = [];
  let startId = null; // the first item in the DOM: the window starts there
  let allItems = [];

  /** Where the window starts in `items` (by the id of its first item, stable under prepends). */
  function windowStart(items, switched, nearBottom) {
    let start = switched || startId === null ? -1 : items.findIndex((item) => item.id === startId);
    if (start < 0) start = Math.max(0, items.length - PAGE);
    // At the bottom with a long window: let the oldest go (the list stays small).
    if (nearBottom && items.length - start > 2 * PAGE) start = items.length - PAGE;
    startId = items[start]?.id ?? null;
    return start;
  }

  function render(key, allFeed, projectName, channel) {
    const switched = key !== renderedKey;
    const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < STICK_PX;
    allItems = allFeed;
    const start = windowStart(allFeed, switched, nearBottom);
    const items = allFeed.slice(start);
    list.dataset.windowStart = String(start);
    list.dataset.total = String(allFeed.length);
    // Items put in above what is shown (older ones): keep what the user sees where it is.
    const fromBottom = list.scrollHeight - list.scrollTop;
    const firstBefore = rendered[0]?.item.id;
    if (switched) {
      welcomeNode = welcome(key, projectName, channel);
      welcomeName = projectName;
      list.replaceChildren(welcomeNode);
      rendered = [];
      renderedKey = key;
    } else if (projectName !== welcomeName) {
      const updated = welcome(key, projectName, channel);
      welcomeNode.replaceWith(updated);
      welcomeNode = updated;
      welcomeName = projectName;
    }
    let sentByMe = false;
    let index = 0;
    for (; index < Math.min(items.length, rendered.length); index += 1) {
      const entry = rendered[index];
      const item = items[index];
      if (entry.item === item) continue;
      if (entry.item.id !== item.id) break; // the feed was rewritten from here on
      const node = renderItem(item, index ? items[index - 1] : allFeed[start - 1], ctx);
      entry.node.replaceWith(node);
      rendered[index] = { item, node };
    }
    for (const stale of rendered.splice(index)) stale.node.remove();
    for (; index < items.length; index += 1) {
      const node = renderItem(items[index], index ? items[index - 1] : allFeed[start - 1], ctx);
      sentByMe ||= items[index].kind === 'command' || items[index].kind === 'mention';
      list.append(node);
      rendered.push({ item: items[index], node });
    }
    const prepended = !switched && firstBefore && items[0]?.id !== firstBefore;
    if (switched || (nearBottom && !prepended) || sentByMe) list.scrollTop = list.scrollHeight;
    else if (prepended) list.scrollTop = list.scrollHeight - fromBottom;
  }

  /** Scrolled to the top: show more of what is held, else ask the server for older pages. */
  list.addEventListener(
    'scroll',
    () => {
      if (list.scrollTop > TOP_PX || !renderedKey) return;
      const start = startId ? allItems.findIndex((item) => item.id === startId) : 0;
      if (start > 0) {
        const earlier = Math.max(0, start - PAGE);
        startId = allItems[earlier].id;
        render(renderedKey, allItems, welcomeName, store.getState().current.channel);
      } else {
        onNeedOlder(renderedKey);
      }
    },
    { passive: true },
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
      ];
    },
    render,
  );
}
