// The central store: one immutable state, changed only by actions through the reducer.
import { clampProgress } from './agents.js';
import {
  HOME,
  addStreamEvent,
  advance,
  appendTo,
  emptyFeed,
  feedKey,
  isNewEvent,
  itemFromFrame,
  moveItem,
  positionOf,
  rebuildFeed,
  systemItem,
  updateItem,
} from './feed.js';

export const initialState = Object.freeze({
  // status: anonymous|pending|authenticated; `invalid`: the error is about the credentials typed
  auth: { status: 'anonymous', error: null, invalid: false, username: null },
  user: null, // {id, username, roles} from `connected`
  connection: { status: 'offline', retryAt: null, reason: null, code: null },
  projects: { list: [], loaded: false, error: null }, // [{id, name, state, channels}]
  workflow: {}, // project id -> workflow state
  current: { projectId: null, channel: null, joined: false },
  feeds: { [HOME]: emptyFeed() },
  // frame id -> {feed, projectId, silent, sentAt, commandId?, carried?}: commands awaiting their
  // result (`carried`: sent before a reconnect; its result may still come, replayed or live)
  pending: {},
  // topic -> {seq, epoch}: the last event applied from each followed topic (the channels joined,
  // their projects, the user's own topic); what `resume` asks for after a reconnect
  topics: {},
  agents: {}, // project id -> agent id -> {status, task, phase, progress, ts} (agent_status)
  mentions: {}, // frame id -> feed: messages to agents awaiting their `message_sent`
  toasts: [], // [{id, type, title, message, actions, projectId, ts}] (notification), oldest first
  typing: {}, // feed key -> user id -> {username, at (ms)}: others typing there (`typing`)
  presence: {}, // feed key -> [{id, username}]: who is in the channel (`presence`)
  rateLimitedAt: 0, // ms: when the server last answered `rate_limited`
  // agentsOpen: the agent drawer on narrow screens; agentsCollapsed: the panel on wide ones
  ui: { sidebarOpen: false, agentsOpen: false, agentsCollapsed: false, view: 'chat', modal: null },
  unread: {}, // feed key -> messages and agent answers that arrived while another feed showed
  alerts: {}, // project id -> notifications that arrived while another project showed
  // history: feed key -> {loading, before (oldest seq held), done (no older page)}
  history: {},
  // The dashboard's sprint board of one project: its latest sprint's tasks and the backlog's
  // stories; `changes`: state_change frames awaiting their answer (change id -> the change);
  // `rejection`: the last refused change and why (`inDoubt`: not confirmed, it may still apply).
  board: {
    projectId: null,
    status: 'idle', // idle|loading|ready|error
    error: null,
    sprint: null,
    tasks: [],
    stories: [],
    changes: {},
    rejection: null,
  },
  settings: { theme: 'dark', sound: false, compact: false },
  catalog: [], // every command from `/help`: [{command, usage, description, allowed_in}]
  allowed: {}, // project id -> {state, commands}: `GET /api/projects/{id}/state`'s answer
});

/** Toasts kept at once: the oldest go first. */
export const MAX_TOASTS = 5;
const TOAST_TYPES = new Set(['success', 'warning', 'error', 'info']);
const AGENT_STATUSES = new Set(['idle', 'working', 'waiting', 'blocked', 'paused']);
/** How long "X is typing…" shows after X's last `typing` (ms). */
export const TYPING_TTL_MS = 5000;

/** The feed the current selection shows. */
export function currentFeedKey(state) {
  return feedKey(state.current.projectId, state.current.channel);
}

/** The current project's record, if it is in the list. */
export function currentProject(state) {
  return state.projects.list.find((project) => project.id === state.current.projectId) || null;
}

function setWorkflow(state, projectId, workflowState) {
  if (!projectId || !workflowState || state.workflow[projectId] === workflowState) return state;
  return {
    ...state,
    workflow: { ...state.workflow, [projectId]: workflowState },
    projects: {
      ...state.projects,
      list: state.projects.list.map((project) =>
        project.id === projectId ? { ...project, state: workflowState } : project,
      ),
    },
  };
}

/** A channel was added to a project (`channel_created`): the project's list entry gains it. */
function channelCreated(state, frame) {
  const { project_id: projectId, channel } = frame.data || {};
  if (!projectId || !channel) return state;
  const list = state.projects.list.map((project) => {
    const channels = project.channels?.length ? project.channels : ['general'];
    return project.id === projectId && !channels.includes(channel)
      ? { ...project, channels: [...channels, String(channel)] }
      : project;
  });
  return { ...state, projects: { ...state.projects, list } };
}

