// Which screen shows (login or client) and the sidebar drawer on narrow screens.
import { byId } from '../dom.js';
import { watch } from '../store.js';

export function mountLayout({ store }) {
  const login = byId('login-view');
  const app = byId('app-view');
  const sidebar = byId('sidebar');
  const backdrop = byId('sidebar-backdrop');
  const toggle = byId('sidebar-toggle');

  watch(
    store,
    (state) => [state.auth.status === 'authenticated'],
    (authenticated) => {
      login.hidden = authenticated;
      app.hidden = !authenticated;
    },
  );

  watch(
    store,
    (state) => [
      state.auth.status === 'authenticated',
      state.current.projectId,
      state.current.channel,
    ],
    (authenticated, projectId, channel) => {
      if (!authenticated) document.title = 'Log in · Huddle';
      else document.title = channel ? `#${channel} · ${projectId} · Huddle` : 'Huddle';
    },
  );

  watch(
    store,
    (state) => [state.ui.sidebarOpen],
    (open) => {
      sidebar.classList.toggle('open', open);
      backdrop.hidden = !open;
      toggle.setAttribute('aria-expanded', String(open));
      // The drawer hides what has the focus: give it to the button that opens it again.
      if (!open && sidebar.contains(document.activeElement)) toggle.focus();
    },
  );

  const setOpen = (open) => store.dispatch({ type: 'SIDEBAR_TOGGLED', open });
  toggle.addEventListener('click', () => setOpen(!store.getState().ui.sidebarOpen));
  backdrop.addEventListener('click', () => setOpen(false));
  document.addEventListener('keydown', (event) => {
    // Esc closes the top layer only: a modal opened from the drawer first.
    const { ui } = store.getState();
    if (event.key === 'Escape' && ui.sidebarOpen && !ui.modal) setOpen(false);
  });
}
