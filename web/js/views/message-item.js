// One entry of the message list as DOM: a chat message, a command with its embed, an agent's
// answer, a message to an agent, a notice.
import { agentMeta } from '../agents.js';
import { h } from '../dom.js';
import { avatarClass, formatClock, formatTime, initial } from '../format.js';
import { render as markdown } from '../markdown.js';
import { interactiveElements } from './interactive.js';

/**
 * What rendered items can do: `onCommand(command)` runs a button's command.
 * @typedef {{onCommand: (command: string) => void}} ItemContext
 */
const NO_CONTEXT = { onCommand: () => {} };

const GROUP_WINDOW_S = 7 * 60;
const HIDDEN = { 'aria-hidden': 'true' };

function avatar(name, extra = '') {
  return h('span', {
    class: `avatar ${avatarClass(name)} ${extra}`.trim(),
    text: initial(name),
    attrs: HIDDEN,
  });
}

function timestamp(ts, compact = false) {
  return h('time', {
    class: compact ? 'msg-gutter-time' : 'msg-time',
    text: compact ? formatClock(ts) : formatTime(ts),
    attrs: { datetime: new Date(ts * 1000).toISOString() },
    title: new Date(ts * 1000).toLocaleString(),
  });
}

/** Who wrote a message or agent answer (items of other kinds have no author to group by). */
function authorKey(item) {
  if (item.kind === 'message') return `user:${item.user.id}:${item.user.username}`;
  if (item.kind === 'agent') return `agent:${item.agentId}`;
  return null;
}

/** Does `item` continue `prev`'s group (same author, shortly after)? */
export function continuesGroup(prev, item) {
  if (!prev) return false;
  const author = authorKey(item);
  return Boolean(author && author === authorKey(prev) && item.ts - prev.ts < GROUP_WINDOW_S);
}

function agentAvatar(agentId, extra = '') {
  const meta = agentMeta(agentId);
  return h('span', {
    class: `avatar avatar-agent ${meta.tone} ${extra}`.trim(),
    text: meta.initials,
    attrs: HIDDEN,
  });
}

/** Keys of an agent's `result` said otherwise (the text, the reply note), not as fields. */
const RESULT_META = new Set(['message', 'in_reply_to', 'from']);

const isSimple = (value) =>
  value === null || ['string', 'number', 'boolean'].includes(typeof value);

/**
 * The `result` of an agent's answer: short values as fields, nested ones (lists of stories…)
 * folded away under "Details", since the message already says what they hold.
 */
function resultEmbed(result) {
  const entries = Object.entries(result || {}).filter(([key]) => !RESULT_META.has(key));
  if (!entries.length) return null;
  const simple = entries.filter(([, value]) => isSimple(value));
  const nested = entries.filter(([, value]) => !isSimple(value));
  return h(
    'div',
    { class: 'embed embed-agent', dataset: { testid: 'agent-result' } },
    simple.length
      ? h(
          'dl',
          { class: 'embed-fields' },
          ...simple.flatMap(([key, value]) => [
            h('dt', { class: 'embed-field-name', text: key.replace(/_/g, ' ') }),
            h('dd', { class: 'embed-field-value', text: String(value) }),
          ]),
        )
      : null,
    nested.length
      ? h(
          'details',
          { class: 'embed-details' },
          h('summary', {
            text: `Details: ${nested.map(([key]) => key.replace(/_/g, ' ')).join(', ')}`,
          }),
          h('pre', {
            class: 'embed-code',
            text: JSON.stringify(Object.fromEntries(nested), null, 2),
          }),
        )
      : null,
  );
}