/**
 * The socket went away. Commands the server never acknowledged, and messages to agents, are
 * lost. Acknowledged commands are carried over: `resume` can still bring their result.
 */
function losePending(state) {
  let { feeds } = state;
  const pending = {};
  for (const [id, entry] of Object.entries(state.pending)) {
    if (entry.commandId) pending[id] = { ...entry, carried: true };
    else if (!entry.silent) feeds = updateItem(feeds, entry.feed, id, () => ({ status: 'lost' }));
  }
  for (const [id, feed] of Object.entries(state.mentions)) {
    feeds = updateItem(feeds, feed, id, () => ({ status: 'lost' }));
  }
  return { ...state, feeds, pending, mentions: {} };
}

/**
 * The socket went away: board moves still awaiting their answer get none (it goes to the old
 * socket's session), so their cards go back; the board is read again on reconnect and shows
 * whatever was applied.
 */
function loseChanges(state) {
  const { board } = state;
  if (!Object.keys(board.changes).length) return state;
  let back = board;
  for (const change of Object.values(board.changes)) {
    back = setCardField(back, change.entityType, change.entityId, change.field, change.oldValue);
  }
  return { ...state, board: { ...back, changes: {} } };
}

/** Carried-over commands whose results cannot come any more (the user topic was not resumed). */
function loseCarried(state) {
  if (!Object.values(state.pending).some((entry) => entry.carried)) return state;
  let { feeds } = state;
  const pending = {};
  for (const [id, entry] of Object.entries(state.pending)) {
    if (!entry.carried) pending[id] = entry;
    else if (!entry.silent) feeds = updateItem(feeds, entry.feed, id, () => ({ status: 'lost' }));
  }
  return { ...state, feeds, pending };
}

/**
 * The pending command a `command_result` answers: by its `ref`, else by its command id (a
 * result replayed after a reconnect, or delivered to a new socket, carries no `ref`).
 */
export function pendingRef(state, frame) {
  if (frame.ref && state.pending[frame.ref]) return frame.ref;
  const commandId = frame.data?.command_id;
  if (commandId) {
    for (const [id, entry] of Object.entries(state.pending)) {
      if (entry.commandId === commandId) return id;
    }
  }
  return frame.ref ?? null;
}

/** The project a `project:<id>` event is about (its data says, else its topic). */
function eventProject(frame) {
  const data = frame.data || {};
  if (data.project_id) return String(data.project_id);
  return frame.topic?.startsWith('project:') ? frame.topic.slice('project:'.length) : null;
}

/** An agent as the panel keeps it, from `agent_status` data or an entry of `/agents`. */
function agentRecord(data, ts) {
  return {
    status: AGENT_STATUSES.has(data.status) ? data.status : 'unknown',
    task: data.task ? String(data.task) : null,
    phase: data.phase ? String(data.phase) : null,
    progress: clampProgress(data.progress),
    ts,
  };
}

function agentStatus(state, frame) {
  const data = frame.data || {};
  const projectId = eventProject(frame);
  if (!projectId || !data.agent_id) return state;
  const agent = agentRecord(data, Date.now() / 1000);
  const agents = { ...(state.agents[projectId] || {}), [String(data.agent_id)]: agent };
  return { ...state, agents: { ...state.agents, [projectId]: agents } };
}

/**
 * The `/agents` answer (`result.agents`, asked at `askedAt`): every agent's status at once. A
 * live `agent_status` that came after the question is newer and stays.
 */
function agentsSnapshot(state, projectId, list, askedAt) {
  const known = state.agents[projectId] || {};
  const agents = { ...known };
  for (const entry of list) {
    if (!entry || typeof entry !== 'object' || !entry.agent_id) continue;
    const id = String(entry.agent_id);
    if (known[id] && known[id].ts >= askedAt) continue;
    agents[id] = agentRecord(entry, askedAt);
  }
  return { ...state, agents: { ...state.agents, [projectId]: agents } };
}

let toastCounter = 0;

/** At most MAX_TOASTS: the oldest go first, but an error (it stays until closed) goes last. */
function withinLimit(toasts) {
  const kept = [...toasts];
  while (kept.length > MAX_TOASTS) {
    const other = kept.findIndex((toast) => toast.type !== 'error');
    kept.splice(other === -1 ? 0 : other, 1);
  }
  return kept;
}

