// The dashboard: project cards, the sprint board (drag a card to change its status) and
// metrics charts from the metrics service.
import { drawLines } from '../charts.js';
import { byId, h, replaceChildren } from '../dom.js';
import { humanState } from '../format.js';
import { watch } from '../store.js';

/** Board columns per lane: each is a status value a card can be dropped on. */
export const TASK_COLUMNS = ['pending', 'running', 'waiting_approval', 'paused', 'done', 'failed'];
export const STORY_COLUMNS = ['proposed', 'approved', 'planned', 'done', 'rejected'];

/** The metrics widgets: what each shows from a sample, and its colours. */
const WIDGETS = [
  {
    id: 'commands',
    name: 'Commands per second',
    series: [{ pick: (s) => s.commands_per_second, color: '--accent' }],
    value: (s) => fixed(s.commands_per_second, 2),
  },
  {
    id: 'latency',
    name: 'Latency p50 / p95 / p99 (ms)',
    series: [
      { pick: (s) => s.response_time_ms?.p50, color: '--green' },
      { pick: (s) => s.response_time_ms?.p95, color: '--yellow' },
      { pick: (s) => s.response_time_ms?.p99, color: '--red' },
    ],
    value: (s) =>
      ['p50', 'p95', 'p99'].map((p) => fixed(s.response_time_ms?.[p], 0)).join(' / '),
  },
  {
    id: 'connections',
    name: 'WebSocket connections',
    series: [{ pick: (s) => s.websocket_connections, color: '--blue' }],
    value: (s) => fixed(s.websocket_connections, 0),
  },
  {
    id: 'agents',
    name: 'Agents running',
    series: [{ pick: (s) => s.agents_running, color: '--yellow' }],
    value: (s) => fixed(s.agents_running, 0),
  },
];

function fixed(value, digits) {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '–';
}

function card(item, pending, rejected) {
  return h(
    'div',
    {
      class: `board-card${rejected ? ' rejected' : ''}`,
      dataset: {
        testid: `card-${item.entityType}-${item.id}`,
        entityType: item.entityType,
        entityId: item.entityId,
        status: item.status,
        pending: String(pending),
      },
      attrs: { draggable: 'true', role: 'listitem' },
      title: `Drag to another column to change its status`,
    },
    h('div', { class: 'board-card-id', text: item.id }),
    h('div', { class: 'board-card-title', text: item.title }),
    item.phase ? h('div', { class: 'board-card-id', text: item.phase }) : null,
  );
}

function lane(title, entityType, columns, items, board) {
  const pendingIds = new Set(Object.values(board.changes).map((c) => c.entityId));
  const statuses = [...columns, ...new Set(items.map((i) => i.status))].filter(
    (status, index, all) => all.indexOf(status) === index,
  );
  return h(
    'div',
    { class: 'board-lane', dataset: { testid: `lane-${entityType}` } },
    h('h4', { class: 'board-lane-title', text: title }),
    h(
      'div',
      { class: 'board-columns' },
      ...statuses.map((status) => {
        const cards = items.filter((item) => item.status === status);
        return h(
          'div',
          {
            class: 'board-column',
            dataset: { testid: `column-${entityType}-${status}`, status, entityType },
            attrs: { role: 'list', 'aria-label': `${title}: ${humanState(status)}` },
          },
          h(
            'div',
            { class: 'board-column-title' },
            h('span', { text: humanState(status) }),
            h('span', { text: String(cards.length) }),
          ),
          ...cards.map((item) =>
            card(item, pendingIds.has(item.entityId), board.rejection?.entityId === item.entityId),
          ),
        );
      }),
    ),
  );
}

/**
 * @param {{store: any, sendChange: (card: any, newStatus: string) => void,
 *          loadBoard: (projectId: string) => void,
 *          loadMetrics: () => Promise<{current: any, history: any}>,
 *          onOpenProject: (projectId: string) => void}} deps
 */
