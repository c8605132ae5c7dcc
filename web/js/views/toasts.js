// Notifications as toasts, stacked at the top right: coloured by type, closed by hand or after
// a while (errors stay until closed), with the notification's action buttons.
import { byId, h } from '../dom.js';
import { watch } from '../store.js';
import { interactiveElements, markRunnable } from './interactive.js';

/** How long a toast stays (ms), unless it is an error or the pointer or focus is on it. */
export const TOAST_MS = 8000;
const ICONS = { success: '✓', warning: '!', error: '✕', info: 'i' };
const HIDDEN = { 'aria-hidden': 'true' };

/**
 * @param {{store: any, onCommand: (command: string, toast: any) => void}} deps `onCommand`: an
 *   action of a toast was chosen
 */
export function mountToasts({ store, onCommand }) {
  const container = byId('toasts');
  /** @type {Map<string, {node: HTMLElement, timer: number|null, toast: any}>} */
  const shown = new Map();
  const dismiss = (id) => store.dispatch({ type: 'TOAST_DISMISSED', id });

  function arm(id, entry, ms = TOAST_MS) {
    clearTimeout(entry.timer);
    entry.timer = setTimeout(() => dismiss(id), ms);
  }

  /** Each toast's buttons by its project's state; its project named when not the open one. */
  function refresh(toast, node) {
    const state = store.getState();
    markRunnable(node, state.catalog, toast.projectId ? state.workflow[toast.projectId] : null);
    const tag = node.querySelector('.toast-project');
    if (tag) tag.hidden = toast.projectId === state.current.projectId;
  }

  function toastNode(toast) {
    return h(
      'div',
      {
        class: `toast toast-${toast.type}`,
        dataset: { testid: 'toast', type: toast.type, id: toast.id },
      },
      h('span', { class: 'toast-icon', text: ICONS[toast.type] || 'i', attrs: HIDDEN }),
      h(
        'div',
        { class: 'toast-body' },
        h(
          'div',
          { class: 'toast-head' },
          h('span', { class: 'toast-title', text: toast.title || 'Notification' }),
          toast.projectId ? h('span', { class: 'toast-project', text: toast.projectId }) : null,
        ),
        toast.message ? h('div', { class: 'toast-message', text: toast.message }) : null,
        interactiveElements(toast.actions, (command) => {
          onCommand(command, toast);
          dismiss(toast.id);
        }),
      ),
      h('button', {
        class: 'toast-close',
        type: 'button',
        text: '×',
        title: 'Dismiss',
        dataset: { testid: 'toast-close' },
        attrs: { 'aria-label': 'Dismiss notification' },
        on: { click: () => dismiss(toast.id) },
      }),
    );
  }

  watch(
    store,
    (state) => [state.toasts],
    (toasts) => {
      const ids = new Set(toasts.map((toast) => toast.id));
      for (const [id, entry] of shown) {
        if (ids.has(id)) continue;
        clearTimeout(entry.timer);
        entry.node.remove();
        shown.delete(id);
      }
      for (const toast of toasts) {
        if (shown.has(toast.id)) continue;
        const node = toastNode(toast);
        const entry = { node, timer: null, toast };
        shown.set(toast.id, entry);
        refresh(toast, node);
        container.append(node); // newest at the bottom of the stack
        if (toast.type === 'error') continue; // errors wait to be read and closed
        arm(toast.id, entry);
        // Reading it (pointer or keyboard on it) holds it; leaving gives it a little longer.
        const hold = () => clearTimeout(entry.timer);
        const release = () => {
          if (!node.matches(':hover') && !node.contains(document.activeElement)) {
            arm(toast.id, entry, TOAST_MS / 2);
          }
        };
        node.addEventListener('pointerenter', hold);
        node.addEventListener('focusin', hold);
        node.addEventListener('pointerleave', release);
        node.addEventListener('focusout', () => setTimeout(release));
      }
      container.hidden = toasts.length === 0;
    },
  );

  watch(
    store,
    (state) => [state.catalog, state.workflow, state.current.projectId],
    () => {
      for (const entry of shown.values()) refresh(entry.toast, entry.node);
    },
  );
}
