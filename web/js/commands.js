// What the user asks for, sent over the socket: commands, chat messages, messages to agents,
// channel joins.
import { parseMention } from './agents.js';
import { nextDelay } from './backoff.js';
import { currentFeedKey } from './store.js';
import * as storage from './storage.js';

const LAST_CHANNEL = 'huddle.channel';
/** `typing` is sent at most this often per channel (ms). */
export const TYPING_INTERVAL_MS = 3000;
/** A join the server refused for now (`rate_limited`, `unavailable`) is tried again after
 * 1.5–3 s, then twice as long each time it is refused again, up to 15–30 s. */
const REJOIN_BACKOFF = Object.freeze({ baseMs: 3000, factor: 2, maxMs: 30_000 });
/** Chat messages remembered by frame id, to say which text a refusal was for (a success has
 * no answer of its own, so the oldest are forgotten past this many). */
const MESSAGES_REMEMBERED = 50;

/** The command's name as typed, e.g. "/project register" (for results that never came). */
function commandName(text) {
  const words = text.trim().split(/\s+/);
  return ['/project', '/sprint', '/backlog', '/channel'].includes(words[0]) && words[1]
    ? `${words[0]} ${words[1]}`
    : words[0];
}

/**
 * @param {{store: ReturnType<import('./store.js').createStore>,
 *          socket: ReturnType<import('./socket.js').createSocket>}} deps
 */
