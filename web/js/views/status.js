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

/**
 * @param {{store: any, onRetry: () => void}} deps
 */
export function mountStatus({ store, onRetry }) {
  const button = byId('connection-status');
  const label = byId('connection-label');
  const userStatus = byId('user-status');
  let ticker = null;

  const render = (connection) => {
    const text = statusLabel(connection);
    label.textContent = text;
    userStatus.textContent = text;
    button.dataset.status = connection.status;
    userStatus.dataset.status = connection.status;
    const canRetry = connection.status === 'offline' || connection.status === 'reconnecting';
    button.disabled = !canRetry;
    button.title = connection.reason || (canRetry ? 'Click to reconnect now' : text);
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
}