function notification(state, frame) {
  const data = frame.data || {};
  toastCounter += 1;
  const toast = {
    id: `toast-${toastCounter}`,
    type: TOAST_TYPES.has(data.type) ? data.type : 'info',
    title: String(data.title ?? ''),
    message: String(data.message ?? ''),
    actions: Array.isArray(data.actions) ? data.actions : [],
    projectId: eventProject(frame),
    ts: Date.now() / 1000,
  };
  return { ...state, toasts: withinLimit([...state.toasts, toast]) };
}

/** A notification of a project the user is not looking at marks it until it is opened. */
function countAlert(state, projectId) {
  if (!projectId || state.current.projectId === projectId) return state;
  return { ...state, alerts: { ...state.alerts, [projectId]: (state.alerts[projectId] || 0) + 1 } };
}

/** Forget a project's notification mark (it was opened, or the user left it). */
function clearAlert(state, projectId) {
  if (!(projectId in state.alerts)) return state;
  const { [projectId]: _seen, ...alerts } = state.alerts;
  return { ...state, alerts };
}

/**
 * The user was added to a project or removed from one (`membership_changed`): a toast says
 * so; a project left is no longer followed, and if it was open the view goes home.
 */
function membershipChanged(state, data) {
  const projectId = String(data?.project_id ?? '');
  if (!projectId) return state;
  const member = Boolean(data.member);
  let next = notification(state, {
    data: {
      project_id: projectId,
      type: member ? 'info' : 'warning',
      title: member ? `Added to ${projectId}` : `Removed from ${projectId}`,
      message: member
        ? `You are now a member of project ${projectId}.`
        : `You are no longer a member of project ${projectId}.`,
    },
  });
  if (member) return next;
  const ofProject = (topic) =>
    topic === `project:${projectId}` ||
    topic.startsWith(`channel:${projectId}/`) ||
    new RegExp(`^entity:[^:]+:${projectId}(:|$)`).test(topic);
  const topics = Object.fromEntries(
    Object.entries(next.topics).filter(([topic]) => !ofProject(topic)),
  );
  next = clearAlert({ ...next, topics }, projectId);
  if (next.current.projectId === projectId) {
    next = { ...next, current: { projectId: null, channel: null, joined: false } };
  }
  return next;
}

/** A message to an agent the server answered (`message_sent`) or refused (`error`). */
function mentionAnswered(state, ref, change) {
  const feed = ref ? state.mentions[ref] : undefined;
  if (!feed) return state;
  const { [ref]: _done, ...mentions } = state.mentions;
  return { ...state, mentions, feeds: updateItem(state.feeds, feed, ref, () => change) };
}

function commandResult(state, { ref, data }) {
  const pending = ref ? state.pending[ref] : undefined;
  let next = state;
  if (data.result && Array.isArray(data.result.projects)) {
    next = projectsLoaded(next, data.result.projects);
  }
  if (data.command === '/help' && data.ok && Array.isArray(data.result?.commands)) {
    // The full list (a `/help <command>` answer names fewer: keep the longer).
    if (data.result.commands.length >= next.catalog.length) {
      next = { ...next, catalog: data.result.commands };
    }
  }
  if (!pending) {
    // A result for another tab of this user, or a failed chat or agent message (no ref).
    if ((data.command === 'message' || data.command === 'agent_message') && !data.ok) {
      const text = [data.error, data.hint].filter(Boolean).join(' — ') || 'Message not sent';
      const feeds = appendTo(next.feeds, currentFeedKey(next), systemItem(text, 'error'));
      return { ...next, feeds };
    }
    return next;
  }
  const { [ref]: _done, ...rest } = next.pending;
  next = { ...next, pending: rest };
  if (pending.text === '/project list' && !data.ok) {
    // Said in the sidebar instead of "Loading projects…" for ever; the next connect asks again.
    const error = data.error || 'no answer';
    next = { ...next, projects: { ...next.projects, error } };
  }
  next = setWorkflow(next, pending.projectId, data.current_state);
  if (data.ok && pending.projectId && Array.isArray(data.result?.agents)) {
    next = agentsSnapshot(next, pending.projectId, data.result.agents, pending.sentAt ?? 0);
  }
  if (pending.silent) return next;
  return {
    ...next,
    feeds: updateItem(next.feeds, pending.feed, ref, () => ({ status: 'done', result: data })),
  };
}

function projectsLoaded(state, projects) {
  const workflow = { ...state.workflow };
  for (const project of projects) workflow[project.id] = project.state;
  return { ...state, projects: { list: projects, loaded: true, error: null }, workflow };
}

