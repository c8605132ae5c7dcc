// The login form: validation, pending state, and the error the server gave.
import { byId } from '../dom.js';
import { watch } from '../store.js';

/**
 * @param {{store: any, onLogin: (username: string, password: string) => void}} deps
 */
export function mountLogin({ store, onLogin }) {
  const form = byId('login-form');
  const username = byId('username');
  const password = byId('password');
  const button = byId('login-button');
  const error = byId('login-error');

  const showError = (message, invalid = Boolean(message)) => {
    error.textContent = message || '';
    error.hidden = !message;
    username.setAttribute('aria-invalid', String(invalid));
    password.setAttribute('aria-invalid', String(invalid));
  };

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const name = username.value.trim();
    if (!name || !password.value) {
      showError('Enter your username and password.');
      (name ? password : username).focus();
      return;
    }
    onLogin(name, password.value);
  });

  watch(
    store,
    (state) => [state.auth.status, state.auth.error, state.auth.invalid],
    (status, message, invalid) => {
      const pending = status === 'pending';
      button.disabled = pending;
      button.textContent = pending ? 'Logging in…' : 'Log in';
      form.setAttribute('aria-busy', String(pending));
      showError(message, invalid);
      if (status === 'anonymous') {
        if (invalid) {
          password.value = '';
          password.focus();
        } else {
          (username.value ? password : username).focus();
        }
      }
    },
  );
}
