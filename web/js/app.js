// Wiring: the store, the API, the socket and the views, and the session's life cycle.
import * as api from './api.js';
import { createCommands } from './commands.js';
import { createFrameHandler } from './frames.js';
import { createResume } from './resume.js';
import { createSocket } from './socket.js';
import { suggest } from './catalog.js';
import { clearCache, createHistory } from './history.js';
import { DEFAULTS, applySettings, loadSettings, notificationSound, saveSettings } from './settings.js';
import { boardFrom, createStore, watch } from './store.js';
import { mountDashboard } from './views/dashboard.js';
import { allowedContext, mountModals } from './views/modals.js';
import { mountActivity } from './views/activity.js';
import { mountAgents } from './views/agents.js';
import { mountComposer } from './views/composer.js';
import { mountHeader } from './views/header.js';
import { mountLayout } from './views/layout.js';
import { mountLogin } from './views/login.js';
import { mountMessages } from './views/messages.js';
import { mountSidebar } from './views/sidebar.js';
import { mountStatus } from './views/status.js';
import { mountToasts } from './views/toasts.js';

export function startApp() {
  const store = createStore();
  store.dispatch({ type: 'SETTINGS_CHANGED', settings: { ...DEFAULTS, ...loadSettings() } });
  applySettings(store.getState().settings);
  let config = null;
  let stopRefreshing = () => {};

  const socket = createSocket({
    url: () => api.socketUrl(config),
    getToken: api.accessToken,
    onFrame: (frame) => handleFrame(frame),
    onStatus: (status) => {
      store.dispatch({ type: 'CONNECTION_CHANGED', ...status });
      if (status.status !== 'connected') {
        subscribed.clear();
        following.clear();
      }
      else boardStale(store.getState().board.projectId); // follow the cards again, catch up
      const signedIn = store.getState().auth.status === 'authenticated';
      if (status.status === 'offline' && status.reason && signedIn) {
        store.dispatch({ type: 'NOTICE', tone: 'error', text: status.reason });
      }
    },
    onSessionEnded: (reason) => endSession(reason),
    onUnauthorized: async (reason) => {
      let error = reason;
      if (!(error instanceof api.AuthError)) {
        // The server refused the token (4401): try a fresh one before giving up.
        try {
          await api.refresh();
          return true;
        } catch (refreshError) {
          error = refreshError;
        }
      }
      if (error instanceof api.AuthError && error.expired) {
        endSession(error.message);
        return false;
      }
      return true; // auth unreachable: keep retrying with backoff
    },
  });
  const commands = createCommands({ store, socket });
  const resume = createResume({ store, socket, commands });
  const history = createHistory({ store });

  // --- the sprint board and what the current project allows ---------------------------------
  let boardTimer = null;
  // Entities followed on this socket ("type:id"); a new socket follows none until the board is
  // read again.
  const subscribed = new Set();
  const following = new Map(); // subscribe frame id -> "type:id", until it is answered
  // Entity fields whose change means cards come or go: the board is read again.
  const SET_FIELDS = {
    project: ['active_sprint'],
    sprint: ['task_ids', 'status'],
    story: ['id'],
    task: ['id'],
  };

  // Bumped by every entity change seen: a board read that started before one is stale.
  let entityVersion = 0;

  async function loadBoard(projectId, attempt = 0) {
    const startedAt = entityVersion;
    if (store.getState().board.projectId !== projectId || store.getState().board.status !== 'loading') {
      store.dispatch({ type: 'BOARD_REQUESTED', projectId });
    }
    try {
      const [sprints, backlog] = await Promise.all([
        api.apiGet('orchestrator', `/api/projects/${encodeURIComponent(projectId)}/sprints`),
        api.apiGet('orchestrator', `/api/projects/${encodeURIComponent(projectId)}/backlog`),
      ]);
      if (entityVersion !== startedAt && attempt < 3) {
        loadBoard(projectId, attempt + 1); // read again: a change landed while this one was read
        return;
      }
      const data = boardFrom(projectId, sprints, backlog);
      store.dispatch({ type: 'BOARD_LOADED', projectId, data });
      followBoard(projectId, data);
    } catch (error) {
      store.dispatch({ type: 'BOARD_LOADED', projectId, error: error.message || String(error) });
    }
  }

  /** Follow an entity (once per socket): anyone's change of it then comes as state_changed. */
  function follow(entityType, entityId) {
    const key = `${entityType}:${entityId}`;
    if (subscribed.has(key)) return;
    const id = socket.send('subscribe', { entity_type: entityType, entity_id: entityId });
    if (id !== null) {
      subscribed.add(key);
      following.set(id, key);
    }
  }

  /** A subscribe the server refused (`ref`): not followed, so the next board read asks again.
   * Whether `ref` was one. */
  function followRefused(ref) {
    const key = following.get(ref);
    if (key === undefined) return false;
    following.delete(ref);
    subscribed.delete(key);
    return true;
  }

  /** Stop following an entity ("type:id"): the server stops sending its changes. */
  function unfollow(key) {
    const at = key.indexOf(':');
    socket.send('unsubscribe', { entity_type: key.slice(0, at), entity_id: key.slice(at + 1) });
    subscribed.delete(key);
  }

  /** Every card moves live; the project and the sprint say when the set of cards changes. */
  function followBoard(projectId, data) {
    const shown = [['project', projectId]];
    if (data.sprint) shown.push(['sprint', data.sprint.key]);
    for (const card of [...data.stories, ...data.tasks]) shown.push([card.entityType, card.entityId]);
    // What this board does not show (another project's cards, a card gone) is let go, so a
    // socket follows one board's entities, not every board it ever opened.
    const keep = new Set(shown.map(([type, id]) => `${type}:${id}`));
    for (const key of [...subscribed]) if (!keep.has(key)) unfollow(key);
    for (const [type, id] of shown) follow(type, id);
  }

  /** A followed entity changed: its card moved (the reducer); a reload only if the set did. */
  function entityChanged(frame) {
    entityVersion += 1;
    const data = frame?.data || {}; // none for the answer to one's own change
    if (SET_FIELDS[data.entity_type]?.includes(data.field)) {
      boardStale(String(data.entity_id || '').split(':')[0]);
    }
  }

  /** A subscription's snapshot: the card as it is now, unless the user's own move is pending. */
  function entitySnapshot(frame) {
    following.delete(frame.ref);
    const { entity_type: entityType, entity_id: entityId, state } = frame.data || {};
    const { board } = store.getState();
    if (Object.values(board.changes).some((change) => change.entityId === entityId)) return;
    for (const field of ['status', 'phase']) {
      if (!state || !(field in state)) continue;
      store.dispatch({
        type: 'ENTITY_CHANGED',
        data: { entity_type: entityType, entity_id: entityId, field, new_value: state[field] },
      });
    }
  }

  /** Something about a project moved: its board, if shown, is read again (debounced). */
  function boardStale(projectId) {
    const state = store.getState();
    if (!projectId || state.ui.view !== 'dashboard' || state.board.projectId !== projectId) return;
    clearTimeout(boardTimer);
    boardTimer = setTimeout(() => loadBoard(projectId), 250);
  }

  let changeCounter = 0;
  function sendChange(card, newStatus) {
    changeCounter += 1;
    const changeId = `c${changeCounter}-${Date.now().toString(36)}`;
    const data = {
      change_id: changeId,
      entity_type: card.entityType,
      entity_id: card.entityId,
      field: 'status',
      old_value: card.status,
      new_value: newStatus,
    };
    const ref = socket.send('state_change', data);
    if (ref === null) {
      store.dispatch({ type: 'NOTICE', tone: 'error', text: 'Not connected: the change was not sent.' });
      return;
    }
    store.dispatch({
      type: 'CHANGE_SENT',
      change: {
        changeId,
        ref,
        entityType: card.entityType,
        entityId: card.entityId,
        field: 'status',
        oldValue: card.status,
        newValue: newStatus,
      },
    });
  }

  async function loadMetrics() {
    const [current, historyData] = await Promise.all([
      api.apiGet('metrics', '/api/performance'),
      api.apiGet('metrics', '/api/performance/history?minutes=60'),
    ]);
    return { current, history: historyData };
  }

  async function loadAllowed(projectId) {
    if (!projectId) return;
    try {
      const answer = await api.apiGet(
        'orchestrator',
        `/api/projects/${encodeURIComponent(projectId)}/state`,
      );
      store.dispatch({
        type: 'ALLOWED_LOADED',
        projectId,
        state: answer.state,
        commands: answer.allowed_commands,
      });
    } catch {
      // Without it, "allowed now" comes from each command's states and the workflow state.
    }
  }

  /** What may be sent now can have changed in `projectId`: read it again if it is open. */
  function allowedMayHaveChanged(projectId) {
    if (projectId && projectId === store.getState().current.projectId) loadAllowed(projectId);
  }

  const handleFrame = createFrameHandler({
    store,
    commands,
    resume,
    hooks: {
      boardStale,
      entityChanged,
      entitySnapshot,
      followRefused,
      // DesignAgent back to idle without a task: it has just proposed stories (new cards).
      agentStatus: (frame) => {
        const data = frame.data || {};
        if (data.status === 'idle' && !data.task) boardStale(data.project_id);
      },
      workflowChanged: allowedMayHaveChanged,
      // A notification marks a moment the set of cards may have changed (stories proposed or
      // added, a task done or blocked): the shown board of that project is read again. It also
      // marks what may now be approved (a task at its gate) within the same workflow state.
      notified: (frame) => {
        notificationSound(store.getState().settings);
        const projectId = frame?.data?.project_id;
        boardStale(projectId);
        allowedMayHaveChanged(projectId);
      },
    },
  });

  async function beginSession(username) {
    store.dispatch({ type: 'LOGGED_IN', username });
    commands.restore();
    config = await api.loadConfig();
    socket.start();
    stopRefreshing();
    stopRefreshing = api.keepFresh({
      onRefreshed: (token) => socket.reauth(token),
      onExpired: (error) => endSession(error.message),
    });
  }

  function endSession(message = null) {
    subscribed.clear();
    following.clear();
    stopRefreshing();
    stopRefreshing = () => {};
    socket.stop();
    commands.forget();
    store.dispatch({ type: 'LOGGED_OUT', error: message });
  }

  async function login(username, password) {
    store.dispatch({ type: 'LOGIN_SUBMITTED' });
    try {
      await api.login(username, password);
    } catch (error) {
      const known = error instanceof api.AuthError;
      store.dispatch({
        type: 'LOGIN_FAILED',
        error: known ? error.message : 'Login failed. Please try again.',
        invalid: known && error.status === 401,
      });
      return;
    }
    try {
      await beginSession(username);
    } catch {
      endSession('Cannot load the client configuration (/config.json).');
    }
  }

  mountLayout({ store });
  mountLogin({ store, onLogin: login });
  mountStatus({ store, onRetry: () => socket.retryNow() });
  mountHeader({ store });
  mountMessages({
    store,
    onCommand: (command) => commands.choose(command),
    onNeedOlder: (key) => history.loadOlder(key),
  });
  mountActivity({ store });
  const composer = mountComposer({
    store,
    onSubmit: (text) => commands.submit(text),
    onTyping: () => commands.typing(),
    suggestions: (text) => {
      const state = store.getState();
      if (!state.catalog.length) needCatalog();
      return suggest(state.catalog, text, allowedContext(state));
    },
  });

  let catalogAsked = 0;
  /** Ask `/help` quietly for the command list (at most every 5 s while it has not come). */
  function needCatalog() {
    if (store.getState().catalog.length || Date.now() - catalogAsked < 5000) return;
    // Aimed at no project: the list is the same, and it must come even if that one is gone.
    if (commands.command('/help', { silent: true, target: {} })) catalogAsked = Date.now();
  }
  // Also for the buttons of earlier answers, disabled while their command cannot run.
  watch(
    store,
    (state) => [state.connection.status],
    (status) => {
      if (status === 'connected') needCatalog();
    },
  );

  mountModals({
    store,
    onCommand: (text) => commands.submit(text),
    onPrefill: (text) => composer.prefill(text),
    needCatalog,
    onSettings: (change) => {
      store.dispatch({ type: 'SETTINGS_CHANGED', settings: change });
      const { settings } = store.getState();
      saveSettings(settings);
      applySettings(settings);
    },
  });
  mountDashboard({
    store,
    sendChange,
    loadBoard,
    loadMetrics,
    onOpenProject: (projectId) => {
      const project = store.getState().projects.list.find((p) => p.id === projectId);
      commands.join(projectId, project?.channels?.[0] || 'general');
      store.dispatch({ type: 'VIEW_CHANGED', view: 'dashboard' });
      loadBoard(projectId);
    },
  });
  // Each project opened: what it allows now (for autocomplete), history pages and cache.
  let lastProject = null;
  store.subscribe((state) => {
    if (state.current.projectId !== lastProject) {
      lastProject = state.current.projectId;
      loadAllowed(lastProject);
    }
  });
  history.mount();
  mountAgents({ store, onMention: (agentId) => composer.prefill(`@${agentId} `) });
  mountToasts({
    store,
    onCommand: (command, toast) => commands.choose(command, { projectId: toast.projectId }),
  });
  mountSidebar({
    store,
    onSelect: (projectId, channel) => {
      commands.join(projectId, channel);
      composer.focus();
    },
    onNewProject: () => composer.prefill('/project register '),
    onDashboard: () => store.dispatch({ type: 'VIEW_CHANGED', view: 'dashboard' }),
    onLogout: () => {
      clearCache();
      api.logout();
      endSession();
    },
  });

  if (api.hasSession()) {
    beginSession(api.sessionUsername()).catch(() =>
      endSession('Cannot load the client configuration (/config.json).'),
    );
  }
  return { store, socket, commands };
}
