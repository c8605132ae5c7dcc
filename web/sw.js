// The service worker: keeps the app shell (HTML, CSS, modules, /config.json) so that a reload
// without network still shows the client, with its offline banner. Network first, so a new
// version is used as soon as it is reachable; the cache answers only when the network does not.
// The APIs and the socket are never cached (their data is per user and live).

const CACHE = 'huddle-shell-v1';
const SHELL = [
  './',
  'index.html',
  'manifest.webmanifest',
  'icon.svg',
  'css/app.css',
  'js/agents.js',
  'js/api.js',
  'js/app.js',
  'js/backoff.js',
  'js/catalog.js',
  'js/charts.js',
  'js/commands.js',
  'js/dom.js',
  'js/feed.js',
  'js/format.js',
  'js/frames.js',
  'js/history.js',
  'js/main.js',
  'js/markdown.js',
  'js/resume.js',
  'js/settings.js',
  'js/socket.js',
  'js/storage.js',
  'js/store.js',
  'js/tokens.js',
  'js/views/activity.js',
  'js/views/agents.js',
  'js/views/composer.js',
  'js/views/dashboard.js',
  'js/views/header.js',
  'js/views/interactive.js',
  'js/views/layout.js',
  'js/views/login.js',
  'js/views/message-item.js',
  'js/views/messages.js',
  'js/views/modals.js',
  'js/views/sidebar.js',
  'js/views/status.js',
  'js/views/toasts.js',
  'config.json',
];

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((key) => key !== CACHE).map((key) => caches.delete(key))))
      .then(() => self.clients.claim()),
  );
});

/** Same-origin GETs of the shell only: never /api, /auth, /ws, metrics or health. */
function isShell(url) {
  if (url.origin !== self.location.origin) return false;
  return !/^\/(api|auth|ws|metrics|healthz|readyz|docs|openapi)/.test(url.pathname);
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (!isShell(url)) return;
  event.respondWith(
    fetch(request)
      .then((response) => {
        if (response.ok) {
          const copy = response.clone();
          caches.open(CACHE).then((cache) => cache.put(request, copy));
        }
        return response;
      })
      .catch(async () => {
        const cached = await caches.match(request, { ignoreSearch: true });
        if (cached) return cached;
        if (request.mode === 'navigate') return caches.match('./');
        return Response.error();
      }),
  );
});
