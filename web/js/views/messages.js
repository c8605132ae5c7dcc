// The message list of the current feed: appends new items, updates changed ones, keeps scroll.
import { byId, h } from '../dom.js';
import { HOME } from '../feed.js';
import { currentFeedKey, currentProject, watch } from '../store.js';
import { renderItem } from './message-item.js';

const STICK_PX = 120;

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
export function mountMessages({ store, onCommand }) {
  const list = byId('message-list');
  const ctx = { onCommand };
  let renderedKey = null;
  let welcomeNode = null;
  let welcomeName = null;
  /** @type {{item: any, node: Element}[]} */
  let rendered = [];

  function render(key, items, projectName, channel) {
    const switched = key !== renderedKey;
    const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < STICK_PX;
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
      const node = renderItem(item, items[index - 1], ctx);
      entry.node.replaceWith(node);
      rendered[index] = { item, node };
    }
    for (const stale of rendered.splice(index)) stale.node.remove();
    for (; index < items.length; index += 1) {
      const node = renderItem(items[index], items[index - 1], ctx);
      sentByMe ||= items[index].kind === 'command' || items[index].kind === 'mention';
      list.append(node);
      rendered.push({ item: items[index], node });
    }
    if (switched || nearBottom || sentByMe) list.scrollTop = list.scrollHeight;
  }

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
