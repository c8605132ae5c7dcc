// The sidebar: projects with their workflow state and channels, and the user panel.
import { byId, h, replaceChildren } from '../dom.js';
import { avatarClass, humanState, initial } from '../format.js';
import { watch } from '../store.js';

function channelButton(project, channel, current, onSelect) {
  const active = current.projectId === project.id && current.channel === channel;
  return h(
    'li',
    {},
    h(
      'button',
      {
        class: `channel-link${active ? ' active' : ''}`,
        type: 'button',
        dataset: { testid: `channel-${project.id}-${channel}`, project: project.id, channel },
        attrs: active ? { 'aria-current': 'page' } : {},
        on: { click: () => onSelect(project.id, channel) },
      },
      h('span', { class: 'channel-link-hash', text: '#', attrs: { 'aria-hidden': 'true' } }),
      h('span', { class: 'channel-link-name', text: channel }),
    ),
  );
}

function projectItem(project, workflow, current, onSelect) {
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
      ...channels.map((channel) => channelButton(project, channel, current, onSelect)),
    ),
  );
}

function emptyHint(loaded) {
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
export function mountSidebar({ store, onSelect, onNewProject, onLogout }) {
  const list = byId('project-list');
  const name = byId('user-name');
  const avatar = byId('user-avatar');

  watch(
    store,
    (state) => [state.projects, state.workflow, state.current],
    (projects, workflow, current) => {
      replaceChildren(
        list,
        ...(projects.list.length
          ? projects.list.map((project) => projectItem(project, workflow, current, onSelect))
          : [emptyHint(projects.loaded)]),
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
  byId('logout-button').addEventListener('click', onLogout);
}
