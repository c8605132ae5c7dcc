// One entry of the message list as DOM: a chat message, a command with its embed, a notice.
import { h } from '../dom.js';
import { avatarClass, formatClock, formatTime, initial } from '../format.js';

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

/** Does `item` continue `prev`'s group (same author, shortly after)? */
export function continuesGroup(prev, item) {
  return Boolean(
    prev &&
      prev.kind === 'message' &&
      item.kind === 'message' &&
      prev.user.id === item.user.id &&
      prev.user.username === item.user.username &&
      item.ts - prev.ts < GROUP_WINDOW_S,
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
      h('div', { class: 'msg-text', text: item.text }),
    ),
  );
}

function resultText(result) {
  const payload = result.result;
  if (payload && typeof payload.message === 'string') return payload.message;
  if (payload && Object.keys(payload).length) return JSON.stringify(payload, null, 2);
  return 'Done.';
}

/** A command result as an embed: green when ok, red when not. */
export function embed(result, fallbackCommand) {
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
  );
}

function commandStatus(item) {
  switch (item.status) {
    case 'sending':
    case 'received':
      return h(
        'div',
        { class: 'msg-pending', dataset: { testid: 'command-pending' } },
        h('span', { class: 'typing-dots', attrs: HIDDEN }, h('i'), h('i'), h('i')),
        item.status === 'sending' ? 'Sending…' : 'Huddle is working on it…',
      );
    case 'lost':
      return h('div', {
        class: 'msg-lost',
        text: 'No answer: the connection dropped before the result arrived. Try /state to check.',
      });
    default:
      return item.result ? embed(item.result, item.text.split(/\s+/)[0]) : null;
  }
}

function commandNode(item) {
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
      commandStatus(item),
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

/** The node for one feed item; `prev` is the item above it (for grouping). */
export function renderItem(item, prev) {
  switch (item.kind) {
    case 'message':
      return messageNode(item, prev);
    case 'command':
      return commandNode(item);
    default:
      return systemNode(item);
  }
}