function stateChanged(state, frame) {
  const data = frame.data || {};
  const next = setWorkflow(state, data.project_id, data.new_state);
  const key =
    state.current.projectId === data.project_id && state.current.channel
      ? currentFeedKey(state)
      : feedKey(data.project_id, 'general');
  const reason = data.reason ? ` (${data.reason})` : '';
  const line = systemItem(`Workflow: ${data.old_state} → ${data.new_state}${reason}`, 'state');
  return { ...next, feeds: appendTo(next.feeds, key, line) };
}

/**
 * The answer to `join_channel`: its history goes into the channel's feed (or replaces the
 * feed's stream, after a reconnect whose `resume` could not fill the gap: `replace`), and the
 * channel and project topics are followed from the positions given.
 */
function channelJoined(state, data, replace = false) {
  const key = feedKey(data.project_id, data.channel);
  const history = Array.isArray(data.history) ? data.history : [];
  let feeds;
  const held = state.feeds[key];
  const uncached = held?.items.some((item) => item.cached)
    ? { ...state.feeds, [key]: { ...held, items: held.items.filter((item) => !item.cached) } }
    : state.feeds;
  if (replace) feeds = rebuildFeed(uncached, key, history);
  else {
    feeds = uncached[key] ? uncached : { ...uncached, [key]: emptyFeed() };
    for (const frame of history) feeds = addStreamEvent(feeds, key, frame);
  }
  let { topics } = state;
  for (const [topic, position] of Object.entries(data.positions || {})) {
    if (position && typeof position.seq === 'number') {
      topics = advance(topics, topic, position.seq, String(position.epoch ?? ''));
    }
  }
  for (const frame of history) {
    const mark = positionOf(frame);
    if (mark) topics = advance(topics, mark.topic, mark.seq, mark.epoch);
  }
  const isCurrent =
    state.current.projectId === data.project_id && state.current.channel === data.channel;
  return {
    ...state,
    feeds,
    topics,
    current: isCurrent ? { ...state.current, joined: true } : state.current,
  };
}

/**
 * The `resumed` answer (`answers`: topic -> {recovered, seq?, epoch?, error?}). Each topic now
 * stands where the server says; a topic refused (`error`) is no longer followed. If the user
 * topic could not be replayed, results of commands sent before the drop will not come.
 */
function resumed(state, answers) {
  let { topics } = state;
  let userLost = false;
  for (const [topic, answer] of Object.entries(answers || {})) {
    if (!answer || typeof answer !== 'object') continue;
    if (answer.error) {
      const { [topic]: _dropped, ...rest } = topics;
      topics = rest;
    } else if (typeof answer.seq === 'number' && answer.epoch) {
      topics = advance(topics, topic, answer.seq, String(answer.epoch));
    }
    if (topic.startsWith('user:') && !answer.recovered) userLost = true;
  }
  const next = { ...state, topics };
  const { projectId, channel } = state.current;
  const currentTopic = `channel:${projectId}/${channel}`;
  const joined = Boolean(projectId && channel && answers?.[currentTopic]?.recovered);
  const withCurrent = joined ? { ...next, current: { ...next.current, joined: true } } : next;
  return userLost ? loseCarried(withCurrent) : withCurrent;
}

/** Someone else is typing in a channel (`typing`, at `at` ms); the stale entries go. */
function typingSeen(state, data, at) {
  const user = data?.user;
  if (!user || !user.id || user.id === state.user?.id) return state;
  const key = feedKey(data.project_id, data.channel);
  if (key === HOME) return state;
  const alive = Object.entries(state.typing[key] || {}).filter(
    ([, entry]) => at - entry.at < TYPING_TTL_MS,
  );
  const entries = Object.fromEntries(alive);
  entries[String(user.id)] = { username: String(user.username || 'Someone'), at };
  return { ...state, typing: { ...state.typing, [key]: entries } };
}

/** A user who posted has stopped typing there. */
function typingDone(state, key, userId) {
  const entries = state.typing[key];
  if (!userId || !entries || !entries[userId]) return state;
  const { [userId]: _done, ...rest } = entries;
  return { ...state, typing: { ...state.typing, [key]: rest } };
}

/** Who is in a channel (`presence`): each user once, by name. */
function presenceSeen(state, data) {
  const key = feedKey(data?.project_id, data?.channel);
  if (key === HOME) return state;
  const users = new Map();
  for (const user of Array.isArray(data.users) ? data.users : []) {
    if (!user || !user.id || users.has(String(user.id))) continue;
    users.set(String(user.id), { id: String(user.id), username: String(user.username || user.id) });
  }
  const list = [...users.values()].sort((a, b) => a.username.localeCompare(b.username));
  return { ...state, presence: { ...state.presence, [key]: list } };
}

