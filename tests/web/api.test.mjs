// api.js: a token refused with 401 is refreshed once and the read tried again; login errors.
import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';

const stored = new Map();
globalThis.window = {
  sessionStorage: {
    getItem: (key) => (stored.has(key) ? stored.get(key) : null),
    setItem: (key, value) => stored.set(key, String(value)),
    removeItem: (key) => stored.delete(key),
  },
};

const calls = [];
let answers = {};
globalThis.fetch = async (url, options = {}) => {
  calls.push({ url, auth: options.headers?.Authorization ?? null });
  const answer = answers[url]?.shift() ?? { status: 404, body: {} };
  return {
    ok: answer.status >= 200 && answer.status < 300,
    status: answer.status,
    json: async () => answer.body,
  };
};

const api = await import('../../web/js/api.js');
const tokens = await import('../../web/js/tokens.js');

const CONFIG = { status: 200, body: { auth_url: '', sync_url: '' } };
const PAIR = { access_token: 'new', refresh_token: 'r2', expires_in: 900 };

beforeEach(() => {
  stored.clear();
  calls.length = 0;
  tokens.save({ access_token: 'old', refresh_token: 'r1', expires_in: 900 }, 'alice');
});

test('a 401 is refreshed once and the read answered with the new token', async () => {
  answers = {
    '/config.json': [CONFIG],
    '/api/x': [
      { status: 401, body: {} },
      { status: 200, body: { ok: 1 } },
    ],
    '/auth/refresh': [{ status: 200, body: PAIR }],
  };
  assert.deepEqual(await api.apiGet('sync', '/api/x'), { ok: 1 });
  const reads = calls.filter((c) => c.url === '/api/x').map((c) => c.auth);
  assert.deepEqual(reads, ['Bearer old', 'Bearer new']);
  assert.equal(tokens.load().refresh_token, 'r2');
});

test('a second 401 is an ApiError, not a loop', async () => {
  answers = {
    '/config.json': [CONFIG],
    '/api/x': [
      { status: 401, body: {} },
      { status: 401, body: {} },
    ],
    '/auth/refresh': [{ status: 200, body: PAIR }],
  };
  await assert.rejects(api.apiGet('sync', '/api/x'), { name: 'ApiError', status: 401 });
  assert.equal(calls.filter((c) => c.url === '/api/x').length, 2);
});

test('a session that is over ends with the refresh refused', async () => {
  answers = {
    '/config.json': [CONFIG],
    '/api/x': [{ status: 401, body: {} }],
    '/auth/refresh': [{ status: 401, body: {} }],
  };
  await assert.rejects(api.apiGet('sync', '/api/x'), { name: 'AuthError', status: 401 });
  assert.equal(tokens.load(), null);
});

test('a login refused as too long (422) reads as a wrong name or password', async () => {
  answers = {
    '/config.json': [CONFIG],
    '/auth/login': [{ status: 422, body: { detail: [{ msg: 'String should have at most 64' }] } }],
  };
  await assert.rejects(api.login('x'.repeat(65), 'pw'), {
    name: 'AuthError',
    message: 'Invalid username or password.',
  });
});

test("a refused read carries the server's own words", async () => {
  const limited = { error: { code: 'rate_limited', message: 'rate limited: try again in 23 s' } };
  answers = {
    '/api/x': [{ status: 429, body: limited }],
    '/api/y': [{ status: 502, body: null }],
  };
  await assert.rejects(api.apiGet('sync', '/api/x'), {
    name: 'ApiError',
    status: 429,
    message: 'rate limited: try again in 23 s',
  });
  await assert.rejects(api.apiGet('sync', '/api/y'), { message: '/api/y answered 502' });
});
