// HTTP: the client config, login, token refresh before expiry, logout.
import * as tokens from './tokens.js';

/** A failed auth call; `status` is the HTTP status, 0 when the service was unreachable. */
export class AuthError extends Error {
  constructor(message, status) {
    super(message);
    this.name = 'AuthError';
    this.status = status;
  }

  /** True when the session is over and the user must log in again. */
  get expired() {
    return this.status === 401;
  }
}

let configPromise = null;

/** `/config.json`: where auth and the REST APIs are ("" = same origin), and the socket path. */
export function loadConfig() {
  configPromise ??= fetch('/config.json', { cache: 'no-store' }).then(async (response) => {
    if (!response.ok) throw new Error(`config.json answered ${response.status}`);
    const config = await response.json();
    const base = (value) => (typeof value === 'string' ? value.replace(/\/+$/, '') : null);
    // The REST APIs: "" (this origin) in embedded mode; in the stack each service's own origin.
    return {
      auth_url: base(config.auth_url) ?? '',
      ws_path: config.ws_path || '/ws',
      sync_url: base(config.sync_url) ?? '',
      orchestrator_url: base(config.orchestrator_url) ?? '',
      metrics_url: base(config.metrics_url) ?? '',
    };
  });
  configPromise.catch(() => {
    configPromise = null; // let the next call try again
  });
  return configPromise;
}

/** The WebSocket URL on this page's origin. */
export function socketUrl(config, location = window.location) {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${location.host}${config.ws_path}`;
}

async function authEndpoint(path) {
  const config = await loadConfig();
  return `${config.auth_url}${path}`;
}

function errorMessage(payload) {
  return payload && payload.error && typeof payload.error.message === 'string'
    ? payload.error.message
    : null;
}

async function postJson(url, body, headers = {}) {
  let response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
  } catch {
    throw new AuthError('Cannot reach the login service. Check your connection and try again.', 0);
  }
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  return { response, payload };
}

/** Log in; stores the tokens. Throws AuthError with a message fit for the user. */
export async function login(username, password) {
  const { response, payload } = await postJson(await authEndpoint('/auth/login'), {
    username,
    password,
  });
  // 422: a name or password longer than any account's can match none: the same answer.
  if (response.status === 401 || response.status === 422) {
    throw new AuthError('Invalid username or password.', 401);
  }
  if (!response.ok) {
    const message = errorMessage(payload) || `Login failed (${response.status}).`;
    throw new AuthError(message, response.status);
  }
  tokens.save(payload, username);
  return payload;
}

let refreshing = null;

async function refreshOnce() {
  const current = tokens.load();
  if (!current) throw new AuthError('You are not logged in.', 401);
  const { response, payload } = await postJson(await authEndpoint('/auth/refresh'), {
    refresh_token: current.refresh_token,
  });
  if (response.status === 401) {
    tokens.clear();
    throw new AuthError('Your session has expired. Please log in again.', 401);
  }
  if (!response.ok) {
    const message = errorMessage(payload) || `Refresh failed (${response.status}).`;
    throw new AuthError(message, response.status);
  }
  tokens.save(payload);
  return payload.access_token;
}

/** Spend the refresh token for a new pair; concurrent callers share one request. */
export function refresh() {
  refreshing ??= refreshOnce().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

/** A valid access token, refreshed first if it is about to expire. */
export async function accessToken() {
  const current = tokens.load();
  if (!current) throw new AuthError('You are not logged in.', 401);
  if (current.expires_at - Date.now() <= tokens.refreshMarginMs(current)) return refresh();
  return current.access_token;
}

/** True when this tab holds a session (it may still turn out to be expired). */
export function hasSession() {
  return tokens.load() !== null;
}

/** The username this tab logged in as, if known. */
export function sessionUsername() {
  return tokens.load()?.username ?? null;
}

/**
 * Refresh the access token shortly before it expires, for as long as the session lasts.
 * `onRefreshed(token)` gets each new token (to re-authenticate the socket);
 * `onExpired(error)` is called once the refresh token is refused.
 * @returns {() => void} stops the timer
 */
export function keepFresh({ onRefreshed, onExpired }) {
  let timer = null;
  let stopped = false;

  const schedule = (delayMs) => {
    clearTimeout(timer);
    if (!stopped) timer = setTimeout(run, Math.max(1000, delayMs));
  };

  const planNext = () => {
    const current = tokens.load();
    if (current) schedule(current.expires_at - tokens.refreshMarginMs(current) - Date.now());
  };

  async function run() {
    try {
      const token = await refresh();
      if (stopped) return;
      onRefreshed(token);
      planNext();
    } catch (error) {
      if (stopped) return;
      if (error instanceof AuthError && error.expired) onExpired(error);
      else schedule(15_000); // auth unreachable: try again soon, the token may still be valid
    }
  }

  planNext();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/** End the session: tell the auth service (best effort) and forget the tokens. */
export async function logout() {
  const current = tokens.load();
  tokens.clear();
  if (!current) return;
  try {
    await fetch(await authEndpoint('/auth/logout'), {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Authorization: `Bearer ${current.access_token}`,
      },
      body: JSON.stringify({ refresh_token: current.refresh_token }),
      keepalive: true,
    });
  } catch {
    // The tokens are gone from this tab either way.
  }
}

/** A failed REST read: `status` is the HTTP status, 0 when unreachable. */
export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

/**
 * GET a JSON API of one service ('sync', 'orchestrator' or 'metrics') with the session's token.
 * @param {'sync'|'orchestrator'|'metrics'} service
 * @param {string} path e.g. `/api/projects/p/state`
 */
export async function apiGet(service, path) {
  const config = await loadConfig();
  const url = `${config[`${service}_url`] ?? ''}${path}`;
  let response = await getWithToken(service, url, await accessToken());
  if (response.status === 401) {
    // A token the service no longer accepts though the session lives on (e.g. signed with a
    // development key that died with a restart of auth): one refresh, one more try.
    response = await getWithToken(service, url, await refresh());
  }
  if (!response.ok) {
    // The server's own words ("rate limited: try again in 23 s") say more than the status.
    const said = errorMessage(await response.json().catch(() => null));
    throw new ApiError(said ?? `${path} answered ${response.status}`, response.status);
  }
  return response.json();
}

async function getWithToken(service, url, token) {
  try {
    return await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
  } catch {
    throw new ApiError(`${service} is unreachable`, 0);
  }
}