function agentNode(item, prev, ctx) {
  const compact = continuesGroup(prev, item);
  return h(
    'article',
    {
      class: `msg msg-agent${compact ? ' msg-compact' : ''}`,
      dataset: {
        testid: 'agent-message',
        kind: 'agent',
        agent: item.agentId,
        seq: String(item.seq ?? ''),
      },
    },
    compact ? timestamp(item.ts, true) : agentAvatar(item.agentId),
    h(
      'div',
      { class: 'msg-body' },
      compact
        ? null
        : h(
            'div',
            { class: 'msg-meta' },
            h('span', { class: 'msg-author msg-author-agent', text: item.agentId }),
            h('span', { class: 'bot-tag bot-tag-agent', text: 'AGENT' }),
            timestamp(item.ts),
            typeof item.result?.from === 'string'
              ? h('span', { class: 'msg-reply-to', text: `replying to ${item.result.from}` })
              : null,
          ),
      h('div', { class: 'msg-text' }, ...markdown(item.text)),
      item.result ? resultEmbed(item.result) : null,
      interactiveElements(item.elements, ctx.onCommand),
    ),
  );
}

const MENTION_STATUS = {
  sending: 'Sending…',
  sent: 'Delivered: the answer will appear here.',
  lost: 'No confirmation: the connection dropped. It may not have been delivered.',
  unconfirmed: 'Not confirmed: it may still reach the agent. Send again only if no answer comes.',
};

/** The user's own message to an agent, with whether the server took it. */
function mentionNode(item) {
  const name = item.author;
  return h(
    'article',
    {
      class: 'msg msg-mention',
      dataset: {
        testid: 'agent-request',
        kind: 'mention',
        agent: item.agentId,
        status: item.status,
        id: item.id,
      },
    },
    avatar(name),
    h(
      'div',
      { class: 'msg-body' },
      h(
        'div',
        { class: 'msg-meta' },
        h('span', { class: 'msg-author', text: name }),
        timestamp(item.ts),
      ),
      h(
        'div',
        { class: 'msg-text' },
        h('span', { class: 'mention', text: `@${item.agentId}` }),
        ' ',
        item.text,
      ),
      h('div', {
        class: `mention-status mention-${item.status}`,
        text:
          item.status === 'failed'
            ? `Not delivered: ${item.error || 'the server refused it.'}`
            : MENTION_STATUS[item.status] || '',
      }),
    ),
  );
}

function messageNode(item, prev) {
  const compact = continuesGroup(prev, item);
  const name = item.user.username;
  return h(
    'article',
    {
      class: `msg${compact ? ' msg-compact' : ''}`,
      dataset: { testid: 'message', kind: 'message', seq: String(item.seq ?? '') },
    },
    compact ? timestamp(item.ts, true) : avatar(name),
    h(
      'div',
      { class: 'msg-body' },
      compact
        ? null
        : h(
            'div',
            { class: 'msg-meta' },
            h('span', { class: 'msg-author', text: name }),
            timestamp(item.ts),
          ),
      h('div', { class: 'msg-text' }, ...markdown(item.text)),
    ),
  );
}

function resultText(result) {
  const payload = result.result;
  if (payload && typeof payload.message === 'string') return payload.message;
  if (payload && Object.keys(payload).length) return JSON.stringify(payload, null, 2);
  return 'Done.';
}

/** A command result as an embed: green when ok, red when not; its buttons under it. */
export function embed(result, fallbackCommand, ctx = NO_CONTEXT) {
  const ok = Boolean(result.ok);
  const command = result.command && result.command !== 'unknown' ? result.command : fallbackCommand;
  return h(
    'div',
    {
      class: `embed ${ok ? 'embed-ok' : 'embed-error'}`,
      dataset: { testid: 'embed', ok: String(ok) },
    },
    h(
      'div',
      { class: 'embed-title' },
      h('span', { class: 'embed-icon', text: ok ? '✓' : '✕', attrs: HIDDEN }),
      h('span', { text: command }),
      h('span', { class: 'embed-outcome', text: ok ? 'done' : 'failed' }),
    ),
    ok
      ? h('div', { class: 'embed-body', text: resultText(result) })
      : h('div', {
          class: 'embed-body embed-error-text',
          text: result.error || 'The command failed.',
        }),
    !ok && result.hint
      ? h(
          'div',
          { class: 'embed-hint' },
          h('span', { class: 'embed-hint-label', text: 'Hint' }),
          result.hint,
        )
      : null,
    result.code || result.current_state
      ? h(
          'div',
          { class: 'embed-footer' },
          result.current_state ? `State · ${result.current_state}` : null,
          result.code && result.current_state ? '  ·  ' : null,
          result.code ? `Error · ${result.code}` : null,
        )
      : null,
    interactiveElements(result.interactive_elements, ctx.onCommand),
  );
}