export function createCommands({ store, socket }) {
  const notConnected = (what) =>
    store.dispatch({ type: 'NOTICE', tone: 'error', text: `Not connected: ${what} was not sent.` });

  /**
   * Send a `/command` with the current project and channel (or `target`'s). The result shows
   * in the current feed. Returns false if not sent.
   */
  function command(text, { silent = false, target = null } = {}) {
    const state = store.getState();
    const { projectId, channel } = target ?? state.current;
    const data = { command: text };
    if (projectId) data.project_id = projectId;
    if (projectId && channel) data.channel = channel;
    const id = socket.send('command', data);
    if (id === null) {
      if (!silent) notConnected(commandName(text));
      return false;
    }
    store.dispatch({
      type: 'COMMAND_SENT',
      id,
      text,
      silent,
      projectId: projectId ?? null,
      feed: currentFeedKey(state),
      author: state.user?.username ?? state.auth.username ?? 'you',
    });
    return true;
  }

  let lastTyping = { key: null, at: 0 }; // the last `typing` sent: channel and time (ms)
  const messages = new Map(); // frame id -> {text, feed} of recent chat messages

  /** Send chat text to the current channel. Returns false if not sent. */
  function message(text) {
    const { projectId, channel } = store.getState().current;
    if (!projectId || !channel) return false;
    const id = socket.send('message', { project_id: projectId, channel, text });
    if (id === null) {
      notConnected('your message');
      return false;
    }
    messages.set(id, { text, feed: currentFeedKey(store.getState()) });
    if (messages.size > MESSAGES_REMEMBERED) messages.delete(messages.keys().next().value);
    lastTyping = { key: null, at: 0 }; // the next keystroke says "typing" again at once
    return true;
  }

  /** The chat message an `error` refers to (forgotten once taken), or null. */
  function takeMessage(ref) {
    const found = ref ? messages.get(ref) : undefined;
    if (found) messages.delete(ref);
    return found ?? null;
  }

  /** Tell the current channel the user is typing (at most every TYPING_INTERVAL_MS). */
  function typing(now = Date.now()) {
    const { projectId, channel } = store.getState().current;
    if (!projectId || !channel) return false;
    const key = `${projectId}/${channel}`;
    if (lastTyping.key === key && now - lastTyping.at < TYPING_INTERVAL_MS) return false;
    if (socket.send('typing', { project_id: projectId, channel }) === null) return false;
    lastTyping = { key, at: now };
    return true;
  }

  /** Send a message to one of the project's agents in the current channel (`@Agent …`). */
  function agentMessage(agentId, text) {
    const state = store.getState();
    const { projectId, channel } = state.current;
    if (!projectId || !channel || !text) return false;
    const data = { project_id: projectId, channel, agent_id: agentId, message: text };
    const id = socket.send('agent_message', data);
    if (id === null) {
      notConnected(`your message to ${agentId}`);
      return false;
    }
    store.dispatch({
      type: 'AGENT_MESSAGE_SENT',
      id,
      agentId,
      text,
      feed: currentFeedKey(state),
      author: state.user?.username ?? state.auth.username ?? 'you',
    });
    return true;
  }

  /**
   * What the composer submits: a command if it starts with "/", a message to an agent if it
   * starts with "@Agent ", chat otherwise.
   */
  function submit(text) {
    const trimmed = text.trim();
    if (!trimmed) return false;
    if (trimmed.startsWith('/')) return command(trimmed);
    const mention = parseMention(trimmed);
    if (mention) return agentMessage(mention.agentId, mention.message);
    return message(text);
  }

  /**
   * A button or select option was chosen (in a message, an embed or a notification): run its
   * command like a typed one, so its result shows. `projectId`: the project it is about, when
   * that is not the current one (a notification of another project).
   */
  function choose(text, { projectId = null } = {}) {
    const trimmed = String(text || '').trim();
    if (!trimmed.startsWith('/')) return false;
    const { current } = store.getState();
    const target =
      projectId && projectId !== current.projectId ? { projectId, channel: 'general' } : null;
    return command(trimmed, { target });
  }

  const joins = new Map(); // join_channel frame id -> {projectId, channel, replace, attempt}
  const retries = new Map(); // "project/channel" -> the timer of its next join attempt

  const retryKey = (projectId, channel) => `${projectId}/${channel}`;

  function cancelRetry(projectId, channel) {
    clearTimeout(retries.get(retryKey(projectId, channel)));
    retries.delete(retryKey(projectId, channel));
  }

  /**
   * Send `join_channel` without changing the selection. `replace`: its history replaces the
   * channel's list (events were missed and could not be replayed).
   */
  function rejoin(projectId, channel, { replace = false, attempt = 0 } = {}) {
    const id = socket.send('join_channel', { project_id: projectId, channel });
    if (id !== null) joins.set(id, { projectId, channel, replace, attempt });
    return id !== null;
  }

  /** Try a join again later (the server said `rate_limited` or `unavailable`), backing off. */
  function rejoinLater({ projectId, channel, replace, attempt = 0 }) {
    cancelRetry(projectId, channel);
    const delay = nextDelay(attempt, Math.random, REJOIN_BACKOFF);
    const timer = setTimeout(() => {
      retries.delete(retryKey(projectId, channel));
      rejoin(projectId, channel, { replace, attempt: attempt + 1 });
    }, delay);
    retries.set(retryKey(projectId, channel), timer);
  }

  /** Where this user was last, across logins (localStorage, per username). */
  const lastKey = () => {
    const state = store.getState();
    const name = state.user?.username ?? state.auth.username;
    return name ? `${LAST_CHANNEL}.${name}` : null;
  };

  /**
   * Select a channel and join it (history, live events, the project's stream).
   * `carry` moves one feed item (by id) along into the channel.
   */
  function join(projectId, channel, { carry = null } = {}) {
    store.dispatch({ type: 'CHANNEL_SELECTED', projectId, channel, carry });
    storage.write(LAST_CHANNEL, { projectId, channel });
    if (lastKey()) storage.writeLasting(lastKey(), { projectId, channel });
    cancelRetry(projectId, channel); // this join replaces a retry still waiting
    rejoin(projectId, channel);
  }

  /** The join a server answer refers to (forgotten once answered). */
  function takeJoin(ref) {
    const found = ref ? joins.get(ref) : undefined;
    if (found) joins.delete(ref);
    return found ?? null;
  }

  /** A join the server refused: back home, and do not try it again after a reload. */
  function joinRefused({ projectId, channel }, reason) {
    const { current } = store.getState();
    storage.remove(LAST_CHANNEL);
    if (lastKey()) storage.writeLasting(lastKey(), null);
    if (current.projectId === projectId && current.channel === channel) {
      store.dispatch({ type: 'CHANNEL_SELECTED', projectId: null, channel: null });
    }
    store.dispatch({
      type: 'NOTICE',
      tone: 'error',
      text: `Cannot open #${channel} of ${projectId}: ${reason}`,
    });
  }

  /**
   * Ask for the project list without showing the command in the feed. Not aimed at the current
   * project: if that one is gone (a restarted embedded server), the list must still come.
   */
  function refreshProjects() {
    return command('/project list', { silent: true, target: {} });
  }

  /** Ask what the project's agents are doing (`/agents`), for the agent panel, silently. */
  function refreshAgents(projectId, channel) {
    return command('/agents', { silent: true, target: { projectId, channel } });
  }

  /**
   * After each (re)connect: reload the projects and join the channel we are in, unless it is
   * among the `resumed` topics (the `resume` frame already caught it up).
   * @param {Set<string>} resumed
   */
  function onConnected(resumed = new Set()) {
    refreshProjects();
    const { projectId, channel } = store.getState().current;
    const remembered =
      storage.read(LAST_CHANNEL) ?? (lastKey() ? storage.readLasting(lastKey()) : null);
    if (projectId && channel) {
      if (!resumed.has(`channel:${projectId}/${channel}`)) join(projectId, channel);
    } else if (remembered?.projectId && remembered?.channel) {
      join(remembered.projectId, remembered.channel);
    }
  }

  /**
   * Follow-ups of a command's result: a new project is listed, and opened at #general; a new
   * channel is opened. Opened only by the tab that sent the command (`ref` is set): the
   * user's other tabs (and a project made over HTTP) only list it.
   */
  function onResult(data, ref) {
    if (data.ok && data.command === '/project register' && data.result?.project_id) {
      refreshProjects();
      if (ref) join(data.result.project_id, 'general', { carry: ref });
    }
    if (ref && data.ok && data.command === '/channel create' && data.result?.channel) {
      join(data.result.project_id, data.result.channel, { carry: ref });
    }
  }

  /**
   * Open the channel the user was last in (this tab's, else this user's last), before the
   * socket connects: cached history shows at once, offline too; `onConnected` joins it.
   */
  function restore() {
    const remembered =
      storage.read(LAST_CHANNEL) ?? (lastKey() ? storage.readLasting(lastKey()) : null);
    if (remembered?.projectId && remembered?.channel && !store.getState().current.projectId) {
      store.dispatch({
        type: 'CHANNEL_SELECTED',
        projectId: remembered.projectId,
        channel: remembered.channel,
      });
    }
  }

  function forget() {
    storage.remove(LAST_CHANNEL);
    messages.clear(); // the last user's chat texts are not kept for the next one
    joins.clear();
    for (const timer of retries.values()) clearTimeout(timer); // not on the next user's socket
    retries.clear();
  }

  return {
    command,
    message,
    takeMessage,
    agentMessage,
    submit,
    choose,
    typing,
    join,
    rejoin,
    rejoinLater,
    takeJoin,
    joinRefused,
    refreshProjects,
    refreshAgents,
    onConnected,
    onResult,
    restore,
    forget,
  };
}
