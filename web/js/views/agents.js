// The agent panel on the right: the current project's agents with status, task, phase and
// progress. A column on wide screens (collapsible), a drawer behind a toggle on narrow ones.
import { AGENTS, PHASE_LABELS, STATUS_LABELS, agentMeta } from '../agents.js';
import { byId, h, replaceChildren } from '../dom.js';
import { avatarClass, initial } from '../format.js';
import { currentFeedKey, watch } from '../store.js';

/** Below this width the panel is a drawer (matches the CSS breakpoint). */
export const NARROW_QUERY = '(max-width: 1023px)';
const HIDDEN = { 'aria-hidden': 'true' };
const UNKNOWN = { status: 'unknown', task: null, phase: null, progress: null };

/** The progress bar's fill width, in steps of 5 % (CSS classes: no inline styles). */
export function fillStep(progress) {
  return String(Math.round(progress / 5) * 5);
}

function progressBar(agentId, progress) {
  if (progress === null) return null;
  return h(
    'div',
    {
      class: 'agent-progress',
      dataset: { testid: 'agent-progress' },
      attrs: {
        role: 'progressbar',
        'aria-valuemin': '0',
        'aria-valuemax': '100',
        'aria-valuenow': String(progress),
        'aria-valuetext': `${progress} %`,
        'aria-label': `${agentId} progress`,
      },
    },
    h('span', { class: 'agent-progress-fill', dataset: { fill: fillStep(progress) } }),
  );
}

function agentRow(agentId, agent, onMention) {
  const meta = agentMeta(agentId);
  const status = agent.status || 'unknown';
  const statusText = STATUS_LABELS[status] || status;
  const phaseText = agent.phase ? PHASE_LABELS[agent.phase] || agent.phase : null;
  return h(
    'li',
    {
      class: 'agent',
      dataset: {
        testid: `agent-${agentId}`,
        agent: agentId,
        status,
        phase: agent.phase || '',
      },
    },
    h(
      'button',
      {
        class: 'agent-row',
        type: 'button',
        title: `Message ${agentId} (${meta.role || 'agent'})`,
        on: { click: () => onMention(agentId) },
      },
      h(
        'span',
        { class: 'agent-avatar-wrap', attrs: HIDDEN },
        h('span', { class: `avatar avatar-small avatar-agent ${meta.tone}`, text: meta.initials }),
        h('span', { class: `presence presence-${status}` }),
      ),
      h(
        'span',
        { class: 'agent-info' },
        h(
          'span',
          { class: 'agent-line' },
          h('span', { class: 'agent-name', text: agentId }),
          phaseText
            ? h('span', {
                class: 'phase-pill',
                text: phaseText,
                title: `Phase: ${agent.phase}`,
                dataset: { phase: agent.phase },
              })
            : null,
        ),
        h(
          'span',
          { class: 'agent-activity', title: agent.task || statusText },
          h('span', { class: `agent-status agent-status-${status}`, text: statusText }),
          agent.task ? h('span', { class: 'agent-task', text: agent.task }) : null,
        ),
      ),
    ),
    progressBar(agentId, agent.progress),
  );
}

/** One user who is in the channel (from `presence`); `self`: the user of this client. */
function onlineRow(user, self) {
  return h(
    'li',
    { class: 'member', dataset: { testid: 'online-user', userId: user.id } },
    h(
      'span',
      { class: 'agent-avatar-wrap', attrs: HIDDEN },
      h('span', {
        class: `avatar avatar-small ${avatarClass(user.username)}`,
        text: initial(user.username),
      }),
      h('span', { class: 'presence presence-online' }),
    ),
    h('span', { class: 'member-name', text: user.username, title: user.username }),
    self ? h('span', { class: 'member-you', text: 'you' }) : null,
  );
}

/**
 * @param {{store: any, onMention: (agentId: string) => void}} deps `onMention`: an agent was
 *   clicked (start a message to it)
 */
export function mountAgents({ store, onMention: mention }) {
  const app = byId('app-view');
  const panel = byId('agent-panel');
  const list = byId('agent-list');
  const summary = byId('agent-summary');
  const toggle = byId('agents-toggle');
  const close = byId('agents-close');
  const backdrop = byId('agents-backdrop');
  const online = byId('online-section');
  const onlineTitle = byId('online-title');
  const onlineList = byId('online-list');
  const narrow = window.matchMedia(NARROW_QUERY);
  const onMention = (agentId) => {
    if (narrow.matches) store.dispatch({ type: 'AGENTS_TOGGLED', narrow: true, open: false });
    mention(agentId);
  };

  watch(
    store,
    (state) => [state.current.projectId, state.agents[state.current.projectId]],
    (projectId, agents = {}) => {
      panel.dataset.project = projectId || '';
      if (!projectId) {
        summary.textContent = '';
        replaceChildren(
          list,
          h('li', { class: 'agent-empty', text: 'Open a project to see its agents at work.' }),
        );
        return;
      }
      const rows = AGENTS.map((agentId) => [agentId, agents[agentId] || UNKNOWN]);
      const working = rows.filter(([, agent]) => agent.status === 'working').length;
      summary.textContent = working ? `${working} working` : '';
      replaceChildren(list, ...rows.map(([agentId, agent]) => agentRow(agentId, agent, onMention)));
    },
  );

  // Who is in the current channel, as the last `presence` said (hidden until one came).
  watch(
    store,
    (state) => [state.presence[currentFeedKey(state)], state.user?.id],
    (users, ownId) => {
      online.hidden = !Array.isArray(users);
      if (!users) return;
      onlineTitle.textContent = `Online — ${users.length}`;
      replaceChildren(onlineList, ...users.map((user) => onlineRow(user, user.id === ownId)));
    },
  );

  // While disconnected the list is what the server last said: shown, but faded.
  watch(
    store,
    (state) => [state.connection.status === 'connected'],
    (connected) => {
      online.dataset.stale = String(!connected);
    },
  );

  const renderVisibility = () => {
    const { agentsOpen, agentsCollapsed } = store.getState().ui;
    const isNarrow = narrow.matches;
    const shown = isNarrow ? agentsOpen : !agentsCollapsed;
    app.dataset.agents = agentsCollapsed ? 'collapsed' : 'shown';
    panel.classList.toggle('open', agentsOpen);
    panel.dataset.visible = String(shown);
    backdrop.hidden = !(isNarrow && agentsOpen);
    toggle.setAttribute('aria-expanded', String(shown));
    toggle.setAttribute('aria-label', shown ? 'Hide agents' : 'Show agents');
    toggle.title = shown ? 'Hide agents' : 'Show agents';
    toggle.classList.toggle('active', shown);
  };
  watch(store, (state) => [state.ui.agentsOpen, state.ui.agentsCollapsed], renderVisibility);
  narrow.addEventListener('change', renderVisibility);

  const setOpen = (open) =>
    store.dispatch({ type: 'AGENTS_TOGGLED', narrow: narrow.matches, open });
  toggle.addEventListener('click', () => setOpen(undefined));
  close.addEventListener('click', () => setOpen(false));
  backdrop.addEventListener('click', () => setOpen(false));
  document.addEventListener('keydown', (event) => {
    const { ui } = store.getState();
    if (event.key === 'Escape' && narrow.matches && ui.agentsOpen && !ui.modal) setOpen(false);
  });
}