function pendingText(item) {
  if (item.status === 'sending') return 'Sending…';
  if (item.queuedAhead) {
    const ahead = item.queuedAhead.toLocaleString('en-US');
    return (
      `Huddle is busy: ${ahead} commands were waiting before yours. ` +
      'It will run; no need to send it again.'
    );
  }
  return 'Huddle is working on it…';
}

function commandStatus(item, ctx) {
  switch (item.status) {
    case 'sending':
    case 'received':
      return h(
        'div',
        { class: 'msg-pending', dataset: { testid: 'command-pending' } },
        h('span', { class: 'typing-dots', attrs: HIDDEN }, h('i'), h('i'), h('i')),
        pendingText(item),
        // How long it has waited: filled in every second by the message list (messages.js).
        h('span', {
          class: 'msg-pending-wait',
          dataset: { since: String(item.ts), status: item.status },
        }),
      );
    case 'unconfirmed':
      return h(
        'div',
        { class: 'msg-pending', dataset: { testid: 'command-unconfirmed' } },
        `Not confirmed: ${item.error}. Its answer will show here if it runs; send it again ` +
          'only if none comes.',
      );
    case 'lost':
      return h('div', {
        class: 'msg-lost',
        text: 'No answer: the connection dropped before the result arrived. Try /state to check.',
      });
    default:
      return item.result ? embed(item.result, item.text.split(/\s+/)[0], ctx) : null;
  }
}

function commandNode(item, ctx) {
  return h(
    'article',
    {
      class: 'msg msg-command',
      dataset: { testid: 'command', kind: 'command', status: item.status, id: item.id },
    },
    h(
      'div',
      { class: 'msg-context' },
      h('span', { class: 'context-spine', attrs: HIDDEN }),
      avatar(item.author, 'avatar-tiny'),
      h('span', { class: 'context-author', text: item.author }),
      ' used ',
      h('code', { class: 'context-command', text: item.text }),
    ),
    h('span', { class: 'avatar avatar-bot', text: 'H', attrs: HIDDEN }),
    h(
      'div',
      { class: 'msg-body' },
      h(
        'div',
        { class: 'msg-meta' },
        h('span', { class: 'msg-author', text: 'Huddle' }),
        h('span', { class: 'bot-tag', text: 'APP' }),
        timestamp(item.ts),
      ),
      commandStatus(item, ctx),
    ),
  );
}

const SYSTEM_ICONS = { state: '⇄', error: '!', info: 'i' };

function systemNode(item) {
  return h(
    'div',
    { class: `system-line system-${item.tone}`, dataset: { testid: 'system', tone: item.tone } },
    h('span', { class: 'system-icon', text: SYSTEM_ICONS[item.tone] || 'i', attrs: HIDDEN }),
    h('span', { class: 'system-text', text: item.text }),
    timestamp(item.ts),
  );
}

/**
 * The node for one feed item; `prev` is the item above it (for grouping).
 * @param {ItemContext} [ctx]
 */
export function renderItem(item, prev, ctx = NO_CONTEXT) {
  switch (item.kind) {
    case 'message':
      return messageNode(item, prev);
    case 'agent':
      return agentNode(item, prev, ctx);
    case 'mention':
      return mentionNode(item);
    case 'command':
      return commandNode(item, ctx);
    default:
      return systemNode(item);
  }
}