export function mountDashboard({ store, sendChange, loadBoard, loadMetrics, onOpenProject }) {
  const view = byId('dashboard-view');
  const list = byId('message-list');
  const toggle = byId('view-toggle');
  const cards = byId('project-cards');
  const boardNode = byId('sprint-board');
  const boardCaption = byId('board-caption');
  const rejection = byId('board-rejection');
  const metrics = byId('metrics');
  const metricsCaption = byId('metrics-caption');
  let metricsTimer = null;

  watch(
    store,
    (state) => [state.ui.view, state.current.projectId, state.auth.status],
    (viewName, projectId, auth) => {
      const shown = viewName === 'dashboard' && auth === 'authenticated';
      view.hidden = !shown;
      list.hidden = shown;
      toggle.textContent = shown ? 'Chat' : 'Dashboard';
      toggle.dataset.view = viewName;
      clearInterval(metricsTimer);
      metricsTimer = null;
      if (!shown) return;
      if (projectId) loadBoard(projectId);
      refreshMetrics();
      metricsTimer = setInterval(refreshMetrics, 10_000);
    },
  );

  toggle.addEventListener('click', () => {
    const next = store.getState().ui.view === 'dashboard' ? 'chat' : 'dashboard';
    store.dispatch({ type: 'VIEW_CHANGED', view: next });
  });

  watch(
    store,
    (state) => [state.projects, state.workflow, state.current.projectId, state.agents],
    (projects, workflow, currentId, agents) => {
      if (!projects.list.length) {
        replaceChildren(
          cards,
          h(
            'p',
            { class: 'dash-empty', dataset: { testid: 'no-projects' } },
            'No projects yet. Type ',
            h('code', { text: '/project register <name>' }),
            ' in the message box to create one.',
          ),
        );
        return;
      }
      replaceChildren(
        cards,
        ...projects.list.map((project) => {
          const working = Object.values(agents[project.id] || {}).filter(
            (agent) => agent.status === 'working',
          ).length;
          const state = workflow[project.id] || project.state;
          return h(
            'button',
            {
              class: `project-card${project.id === currentId ? ' active' : ''}`,
              type: 'button',
              dataset: { testid: `project-card-${project.id}` },
              on: { click: () => onOpenProject(project.id) },
            },
            h('span', { class: 'project-card-name', text: project.name || project.id }),
            h('span', {
              class: `state-pill state-${String(state).toLowerCase()}`,
              text: humanState(state),
            }),
            h('span', {
              class: 'project-card-meta',
              text: `${(project.channels || ['general']).length} channels · ${working} agents working`,
            }),
          );
        }),
      );
    },
  );

  watch(
    store,
    (state) => [state.board, state.current.projectId],
    (board, projectId) => {
      boardNode.dataset.status = board.status;
      rejection.hidden = !board.rejection;
      rejection.textContent = board.rejection
        ? `Change refused for ${board.rejection.title}: ${board.rejection.reason}`
        : '';
      if (!projectId) {
        boardCaption.textContent = '';
        replaceChildren(boardNode, h('p', { class: 'dash-empty', text: 'Open a project to see its board.' }));
        return;
      }
      if (board.status === 'error') {
        boardCaption.textContent = '';
        replaceChildren(boardNode, h('p', { class: 'dash-empty', text: `Board unavailable: ${board.error}` }));
        return;
      }
      if (board.status === 'loading' && !board.tasks.length && !board.stories.length) {
        replaceChildren(boardNode, h('p', { class: 'dash-empty', text: 'Loading the board…' }));
        return;
      }
      boardCaption.textContent = board.sprint
        ? `· ${board.sprint.id} (${board.sprint.status})`
        : '· no sprint yet';
      replaceChildren(
        boardNode,
        lane('Stories', 'story', STORY_COLUMNS, board.stories, board),
        board.sprint ? lane(`Sprint ${board.sprint.id} tasks`, 'task', TASK_COLUMNS, board.tasks, board) : null,
      );
    },
  );

  // Drag and drop (HTML5): a card onto another column of its lane sends a state_change.
  let dragged = null;
  boardNode.addEventListener('dragstart', (event) => {
    const node = event.target.closest?.('.board-card');
    if (!node) return;
    dragged = node.dataset.entityId;
    event.dataTransfer?.setData('text/plain', dragged);
    if (event.dataTransfer) event.dataTransfer.effectAllowed = 'move';
  });
  boardNode.addEventListener('dragover', (event) => {
    const column = event.target.closest?.('.board-column');
    if (!column || !dragged) return;
    event.preventDefault();
    for (const other of boardNode.querySelectorAll('.drop-target')) other.classList.remove('drop-target');
    column.classList.add('drop-target');
  });
  boardNode.addEventListener('dragleave', (event) => {
    event.target.closest?.('.board-column')?.classList.remove('drop-target');
  });
  boardNode.addEventListener('drop', (event) => {
    const column = event.target.closest?.('.board-column');
    for (const other of boardNode.querySelectorAll('.drop-target')) other.classList.remove('drop-target');
    if (!column || !dragged) return;
    event.preventDefault();
    const { board } = store.getState();
    const item = [...board.tasks, ...board.stories].find((c) => c.entityId === dragged);
    dragged = null;
    if (!item || item.entityType !== column.dataset.entityType) return;
    if (item.status === column.dataset.status) return;
    sendChange(item, column.dataset.status);
  });
  boardNode.addEventListener('dragend', () => {
    dragged = null;
  });

  async function refreshMetrics() {
    let data;
    try {
      data = await loadMetrics();
    } catch (error) {
      metricsCaption.textContent = '';
      replaceChildren(
        metrics,
        h('p', {
          class: 'metrics-unavailable',
          dataset: { testid: 'metrics-unavailable' },
          text: `Metrics unavailable (${error.message || error}). They appear when the metrics service answers /api/performance.`,
        }),
      );
      return;
    }
    const samples = Array.isArray(data.history?.samples) ? data.history.samples : [];
    const latest = data.current || samples[samples.length - 1] || {};
    metricsCaption.textContent = `· last ${data.history?.minutes ?? 60} min`;
    const canvases = [];
    replaceChildren(
      metrics,
      ...WIDGETS.map((widget) => {
        const canvas = h('canvas', {
          class: 'metric-chart',
          attrs: { role: 'img', 'aria-label': `${widget.name} over time` },
        });
        canvases.push([canvas, widget]);
        return h(
          'div',
          { class: 'metric-card', dataset: { testid: `metric-${widget.id}` } },
          h('div', { class: 'metric-name', text: widget.name }),
          h('div', { class: 'metric-value', text: widget.value(latest) }),
          canvas,
        );
      }),
    );
    for (const [canvas, widget] of canvases) {
      drawLines(
        canvas,
        widget.series.map((s) => ({
          color: s.color,
          values: [...samples, latest].map((sample) => {
            const value = s.pick(sample);
            return typeof value === 'number' ? value : null;
          }),
        })),
      );
    }
  }
}