/** Live chat in a feed the user is not looking at counts as unread there. */
function countUnread(state, key) {
  if (key === HOME || key === currentFeedKey(state)) return state;
  return { ...state, unread: { ...state.unread, [key]: (state.unread[key] || 0) + 1 } };
}

/** Where an item is on the board: ['tasks'|'stories', index], or null. */
function boardSlot(board, entityType, entityId) {
  const list = entityType === 'task' ? 'tasks' : entityType === 'story' ? 'stories' : null;
  if (!list) return null;
  const index = board[list].findIndex((card) => card.entityId === entityId);
  return index < 0 ? null : [list, index];
}

// The fields of a card that entity changes update in place.
const CARD_FIELDS = new Set(['status', 'phase']);

/** The board with one card's field set (no change if the card is not on it). */
function setCardField(board, entityType, entityId, field, value) {
  const slot = boardSlot(board, entityType, entityId);
  if (!slot || !CARD_FIELDS.has(field)) return board;
  const [list, index] = slot;
  const cards = board[list].slice();
  cards[index] = { ...cards[index], [field]: value == null ? null : String(value) };
  return { ...board, [list]: cards };
}

/** The sprint board from `/api/projects/{id}/sprints` (newest first) and `/backlog`. */
export function boardFrom(projectId, sprints, backlog) {
  const sprint = Array.isArray(sprints) && sprints.length ? sprints[0] : null;
  const sprintKey = sprint ? `${projectId}:${sprint.id}` : null;
  const tasks = (sprint?.tasks || []).map((task) => ({
    entityType: 'task',
    entityId: `${sprintKey}:${task.id}`,
    id: String(task.id),
    title: String(task.title ?? task.id),
    status: String(task.status),
    phase: task.phase ? String(task.phase) : null,
    storyId: task.story_id ? String(task.story_id) : null,
  }));
  const stories = (backlog?.stories || []).map((story) => ({
    entityType: 'story',
    entityId: `${projectId}:${story.id}`,
    id: String(story.id),
    title: String(story.title ?? story.id),
    status: String(story.status),
    priority: story.priority ?? null,
  }));
  return {
    sprint: sprint ? { id: String(sprint.id), key: sprintKey, status: String(sprint.status) } : null,
    tasks,
    stories,
  };
}

/** Whether `changeId` is the change the board last said was not confirmed. */
function inDoubt(board, changeId) {
  return Boolean(board.rejection?.inDoubt && board.rejection.changeId === changeId);
}

/** A pending change that did not go through: the pending ones without it, and the line the
 * board shows of it (`inDoubt`: not confirmed, it may still apply). */
function settle(board, changeId, reason, inDoubt = false) {
  const { [changeId]: change, ...changes } = board.changes;
  const slot = boardSlot(board, change.entityType, change.entityId);
  const title = slot ? board[slot[0]][slot[1]].title : change.entityId;
  const { entityId } = change;
  return { changes, rejection: { changeId, entityId, title, reason: String(reason), inDoubt } };
}

function boardReduce(state, action) {
  const { board } = state;
  switch (action.type) {
    case 'BOARD_REQUESTED':
      return {
        ...state,
        board: {
          ...initialState.board,
          ...(board.projectId === action.projectId ? board : {}),
          projectId: action.projectId,
          status: 'loading',
          error: null,
        },
      };
    case 'BOARD_LOADED': {
      if (board.projectId !== action.projectId) return state;
      if (action.error) return { ...state, board: { ...board, status: 'error', error: action.error } };
      let next = { ...board, ...action.data, status: 'ready', error: null };
      // A change still waiting for its answer keeps showing where the user put the card.
      for (const change of Object.values(board.changes)) {
        next = setCardField(next, change.entityType, change.entityId, change.field, change.newValue);
      }
      return { ...state, board: next };
    }
    case 'CHANGE_SENT': {
      const { change } = action;
      const moved = setCardField(board, change.entityType, change.entityId, change.field, change.newValue);
      return {
        ...state,
        board: { ...moved, changes: { ...board.changes, [change.changeId]: change }, rejection: null },
      };
    }
    case 'CHANGE_CONFIRMED': {
      if (inDoubt(board, action.changeId)) {
        return { ...state, board: { ...board, rejection: null } }; // applied after all
      }
      if (!board.changes[action.changeId]) return state;
      const { [action.changeId]: _done, ...changes } = board.changes;
      return { ...state, board: { ...board, changes } };
    }
    case 'CHANGE_REJECTED': {
      const change = board.changes[action.changeId];
      if (!change && inDoubt(board, action.changeId)) {
        // The answer after all: refused. The board, read again, shows the card where it is.
        const reason = String(action.reason || 'refused');
        const rejection = { ...board.rejection, reason, inDoubt: false };
        return { ...state, board: { ...board, rejection } };
      }
      if (!change) return state;
      const back = setCardField(board, change.entityType, change.entityId, change.field, change.oldValue);
      const { changes, rejection } = settle(board, action.changeId, action.reason || 'refused');
      return { ...state, board: { ...back, changes, rejection } };
    }
    case 'CHANGE_IN_DOUBT': {
      // Perhaps applied, perhaps not: the card stays where the user put it until the board,
      // read again, or the entity's own change says where it is.
      if (!board.changes[action.changeId]) return state;
      const reason = action.reason || 'not confirmed';
      const { changes, rejection } = settle(board, action.changeId, reason, true);
      return { ...state, board: { ...board, changes, rejection } };
    }
    case 'ENTITY_CHANGED': {
      const data = action.frame?.data || action.data || {};
      const next = setCardField(board, data.entity_type, data.entity_id, data.field, data.new_value);
      return next === board ? state : { ...state, board: next };
    }
    default:
      return state;
  }
}

