// The WebSocket: auth handshake, app-level heartbeat, reconnect with backoff, status.
import { RATE_LIMIT_BACKOFF, nextDelay } from './backoff.js';

export const CLOSE = Object.freeze({
  UNAUTHENTICATED: 4401,
  FORBIDDEN: 4403,
  AUTH_TIMEOUT: 4408,
  REPLACED: 4409,
  RATE_LIMITED: 4429,
});

/** What the user is told when the server closed the socket for sending too much (4429). */
export const RATE_LIMITED_REASON =
  'Too many requests: the server closed the connection. Huddle reconnects after a pause.';

/**
 * @typedef {{status: 'offline'|'connecting'|'connected'|'reconnecting',
 *            retryAt: number|null, reason: string|null, code: number|null}} SocketStatus
 *   `code`: the close code behind a `reason`, if any
 */

/**
 * @param {object} options
 * @param {string | (() => string)} options.url ws(s)://host/ws, or a function giving it
 * @param {() => Promise<string>} options.getToken a valid access token
 * @param {(frame: object) => void} options.onFrame every server frame, `connected` included
 * @param {(status: SocketStatus) => void} options.onStatus
 * @param {(error: unknown) => Promise<boolean>} options.onUnauthorized refresh the session after
 *   a 4401 or a failed getToken; resolve true to reconnect, false to give up (logged out)
 * @param {(reason: string) => void} [options.onSessionEnded] the server kept refusing fresh
 *   tokens: the socket gave up, and the session is over (log out, with `reason`)
 */
