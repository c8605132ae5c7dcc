// Buttons and select menus the server attaches to a message, an embed or a notification.
// Choosing one runs its command (`onChoose(command)`); nothing here knows about sockets.
import { entryFor, isAllowed } from '../catalog.js';
import { h } from '../dom.js';

const BUTTON_STYLES = new Set(['primary', 'secondary', 'success', 'danger']);

function isCommand(value) {
  return typeof value === 'string' && value.trim().startsWith('/');
}

function button(element, onChoose) {
  const style = BUTTON_STYLES.has(element.style) ? element.style : 'secondary';
  return h('button', {
    class: `action-button action-${style}`,
    type: 'button',
    text: String(element.label || element.command),
    title: element.command,
    dataset: { testid: 'action-button', command: element.command, elementId: String(element.id ?? '') },
    on: { click: () => onChoose(element.command) },
  });
}

function select(element, onChoose) {
  const options = (Array.isArray(element.options) ? element.options : []).filter((option) =>
    isCommand(option?.command),
  );
  if (!options.length) return null;
  const label = String(element.label || 'Choose…');
  const placeholder = h('option', { text: label, attrs: { value: '' } });
  placeholder.disabled = true;
  placeholder.selected = true;
  const node = h(
    'select',
    {
      class: 'action-select',
      title: label,
      dataset: { testid: 'action-select', elementId: String(element.id ?? '') },
      attrs: { 'aria-label': label },
      on: {
        change: () => {
          const chosen = node.value;
          node.selectedIndex = 0; // a menu, not a setting: back to its label
          if (chosen) onChoose(chosen);
        },
      },
    },
    placeholder,
    ...options.map((option) =>
      h('option', { text: String(option.label || option.command), attrs: { value: option.command } }),
    ),
  );
  return node;
}

/**
 * The row of controls for `elements` (`{type: "button", id, label, style, command}` or
 * `{type: "select", id, label, options: [{label, command}]}`), or null when there are none.
 * Elements of other types, or without a /command, are skipped.
 * @param {any[]} elements
 * @param {(command: string) => void} onChoose
 */
export function interactiveElements(elements, onChoose) {
  if (!Array.isArray(elements) || !elements.length) return null;
  const controls = [];
  for (const element of elements) {
    if (!element || typeof element !== 'object') continue;
    if (element.type === 'select') controls.push(select(element, onChoose));
    else if ((element.type ?? 'button') === 'button' && isCommand(element.command)) {
      controls.push(button(element, onChoose));
    }
  }
  const shown = controls.filter(Boolean);
  if (!shown.length) return null;
  return h('div', { class: 'actions', dataset: { testid: 'actions' } }, ...shown);
}

/**
 * Disable the action buttons under `root` whose command the project's workflow `state` refuses
 * (an old answer's "Start sprint" once the sprint runs), and enable them again when it allows
 * them. Without the catalog or the state, every button stays usable.
 */
export function markRunnable(root, catalog, state) {
  for (const button of root.querySelectorAll('.action-button')) {
    const line = button.dataset.command || '';
    const entry = state && catalog.length ? entryFor(catalog, line) : null;
    const runnable = !entry || isAllowed(entry, { state });
    button.disabled = !runnable;
    button.title = runnable ? line : `Not now: the project is ${state}`;
  }
}