/** Older messages of a channel (`GET /api/messages/...?before=`), newest first as served. */
function historyPage(state, action) {
  const key = action.key;
  const feed = state.feeds[key] || emptyFeed();
  const known = new Set(feed.items.map((item) => item.id));
  const older = [];
  for (const frame of [...(action.items || [])].reverse()) {
    const item = itemFromFrame(frame);
    if (!known.has(item.id)) older.push(item);
  }
  const oldestSeq = older.length ? older[0].seq : (state.history[key]?.before ?? null);
  const history = {
    ...state.history,
    [key]: { loading: false, before: oldestSeq, done: action.nextBefore == null, error: null },
  };
  if (!older.length) return { ...state, history };
  return {
    ...state,
    history,
    feeds: { ...state.feeds, [key]: { ...feed, items: [...older, ...feed.items] } },
  };
}

/**
 * The root reducer. Every state change of the client goes through here. An action that carries
 * a topic's event (`action.frame` with topic, seq, epoch) is applied once: an event at or below
 * the last seq applied from that topic (same epoch) is a duplicate and changes nothing.
 */
export function reducer(state, action) {
  const mark = action.frame ? positionOf(action.frame) : null;
  if (!mark) return reduceAction(state, action);
  if (!isNewEvent(state.topics, mark.topic, mark.seq, mark.epoch)) return state;
  const next = reduceAction(state, action);
  return { ...next, topics: advance(next.topics, mark.topic, mark.seq, mark.epoch) };
}