export function createSocket({ url, getToken, onFrame, onStatus, onUnauthorized, onSessionEnded }) {
  let ws = null;
  let running = false;
  let ready = false; // `connected` received on the current socket
  let attempt = 0;
  let penalties = 0; // 4429 closes so far: each waits longer
  let unauthorizedStreak = 0;
  let retryTimer = null;
  let heartbeatTimer = null;
  let lastSeen = 0;
  let frameCounter = 0;
  /** @type {SocketStatus} */
  let status = { status: 'offline', retryAt: null, reason: null, code: null };

  function setStatus(next) {
    status = { retryAt: null, reason: null, code: null, ...next };
    onStatus(status);
  }

  function startHeartbeat(intervalS) {
    stopHeartbeat();
    const intervalMs = Math.max(1, intervalS) * 1000;
    heartbeatTimer = setInterval(() => {
      if (Date.now() - lastSeen > intervalMs * 2 + 5000) {
        drop(); // no pong, no anything: the connection is dead even if TCP has not noticed
        return;
      }
      send('ping', {});
    }, intervalMs);
  }

  function stopHeartbeat() {
    clearInterval(heartbeatTimer);
    heartbeatTimer = null;
  }

  /** Forget the current socket without waiting for its close handshake. */
  function drop(code = 1006, reason = 'heartbeat timeout') {
    const socket = ws;
    if (!socket) return;
    ws = null;
    ready = false;
    stopHeartbeat();
    try {
      socket.close(4000, reason);
    } catch {
      // already closing
    }
    closed(code);
  }

  async function open() {
    clearTimeout(retryTimer);
    retryTimer = null;
    setStatus({ status: 'connecting' });
    let token;
    try {
      token = await getToken();
    } catch (error) {
      if (!running) return;
      await unauthorized(error, false);
      return;
    }
    if (!running || ws) return;
    const socket = new WebSocket(typeof url === 'function' ? url() : url);
    ws = socket;
    socket.addEventListener('open', () => {
      if (ws === socket) socket.send(JSON.stringify({ event: 'auth', data: { token } }));
    });
    socket.addEventListener('message', (event) => {
      if (ws !== socket) return;
      lastSeen = Date.now();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame.event === 'connected') {
        ready = true;
        attempt = 0;
        unauthorizedStreak = 0;
        startHeartbeat(frame.data?.heartbeat_interval_s ?? 25);
        setStatus({ status: 'connected' });
      }
      onFrame(frame);
    });
    socket.addEventListener('close', (event) => {
      if (ws !== socket) return;
      ws = null;
      ready = false;
      stopHeartbeat();
      closed(event.code);
    });
  }

  /** The server refused the token (`counted`), or getting one failed: refresh, then retry. */
  async function unauthorized(error, counted = true) {
    if (counted) unauthorizedStreak += 1;
    const again = unauthorizedStreak <= 2 && (await onUnauthorized(error));
    if (!running) return;
    if (again) {
      retry();
      return;
    }
    const reason = 'Your session has ended. Please log in again.';
    stop(reason);
    onSessionEnded?.(reason); // a banner offering "Reconnect" could not help: back to login
  }

  function closed(code) {
    if (!running) return;
    switch (code) {
      case CLOSE.UNAUTHENTICATED:
        unauthorized(new Error('socket closed 4401'));
        break;
      case CLOSE.REPLACED:
        stop('Disconnected: Huddle was opened in too many other tabs. Click to reconnect.', code);
        break;
      case CLOSE.FORBIDDEN:
        stop('Disconnected: not allowed.');
        break;
      case CLOSE.RATE_LIMITED: {
        // Sent too much: coming straight back would only be closed again. Wait much longer.
        const delay = nextDelay(penalties, Math.random, RATE_LIMIT_BACKOFF);
        penalties += 1;
        retry({ delay, reason: RATE_LIMITED_REASON, code });
        break;
      }
      default:
        retry();
    }
  }

  /** Reconnect after the backoff, or after `delay` ms with a `reason` (and its close `code`). */
  function retry({ delay = null, reason = null, code = null } = {}) {
    clearTimeout(retryTimer);
    if (!navigator.onLine) {
      setStatus({ status: 'offline', reason: 'No network. Waiting to come back online.' });
      return; // the `online` event reconnects
    }
    let wait = delay;
    if (wait === null) {
      wait = nextDelay(attempt);
      attempt += 1;
    }
    setStatus({ status: 'reconnecting', retryAt: Date.now() + wait, reason, code });
    retryTimer = setTimeout(open, wait);
  }

  function onOnline() {
    if (running && !ws) retryNow();
  }

  function onOffline() {
    // The browser lost the network: the socket is as good as gone; `online` brings it back.
    if (running && ws) drop(1006, 'browser offline');
  }

  /** Start connecting (idempotent). */
  function start() {
    if (running) return;
    running = true;
    attempt = 0;
    penalties = 0;
    unauthorizedStreak = 0;
    window.addEventListener('online', onOnline);
    window.addEventListener('offline', onOffline);
    open();
  }

  /** Close for good (logout, or a close code that says reconnecting would not help). */
  function stop(reason = null, code = null) {
    running = false;
    ready = false;
    clearTimeout(retryTimer);
    stopHeartbeat();
    window.removeEventListener('online', onOnline);
    window.removeEventListener('offline', onOffline);
    const socket = ws;
    ws = null;
    if (socket) socket.close(1000, 'client closed');
    setStatus({ status: 'offline', reason, code });
  }

  /** Reconnect now instead of waiting for the backoff (or after a stop). */
  function retryNow() {
    if (!running) {
      start();
      return;
    }
    if (ws) return;
    attempt = 0;
    open();
  }

  /**
   * Send a frame once the handshake is done.
   * @returns {string|null} the frame id (echoed as `ref`), or null when not connected
   */
  function send(event, data) {
    if (!ws || !ready || ws.readyState !== WebSocket.OPEN) return null;
    frameCounter += 1;
    const id = `f${frameCounter}-${Date.now().toString(36)}`;
    ws.send(JSON.stringify({ event, data, id }));
    return id;
  }

  /** Hand the server a fresh access token on the open socket (`auth_refreshed`). */
  function reauth(token) {
    return send('auth', { token });
  }

  return {
    start,
    stop,
    retryNow,
    send,
    reauth,
    get status() {
      return status;
    },
    get connected() {
      return ready;
    },
  };
}
