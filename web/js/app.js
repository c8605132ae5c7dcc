// Wiring: the store, the API, the socket and the views, and the session's life cycle.
import * as api from './api.js';
import { createCommands } from './commands.js';
import { createFrameHandler } from './frames.js';
import { createResume } from './resume.js';
import { createSocket } from './socket.js';
import { createStore } from './store.js';
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
  let config = null;
  let stopRefreshing = () => {};

  const socket = createSocket({
    url: () => api.socketUrl(config),
    getToken: api.accessToken,
    onFrame: (frame) => handleFrame(frame),
    onStatus: (status) => {
      store.dispatch({ type: 'CONNECTION_CHANGED', ...status });
      const signedIn = store.getState().auth.status === 'authenticated';
      if (status.status === 'offline' && status.reason && signedIn) {
        store.dispatch({ type: 'NOTICE', tone: 'error', text: status.reason });
      }
    },
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
  const handleFrame = createFrameHandler({ store, commands, resume });

  async function beginSession(username) {
    store.dispatch({ type: 'LOGGED_IN', username });
    config = await api.loadConfig();
    socket.start();
    stopRefreshing();
    stopRefreshing = api.keepFresh({
      onRefreshed: (token) => socket.reauth(token),
      onExpired: (error) => endSession(error.message),
    });
  }

  function endSession(message = null) {
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
  mountMessages({ store, onCommand: (command) => commands.choose(command) });
  mountActivity({ store });
  const composer = mountComposer({
    store,
    onSubmit: (text) => commands.submit(text),
    onTyping: () => commands.typing(),
  });
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
    onLogout: () => {
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
