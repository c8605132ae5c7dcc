// Modals: the command palette (Ctrl/Cmd+K), help (commands from `/help` and the shortcuts) and
// settings (theme, notification sound, compact mode). One at a time, Esc closes.
import { SHORTCUTS, isAllowed, suggest } from '../catalog.js';
import { byId, h, replaceChildren } from '../dom.js';
import { watch } from '../store.js';

/** What the current project allows now, for the catalog's "allowed now" marks. */
export function allowedContext(state) {
  const projectId = state.current.projectId;
  const workflowState = projectId ? state.workflow[projectId] || null : null;
  const known = projectId ? state.allowed[projectId] : null;
  const allowed = known && known.state === workflowState ? known.commands : null;
  return { state: workflowState, allowed, inProject: Boolean(projectId) };
}

const FOCUSABLE = 'button, [href], input, select, textarea, [tabindex]:not([tabindex="-1"])';

/** Focus what had it before the modal; if that is gone or hidden (a closed drawer), the box. */
function focusBack(node) {
  const target = node?.isConnected && node.checkVisibility?.() ? node : byId('message-input');
  target?.focus?.();
}

export function commandRow(entry, { selected = false, cls = 'palette-item', onPick } = {}) {
  return h(
    'li',
    {
      class: `${cls}${selected ? ' selected' : ''}`,
      dataset: { testid: cls, command: entry.command, allowed: String(entry.allowedNow) },
      attrs: { role: 'option', 'aria-selected': String(selected) },
      on: {
        mousedown: (event) => {
          event.preventDefault(); // keep the focus in the input
          onPick(entry);
        },
      },
    },
    h('span', { class: 'cmd-usage', text: entry.usage || entry.command }),
    h('span', { class: 'cmd-description', text: entry.description || '' }),
    h('span', {
      class: 'cmd-allowed',
      text: entry.allowedNow ? 'allowed now' : 'not now',
      dataset: { allowed: String(entry.allowedNow) },
    }),
    h('span', {
      class: 'cmd-states',
      text: entry.allowed_in?.length ? `In: ${entry.allowed_in.join(', ')}` : '',
    }),
  );
}

/**
 * @param {{store: any, onCommand: (text: string) => void, onPrefill: (text: string) => void,
 *          needCatalog: () => void, onSettings: (settings: any) => void}} deps
 */
