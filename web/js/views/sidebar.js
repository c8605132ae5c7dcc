// The sidebar: projects with their workflow state and channels, and the user panel.
import { byId, h, replaceChildren } from '../dom.js';
import { avatarClass, humanState, initial } from '../format.js';
import { watch } from '../store.js';

function unreadBadge(count, testid) {
  if (!count) return null;
  return h('span', {
    class: 'unread-badge',
    text: count > 99 ? '99+' : String(count),
    title: `${count} unread`,
    dataset: { testid },
  });
}

/** A project's mark for notifications that came while another project showed. */
function alertMark(count, testid) {
  if (!count) return null;
  const title = count === 1 ? '1 new notification' : `${count} new notifications`;
  return h('span', {
    class: 'alert-mark',
    title,
    attrs: { role: 'img', 'aria-label': title },
    dataset: { testid },
  });
}

function channelButton(project, channel, current, onSelect, unread) {
  const active = current.projectId === project.id && current.channel === channel;
  const count = unread[`${project.id}/${channel}`] || 0;
  return h(
    'li',
    {},
    h(
      'button',
      {
        class: `channel-link${active ? ' active' : ''}${count ? ' unread' : ''}`,
        type: 'button',
        dataset: { testid: `channel-${project.id}-${channel}`, project: project.id, channel },
        attrs: active ? { 'aria-current': 'page' } : {},
        on: { click: () => onSelect(project.id, channel) },
      },
      h('span', { class: 'channel-link-hash', text: '#', attrs: { 'aria-hidden': 'true' } }),
      h('span', { class: 'channel-link-name', text: channel }),
      unreadBadge(count, `unread-${project.id}-${channel}`),
    ),
  );
}

function projectItem(project, workflow, current, onSelect, unread, alerts) {
  const state = workflow[project.id] || project.state;
  const channels = project.channels?.length ? project.channels : ['general'];
  return h(
    'li',
    { class: 'project', dataset: { testid: `project-${project.id}`, project: project.id } },
    h(
      'div',
      { class: 'project-header', title: project.name },
      h('span', { class: 'project-caret', text: '⌄', attrs: { 'aria-hidden': 'true' } }),
      h('span', { class: 'project-name', text: project.name || project.id }),
      alertMark(alerts[project.id], `alert-${project.id}`),
      state
        ? h('span', {
            class: `state-pill state-${state.toLowerCase()}`,
            text: humanState(state),
            title: state,
          })
        : null,
    ),
    h(
      'ul',
      { class: 'channel-list' },
      ...channels.map((channel) => channelButton(project, channel, current, onSelect, unread)),
    ),
  );
}

/** Up to two letters for a project's rail button: "Demo app" -> "DA". */
function initials(name) {
  const words = String(name).split(/[\s_-]+/).filter(Boolean);
  const letters = words.length > 1 ? words[0][0] + words[1][0] : String(name).slice(0, 2);
  return letters.toUpperCase();
}

function emptyHint({ loaded, error }) {
  if (!loaded && error) {
    return h('li', { class: 'project-empty' }, `Could not load your projects: ${error}`);
  }
  return h(
    'li',
    { class: 'project-empty' },
    loaded ? 'No projects yet. Create one with ' : 'Loading projects…',
    loaded ? h('code', { text: '/project register <name>' }) : null,
  );
}

/**
 * @param {{store: any, onSelect: (projectId: string, channel: string) => void,
 *          onNewProject: () => void, onLogout: () => void}} deps
 */
export function mountSidebar({ store, onSelect, onNewProject, onLogout, onDashboard }) {
  const list = byId('project-list');
  const rail = byId('rail-list');
  const name = byId('user-name');
  const avatar = byId('user-avatar');

  watch(
    store,
    (state) => [state.projects, state.workflow, state.current, state.unread, state.alerts],
    (projects, workflow, current, unread, alerts) => {
      replaceChildren(
        list,
        ...(projects.list.length
          ? projects.list.map((project) =>
              projectItem(project, workflow, current, onSelect, unread, alerts),
            )
          : [emptyHint(projects)]),
      );
      replaceChildren(
        rail,
        ...projects.list.map((project) => {
          const total = Object.entries(unread)
            .filter(([key]) => key.startsWith(`${project.id}/`))
            .reduce((sum, [, count]) => sum + count, 0);
          const name = project.name || project.id;
          return h(
            'li',
            {},
            h(
              'button',
              {
                class: `rail-button ${avatarClass(name)}${current.projectId === project.id ? ' active' : ''}`,
                type: 'button',
                title: name,
                attrs: { 'aria-label': `Open ${name}` },
                dataset: { testid: `rail-${project.id}` },
                on: { click: () => onSelect(project.id, project.channels?.[0] || 'general') },
              },
              initials(name),
              unreadBadge(total, `rail-unread-${project.id}`),
              alertMark(alerts[project.id], `rail-alert-${project.id}`),
            ),
          );
        }),
      );
    },
  );

  watch(
    store,
    (state) => [state.user?.username ?? state.auth.username ?? ''],
    (username) => {
      name.textContent = username;
      avatar.textContent = initial(username);
      avatar.className = `avatar avatar-small ${avatarClass(username)}`;
    },
  );

  byId('new-project-button').addEventListener('click', onNewProject);
  byId('rail-home').addEventListener('click', onDashboard);
  byId('logout-button').addEventListener('click', onLogout);
}