function reduceAction(state, action) {
  switch (action.type) {
    case 'LOGIN_SUBMITTED':
      return { ...state, auth: { ...state.auth, status: 'pending', error: null, invalid: false } };
    case 'LOGIN_FAILED':
      return {
        ...state,
        auth: {
          status: 'anonymous',
          error: action.error,
          invalid: Boolean(action.invalid),
          username: null,
        },
      };
    case 'LOGGED_IN':
      return {
        ...state,
        auth: { status: 'authenticated', error: null, invalid: false, username: action.username },
      };
    case 'LOGGED_OUT':
      return {
        ...initialState,
        settings: state.settings,
        auth: { ...initialState.auth, error: action.error ?? null },
      };
    case 'CONNECTION_CHANGED': {
      const connection = {
        status: action.status,
        retryAt: action.retryAt ?? null,
        reason: action.reason ?? null,
        code: action.code ?? null,
      };
      const wasConnected = state.connection.status === 'connected';
      const next = { ...state, connection };
      if (wasConnected && action.status !== 'connected') {
        // Who is typing is only known while connected. Presence stays (shown as stale) until
        // the server says again who is there.
        const offline = { ...loseChanges(losePending(next)), typing: {} };
        return { ...offline, current: { ...next.current, joined: false } };
      }
      return next;
    }
    case 'CONNECTED':
      return { ...state, user: action.user };
    case 'PROJECTS_LOADED':
      return projectsLoaded(state, action.projects);
    case 'CHANNEL_SELECTED': {
      const key = feedKey(action.projectId, action.channel);
      let feeds = state.feeds[key] ? state.feeds : { ...state.feeds, [key]: emptyFeed() };
      // `carry`: an item that belongs with the new channel (the /project register that made it).
      if (action.carry) feeds = moveItem(feeds, action.carry, key);
      const { [key]: _read, ...unread } = state.unread;
      return {
        ...clearAlert(state, action.projectId),
        feeds,
        unread,
        current: { projectId: action.projectId, channel: action.channel, joined: false },
        ui: { ...state.ui, sidebarOpen: false, agentsOpen: false, view: 'chat' },
      };
    }
    case 'HISTORY_REQUESTED': {
      const entry = state.history[action.key] || { before: null, done: false };
      return {
        ...state,
        history: { ...state.history, [action.key]: { ...entry, loading: true, error: null } },
      };
    }
    case 'HISTORY_LOADED':
      return historyPage(state, action);
    case 'CACHE_RESTORED': {
      // Shown until the channel is joined (then replaced by the server's history).
      const feed = state.feeds[action.key] || emptyFeed();
      if (feed.items.length) return state;
      return { ...state, feeds: { ...state.feeds, [action.key]: { ...feed, items: action.items } } };
    }
    case 'HISTORY_FAILED': {
      const entry = state.history[action.key] || { before: null, done: false };
      return {
        ...state,
        history: {
          ...state.history,
          [action.key]: { ...entry, loading: false, error: String(action.error) },
        },
      };
    }
    case 'BOARD_REQUESTED':
    case 'BOARD_LOADED':
    case 'CHANGE_SENT':
    case 'CHANGE_CONFIRMED':
    case 'CHANGE_REJECTED':
    case 'CHANGE_IN_DOUBT':
    case 'ENTITY_CHANGED':
      return boardReduce(state, action);
    case 'VIEW_CHANGED':
      return { ...state, ui: { ...state.ui, view: action.view, sidebarOpen: false } };
    case 'MODAL_OPENED':
      return { ...state, ui: { ...state.ui, modal: action.modal } };
    case 'MODAL_CLOSED':
      return state.ui.modal ? { ...state, ui: { ...state.ui, modal: null } } : state;
    case 'ALLOWED_LOADED':
      return {
        ...state,
        allowed: {
          ...state.allowed,
          [action.projectId]: { state: action.state, commands: action.commands },
        },
      };
    case 'SETTINGS_CHANGED':
      return { ...state, settings: { ...state.settings, ...action.settings } };
    case 'CHANNEL_JOINED':
      return channelJoined(state, action.data, Boolean(action.replace));
    case 'RESUMED':
      return resumed(state, action.data);
    case 'CARRIED_LOST':
      return loseCarried(state);
    case 'EVENT_SEEN':
      return state; // an event nothing shows yet: only its position counts (root reducer)
    case 'MESSAGE_RECEIVED': {
      const data = action.frame.data || {};
      const key = feedKey(data.project_id, data.channel);
      const next = countUnread(typingDone(state, key, data.user?.id), key);
      return { ...next, feeds: addStreamEvent(next.feeds, key, action.frame) };
    }
    case 'TYPING':
      return typingSeen(state, action.data, action.at);
    case 'PRESENCE':
      return presenceSeen(state, action.data);
    case 'RATE_LIMITED':
      return { ...state, rateLimitedAt: action.at };
    case 'STATE_CHANGED':
      return stateChanged(state, action.frame);
    case 'CHANNEL_CREATED':
      return channelCreated(state, action.frame);
    case 'AGENT_STATUS':
      return agentStatus(state, action.frame);
    case 'AGENT_RESPONSE': {
      const data = action.frame.data || {};
      const key = feedKey(data.project_id, data.channel || 'general');
      const next = countUnread(state, key);
      return { ...next, feeds: addStreamEvent(next.feeds, key, action.frame) };
    }
    case 'AGENT_MESSAGE_SENT': {
      const item = {
        kind: 'mention',
        id: action.id,
        agentId: action.agentId,
        text: action.text,
        author: action.author,
        status: 'sending',
        error: null,
        ts: Date.now() / 1000,
      };
      return {
        ...state,
        mentions: { ...state.mentions, [action.id]: action.feed },
        feeds: appendTo(state.feeds, action.feed, item),
      };
    }
    case 'AGENT_MESSAGE_ACKED':
      return mentionAnswered(state, action.ref, { status: 'sent' });
    case 'AGENT_MESSAGE_REJECTED': {
      // "May still run": the agent may get it after all; its answer would show in the channel.
      const status = action.mayStillRun ? 'unconfirmed' : 'failed';
      return mentionAnswered(state, action.ref, { status, error: action.message });
    }
    case 'NOTIFICATION':
      return countAlert(notification(state, action.frame), eventProject(action.frame));
    case 'MEMBERSHIP_CHANGED':
      return membershipChanged(state, action.data);
    case 'TOAST_DISMISSED': {
      const toasts = state.toasts.filter((toast) => toast.id !== action.id);
      return toasts.length === state.toasts.length ? state : { ...state, toasts };
    }
    case 'COMMAND_SENT': {
      const pending = {
        ...state.pending,
        [action.id]: {
          feed: action.feed,
          text: action.text,
          projectId: action.projectId,
          silent: action.silent,
          sentAt: Date.now() / 1000,
        },
      };
      if (action.silent) return { ...state, pending };
      const item = {
        kind: 'command',
        id: action.id,
        text: action.text,
        author: action.author,
        status: 'sending',
        result: null,
        ts: Date.now() / 1000,
      };
      return { ...state, pending, feeds: appendTo(state.feeds, action.feed, item) };
    }
    case 'COMMAND_ACKED': {
      const pending = state.pending[action.ref];
      if (!pending) return state;
      const next = {
        ...state,
        pending: { ...state.pending, [action.ref]: { ...pending, commandId: action.commandId } },
      };
      if (pending.silent) return next;
      return {
        ...next,
        feeds: updateItem(next.feeds, pending.feed, action.ref, (item) =>
          item.status === 'sending'
            ? { status: 'received', queuedAhead: action.queuedAhead ?? null }
            : {},
        ),
      };
    }
    case 'COMMAND_RESULT':
      return commandResult(state, action);
    case 'COMMAND_REJECTED': {
      if (action.mayStillRun) {
        // Not confirmed, yet it may run when the broker returns: its result is still awaited
        // (the gateway sends it with this `ref`; after a reconnect it comes by command id).
        const pending = state.pending[action.ref];
        if (!pending) return state;
        const commandId = action.commandId ?? pending.commandId;
        const kept = { ...state.pending, [action.ref]: { ...pending, commandId } };
        const next = { ...state, pending: kept };
        if (pending.silent) return next;
        const change = () => ({ status: 'unconfirmed', error: action.message });
        return { ...next, feeds: updateItem(next.feeds, pending.feed, action.ref, change) };
      }
      // An `error` frame answering a command frame: shown as a failed result.
      const data = { command: action.command, ok: false, error: action.message, code: action.code };
      return commandResult(state, { ref: action.ref, data });
    }
    case 'NOTICE': {
      const key = action.feed ?? currentFeedKey(state);
      const line = systemItem(action.text, action.tone);
      const next = { ...state, feeds: appendTo(state.feeds, key, line) };
      // The chat list is hidden behind the dashboard: there an error also shows as a toast.
      if (action.tone !== 'error' || state.ui.view !== 'dashboard') return next;
      return notification(next, { data: { type: 'error', title: 'Not done', message: action.text } });
    }
    case 'SIDEBAR_TOGGLED': {
      const open = action.open ?? !state.ui.sidebarOpen;
      return { ...state, ui: { ...state.ui, sidebarOpen: open, agentsOpen: false } };
    }
    case 'AGENTS_TOGGLED': {
      // `narrow`: the panel is a drawer there (open/closed), a column elsewhere (collapsed).
      if (action.narrow) {
        const open = action.open ?? !state.ui.agentsOpen;
        return { ...state, ui: { ...state.ui, agentsOpen: open, sidebarOpen: false } };
      }
      const collapsed = action.open === undefined ? !state.ui.agentsCollapsed : !action.open;
      return { ...state, ui: { ...state.ui, agentsCollapsed: collapsed } };
    }
    default:
      return state;
  }
}

/**
 * A minimal Redux-style store.
 * @returns {{getState: () => any, dispatch: (action: {type: string}) => void,
 *           subscribe: (listener: (state: any) => void) => () => void}}
 */
export function createStore(reduce = reducer, preloaded = initialState) {
  let state = preloaded;
  const listeners = new Set();
  let dispatching = false;
  return {
    getState: () => state,
    dispatch(action) {
      if (dispatching) throw new Error(`dispatch of ${action.type} inside the reducer`);
      dispatching = true;
      let next;
      try {
        next = reduce(state, action);
      } finally {
        dispatching = false;
      }
      if (next === state) return;
      state = next;
      for (const listener of [...listeners]) listener(state);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/**
 * Call `render(...values)` now and whenever a value picked by `select` changes (by identity).
 * @param {ReturnType<typeof createStore>} store
 * @param {(state: any) => any[]} select
 * @param {(...values: any[]) => void} render
 */
export function watch(store, select, render) {
  let last = select(store.getState());
  render(...last);
  return store.subscribe((state) => {
    const values = select(state);
    if (values.length === last.length && values.every((value, i) => value === last[i])) return;
    last = values;
    render(...values);
  });
}