export function mountModals({ store, onCommand, onPrefill, needCatalog, onSettings }) {
  const backdrop = byId('modal-backdrop');
  const title = byId('modal-title');
  const body = byId('modal-body');
  let restoreFocus = null;

  const open = (modal) => store.dispatch({ type: 'MODAL_OPENED', modal });
  const close = () => store.dispatch({ type: 'MODAL_CLOSED' });

  /** A command chosen in the palette: run it, or put it in the box if it takes arguments. */
  function pick(entry) {
    close();
    const usage = entry.usage || entry.command;
    // One that cannot run now is put in the box, not sent only to be refused.
    if (usage !== entry.command || !entry.allowedNow) onPrefill(`${entry.command} `);
    else onCommand(entry.command);
  }

  function palette(state) {
    const input = h('input', {
      class: 'palette-input',
      type: 'text',
      dataset: { testid: 'palette-input' },
      attrs: { placeholder: 'Type a command…', 'aria-label': 'Search commands', autocomplete: 'off' },
    });
    const list = h('ul', { class: 'palette-list', attrs: { role: 'listbox' } });
    let selected = 0;
    let shown = [];
    const render = () => {
      const typed = input.value.trim();
      const query = typed.startsWith('/') ? typed : `/${typed}`;
      const context = allowedContext(store.getState());
      shown = suggest(store.getState().catalog, query, { ...context, limit: 50 });
      if (!typed) {
        shown = store.getState().catalog.map((entry) => ({ ...entry, allowedNow: isAllowed(entry, context) }));
      }
      selected = Math.min(selected, Math.max(0, shown.length - 1));
      replaceChildren(
        list,
        ...(shown.length
          ? shown.map((entry, i) => commandRow(entry, { selected: i === selected, onPick: pick }))
          : [h('li', { class: 'dash-empty', text: state.catalog.length ? 'No command matches.' : 'Loading commands…' })]),
      );
    };
    input.addEventListener('input', () => {
      selected = 0;
      render();
    });
    input.addEventListener('keydown', (event) => {
      if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
        event.preventDefault();
        selected = (selected + (event.key === 'ArrowDown' ? 1 : -1) + shown.length) % Math.max(1, shown.length);
        render();
      } else if (event.key === 'Enter' && shown[selected]) {
        event.preventDefault();
        pick(shown[selected]);
      }
    });
    render();
    return { nodes: [input, list], focus: input, rerender: render };
  }

  function help(state) {
    const shortcuts = h(
      'dl',
      { class: 'shortcut-list', dataset: { testid: 'shortcuts' } },
      ...SHORTCUTS.flatMap(([keys, what]) => [h('dt', {}, h('kbd', { text: keys })), h('dd', { text: what })]),
    );
    const context = allowedContext(state);
    const commands = state.catalog.length
      ? h(
          'ul',
          { class: 'palette-list', dataset: { testid: 'help-commands' } },
          ...state.catalog.map((entry) =>
            commandRow({ ...entry, allowedNow: isAllowed(entry, context) }, { onPick: pick }),
          ),
        )
      : h('p', { class: 'dash-empty', text: 'Loading commands…' });
    return {
      nodes: [h('h3', { class: 'dash-title', text: 'Keyboard shortcuts' }), shortcuts, h('h3', { class: 'dash-title', text: 'Commands' }), commands],
      focus: null,
    };
  }

  function settings(state) {
    const current = state.settings;
    const row = (label, control) => h('label', { class: 'settings-row' }, h('span', { text: label }), control);
    const theme = h(
      'select',
      { class: 'field', dataset: { testid: 'setting-theme' }, on: { change: () => onSettings({ theme: theme.value }) } },
      h('option', { text: 'Dark', attrs: { value: 'dark' } }),
      h('option', { text: 'Light', attrs: { value: 'light' } }),
    );
    theme.value = current.theme;
    const checkbox = (key) => {
      const box = h('input', {
        type: 'checkbox',
        dataset: { testid: `setting-${key}` },
        on: { change: () => onSettings({ [key]: box.checked }) },
      });
      box.checked = Boolean(current[key]);
      return box;
    };
    return {
      nodes: [
        row('Theme', theme),
        row('Sound on notifications', checkbox('sound')),
        row('Compact messages', checkbox('compact')),
        h('p', { class: 'dash-empty', text: 'Saved in this browser.' }),
      ],
      focus: theme,
    };
  }

  const MODALS = { palette: ['Command palette', palette], help: ['Help', help], settings: ['Settings', settings] };
  let openName = null;
  let rerender = null;

  watch(
    store,
    (state) => [state.ui.modal, state.auth.status === 'authenticated'],
    (modal, signedIn) => {
      const entry = signedIn && MODALS[modal];
      if (!entry) {
        if (openName) focusBack(restoreFocus);
        backdrop.hidden = true;
        openName = null;
        rerender = null;
        replaceChildren(body);
        return;
      }
      if (!openName) restoreFocus = document.activeElement;
      openName = modal;
      const state = store.getState();
      if (!state.catalog.length && modal !== 'settings') needCatalog();
      const [name, build] = entry;
      const built = build(state);
      title.textContent = name;
      backdrop.dataset.modal = modal;
      replaceChildren(body, ...built.nodes);
      rerender = built.rerender || null;
      backdrop.hidden = false;
      (built.focus || byId('modal-close')).focus();
    },
  );

  // The catalog or allowed commands arrived while a modal shows them: draw again.
  watch(
    store,
    (state) => [state.catalog, state.allowed],
    () => {
      if (!openName || openName === 'settings') return;
      if (rerender) rerender();
      else replaceChildren(body, ...MODALS[openName][1](store.getState()).nodes);
    },
  );

  // aria-modal: Tab and Shift+Tab go round the dialog's controls, never behind it.
  backdrop.addEventListener('keydown', (event) => {
    if (event.key !== 'Tab') return;
    const controls = [...byId('modal').querySelectorAll(FOCUSABLE)].filter(
      (node) => !node.disabled && node.checkVisibility(),
    );
    if (!controls.length) return;
    const first = controls[0];
    const last = controls[controls.length - 1];
    const inside = controls.includes(document.activeElement);
    if (event.shiftKey && (!inside || document.activeElement === first)) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (!inside || document.activeElement === last)) {
      event.preventDefault();
      first.focus();
    }
  });

  byId('modal-close').addEventListener('click', close);
  backdrop.addEventListener('mousedown', (event) => {
    if (event.target === backdrop) close();
  });
  byId('rail-help').addEventListener('click', () => open('help'));
  byId('rail-settings').addEventListener('click', () => open('settings'));

  document.addEventListener('keydown', (event) => {
    if (store.getState().auth.status !== 'authenticated') return;
    const mod = event.ctrlKey || event.metaKey;
    if (mod && event.key.toLowerCase() === 'k') {
      event.preventDefault();
      open(store.getState().ui.modal === 'palette' ? null : 'palette');
      if (store.getState().ui.modal === null) close();
      return;
    }
    if (mod && event.shiftKey && event.key.toLowerCase() === 'd') {
      event.preventDefault();
      const view = store.getState().ui.view === 'dashboard' ? 'chat' : 'dashboard';
      store.dispatch({ type: 'VIEW_CHANGED', view });
      return;
    }
    if (event.key === 'Escape' && store.getState().ui.modal) {
      event.preventDefault();
      close();
      return;
    }
    const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement?.tagName || '');
    if (event.key === '?' && !typing && !store.getState().ui.modal) {
      event.preventDefault();
      open('help');
    }
  });
}
