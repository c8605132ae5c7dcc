// Entry point (loaded as a module, so it runs after the document is parsed).
import { startApp } from './app.js';

startApp();

// The service worker keeps the shell for offline reloads (secure contexts only: https, localhost).
if ('serviceWorker' in navigator && window.isSecureContext) {
  navigator.serviceWorker.register('sw.js').catch(() => {
    // Without it the client still works; it just does not load offline.
  });
}
