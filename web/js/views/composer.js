// The input line: `/commands` anywhere, chat and `@Agent` messages in a channel, Up/Down
// recall what was sent, Enter sends and Shift+Enter starts a new line.
import { parseMention } from '../agents.js';
import { byId, replaceChildren } from '../dom.js';
import { watch } from '../store.js';
import { commandRow } from './modals.js';

const HISTORY_MAX = 50;

/** How the composer treats `text`: a command, a message to an agent, or chat. */
export function inputKind(text) {
  if (text.trimStart().startsWith('/')) return 'command';
  return parseMention(text) ? 'agent' : 'chat';
}

/** What the composer can do with `text` right now, and the hint to show. */
export function composerMode(text, { channel, connected, reason = null }) {
  const isCommand = text.trimStart().startsWith('/');
  if (!connected) {
    // The socket's reason says whether it comes back by itself ("Waiting to come back
    // online") or needs a click (opened in too many other tabs).
    const why = reason ?? 'sending is paused until Huddle reconnects.';
    return { canSend: false, hint: `Not connected: ${why}` };
  }
  if (isCommand) return { canSend: text.trim().length > 1, hint: 'Enter runs the command.' };
  const mention = parseMention(text);
  if (mention) {
    if (!channel) return { canSend: false, hint: 'Select a channel to talk to the agents.' };
    return mention.message
      ? { canSend: true, hint: `Enter sends this to ${mention.agentId}; the answer appears here.` }
      : { canSend: false, hint: `Write your message to ${mention.agentId}.` };
  }
  if (!channel) {
    return {
      canSend: false,
      hint: 'Select a channel to chat. Commands starting with / work anywhere: try /help.',
    };
  }
  return { canSend: text.trim().length > 0, hint: '' };
}

/**
 * @param {{store: any, onSubmit: (text: string) => boolean, onTyping?: () => void}} deps
 *   `onTyping`: the user typed something other than a /command (throttled by the caller)
 * @returns {{prefill: (text: string) => void, focus: () => void}}
 */
export function mountComposer({ store, onSubmit, onTyping = () => {}, suggestions = () => [] }) {
  const form = byId('composer');
  const menu = byId('autocomplete');
  let shown = [];
  let selected = 0;

  /** The command list under what is typed: `/` and a command's start show the matches. */
  const showSuggestions = () => {
    const text = input.value;
    shown = text.trimStart().startsWith('/') && !text.includes('\n') ? suggestions(text) : [];
    // Once the whole command and its arguments are typed, one row says what it takes.
    selected = Math.min(selected, Math.max(0, shown.length - 1));
    menu.hidden = shown.length === 0;
    replaceChildren(
      menu,
      ...shown.map((entry, i) =>
        commandRow(entry, { selected: i === selected, cls: 'autocomplete-item', onPick: complete }),
      ),
    );
  };

  const hideSuggestions = () => {
    shown = [];
    menu.hidden = true;
    replaceChildren(menu);
  };

  /** Put the chosen command in the box, ready for its arguments. */
  function complete(entry) {
    const takesArgs = (entry.usage || entry.command) !== entry.command;
    input.value = takesArgs ? `${entry.command} ` : entry.command;
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
    selected = 0;
    update();
    showSuggestions();
  }
  const input = byId('message-input');
  const send = byId('send-button');
  const hint = byId('composer-hint');
  const history = [];
  let cursor = -1;
  let draft = '';

  const context = () => {
    const state = store.getState();
    const { status, reason } = state.connection;
    return { channel: state.current.channel, connected: status === 'connected', reason };
  };

  const update = () => {
    const mode = composerMode(input.value, context());
    send.disabled = !mode.canSend;
    hint.textContent = mode.hint;
    form.dataset.mode = inputKind(input.value);
  };

  watch(
    store,
    (state) => [state.current.channel, state.current.projectId, state.connection.status],
    (channel) => {
      input.placeholder = channel
        ? `Message #${channel}, @CodeAgent … or /help`
        : 'Type a /command — try /help';
      update();
    },
  );

  input.addEventListener('input', () => {
    cursor = -1;
    selected = 0;
    update();
    showSuggestions();
    if (input.value.trim() && inputKind(input.value) !== 'command') onTyping();
  });

  input.addEventListener('blur', hideSuggestions);
  input.addEventListener('keydown', (event) => {
    if (shown.length && !menu.hidden) {
      if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
        event.preventDefault();
        const step = event.key === 'ArrowDown' ? 1 : -1;
        selected = (selected + step + shown.length) % shown.length;
        showSuggestions();
        return;
      }
      if (event.key === 'Tab') {
        event.preventDefault();
        complete(shown[selected]);
        return;
      }
      if (event.key === 'Escape') {
        event.preventDefault();
        event.stopPropagation();
        hideSuggestions();
        return;
      }
    }
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      hideSuggestions();
      event.preventDefault(); // Enter sends, Shift+Enter is a new line
      form.requestSubmit();
      return;
    }
    if (event.key !== 'ArrowUp' && event.key !== 'ArrowDown') return;
    if (input.value.includes('\n') && cursor < 0) return; // moving between lines
    if (!history.length || (event.key === 'ArrowDown' && cursor < 0)) return;
    if (cursor < 0 && input.value && event.key === 'ArrowUp' && input.selectionStart !== 0) return;
    event.preventDefault();
    if (cursor < 0) draft = input.value;
    cursor = event.key === 'ArrowUp' ? Math.min(history.length - 1, cursor + 1) : cursor - 1;
    input.value = cursor < 0 ? draft : history[history.length - 1 - cursor];
    input.setSelectionRange(input.value.length, input.value.length);
    update();
  });

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = input.value;
    if (!composerMode(text, context()).canSend) {
      update();
      return;
    }
    if (onSubmit(text)) {
      if (history[history.length - 1] !== text) history.push(text);
      if (history.length > HISTORY_MAX) history.shift();
      cursor = -1;
      input.value = '';
      update();
    }
  });

  return {
    prefill(text) {
      input.value = text;
      input.focus();
      input.setSelectionRange(text.length, text.length);
      update();
    },
    focus() {
      input.focus();
    },
  };
}
