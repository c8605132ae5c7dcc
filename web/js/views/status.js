// The connection indicator: connecting / connected / reconnecting in N s / offline.
import { byId } from '../dom.js';
import { watch } from '../store.js';

/** The indicator's text for a connection state at time `now` (ms). */
export function statusLabel(connection, now = Date.now()) {
  switch (connection.status) {
    case 'connected':
      return 'connected';
    case 'connecting':
      return 'connecting…';
    case 'reconnecting': {
      const seconds = Math.max(0, Math.ceil((connection.retryAt - now) / 1000));
      return seconds > 0 ? `reconnecting in ${seconds} s` : 'reconnecting…';
    }
    default:
      return 'offline';
  }
}

/** The banner's countdown: "Reconnecting in N s." while waiting, else "". */
export function bannerCountdown(connection, now = Date.now()) {
  if (connection.status !== 'reconnecting' || !connection.retryAt) return '';
  const seconds = Math.max(0, Math.ceil((connection.retryAt - now) / 1000));
  return seconds > 0 ? `Reconnecting in ${seconds} s.` : 'Reconnecting…';
}

/**
 * @param {{store: any, onRetry: () => void}} deps
 */
export function mountStatus({ store, onRetry }) {
  const button = byId('connection-status');
  const label = byId('connection-label');
  const userStatus = byId('user-status');
  const banner = byId('connection-banner');
  const bannerText = byId('connection-banner-text');
  const bannerCount = byId('connection-banner-countdown');
  const bannerRetry = byId('connection-banner-retry');
  let ticker = null;

  const setText = (node, text) => {
    if (node.textContent !== text) node.textContent = text; // no needless live-region updates
  };

  const render = (connection) => {
    const text = statusLabel(connection);
    setText(label, text);
    setText(userStatus, text);
    button.dataset.status = connection.status;
    userStatus.dataset.status = connection.status;
    const canRetry = connection.status === 'offline' || connection.status === 'reconnecting';
    button.disabled = !canRetry;
    button.title = connection.reason || (canRetry ? 'Click to reconnect now' : text);
    // Why the connection is down, when there is more to say than "reconnecting".
    const explain = Boolean(connection.reason) && connection.status !== 'connected';
    banner.hidden = !explain;
    banner.dataset.code = String(connection.code ?? '');
    setText(bannerText, explain ? connection.reason : '');
    setText(bannerCount, explain ? bannerCountdown(connection) : '');
    bannerRetry.hidden = connection.status !== 'offline';
  };

  watch(
    store,
    (state) => [state.connection],
    (connection) => {
      clearInterval(ticker);
      ticker = null;
      render(connection);
      if (connection.status === 'reconnecting') {
        ticker = setInterval(() => render(connection), 250); // the countdown
      }
    },
  );

  button.addEventListener('click', () => onRetry());
  bannerRetry.addEventListener('click', () => onRetry());
}
