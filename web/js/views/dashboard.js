// The dashboard: project cards, the sprint board (move a card to change its status: mouse drag,
// keyboard or touch drag) and metrics charts from the metrics service.
import { boardKey, dropStatus, isDrag } from '../board-move.js';
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
      attrs: {
        draggable: 'true',
        role: 'listitem',
        tabindex: '0',
        'aria-roledescription': 'movable card',
        'aria-keyshortcuts': 'Space Enter',
      },
      title: 'Drag to another column (or Space, ←/→, Enter) to change its status',
    },
    h('div', { class: 'board-card-id', text: item.id }),
    h('div', { class: 'board-card-title', text: item.title }),
    item.phase ? h('div', { class: 'board-card-id', text: item.phase }) : null,
  );
}

function lane(title, entityType, columns, items, board) {
  const pendingIds = new Set(Object.values(board.changes).map((c) => c.entityId));
  // A change in doubt is not outlined as refused: the board read again says where the card is.
  const refusedId = board.rejection?.inDoubt ? null : board.rejection?.entityId;
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
            card(item, pendingIds.has(item.entityId), refusedId === item.entityId),
          ),
        );
      }),
    ),
  );
}

/** What the board says of the last change that did not go through (empty: none). */
function rejectionText(rejection) {
  if (!rejection) return '';
  if (rejection.inDoubt) {
    const again = 'The board is read again to show where it is.';
    return `Change not confirmed for ${rejection.title}: ${rejection.reason}. ${again}`;
  }
  return `Change refused for ${rejection.title}: ${rejection.reason}`;
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
  /** The card being moved with the keyboard (board-move.js), or null. */
  let carry = null;
  // What the keyboard moves announce to screen readers.
  const live = h('p', {
    class: 'visually-hidden',
    dataset: { testid: 'board-live' },
    attrs: { 'aria-live': 'polite', role: 'status' },
  });
  boardNode.before(live);

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
      if (!projects.list.length && !projects.loaded) {
        const text = projects.error
          ? `Could not load your projects: ${projects.error}`
          : 'Loading projects…';
        replaceChildren(cards, h('p', { class: 'dash-empty', text }));
        return;
      }
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
      rejection.textContent = rejectionText(board.rejection);
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
      // A re-render replaces the cards: the focused one keeps the focus, a carried one its place.
      const focused = document.activeElement?.closest?.('#sprint-board .board-card')?.dataset.entityId;
      replaceChildren(
        boardNode,
        lane('Stories', 'story', STORY_COLUMNS, board.stories, board),
        board.sprint ? lane(`Sprint ${board.sprint.id} tasks`, 'task', TASK_COLUMNS, board.tasks, board) : null,
      );
      if (focused) cardNode(focused)?.focus();
      if (carry) paintCarry();
    },
  );

  /** The card with this entity id, as the store has it now. */
  const findCard = (entityId) => {
    const { board } = store.getState();
    return [...board.tasks, ...board.stories].find((c) => c.entityId === entityId) || null;
  };
  const cardNode = (entityId) =>
    boardNode.querySelector(`.board-card[data-entity-id="${CSS.escape(entityId)}"]`);
  const columnNode = (entityType, status) =>
    boardNode.querySelector(
      `.board-column[data-entity-type="${CSS.escape(entityType)}"][data-status="${CSS.escape(status)}"]`,
    );
  const clearTargets = () => {
    for (const other of boardNode.querySelectorAll('.drop-target')) other.classList.remove('drop-target');
  };
  /** Every way of moving a card ends here: the same state_change as a mouse drop. */
  function moveCard(entityId, column) {
    const item = findCard(entityId);
    const status = dropStatus(item, column && { entityType: column.dataset.entityType, status: column.dataset.status });
    if (status) sendChange(item, status);
  }

  // Drag and drop (HTML5, the mouse): a card onto another column of its lane.
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
    clearTargets();
    column.classList.add('drop-target');
  });
  boardNode.addEventListener('dragleave', (event) => {
    event.target.closest?.('.board-column')?.classList.remove('drop-target');
  });
  boardNode.addEventListener('drop', (event) => {
    const column = event.target.closest?.('.board-column');
    clearTargets();
    if (!column || !dragged) return;
    event.preventDefault();
    const entityId = dragged;
    dragged = null;
    moveCard(entityId, column);
  });
  boardNode.addEventListener('dragend', () => {
    dragged = null;
  });

  // The keyboard: Space/Enter picks the focused card up, ←/→ choose a column, Enter drops,
  // Esc cancels (board-move.js). The carried card is shown in the column it would land in.
  function say(text) {
    if (text) live.textContent = text;
  }
  function paintCarry() {
    for (const node of boardNode.querySelectorAll('.carrying')) node.classList.remove('carrying');
    clearTargets();
    if (!carry) return;
    const node = cardNode(carry.entityId);
    const column = columnNode(carry.entityType, carry.to);
    if (!node) {
      carry = null;
      say('Move cancelled: the card left the board.');
      return;
    }
    node.classList.add('carrying');
    if (column) {
      column.classList.add('drop-target');
      if (node.parentNode !== column) column.append(node);
    }
    node.focus();
    // A lane wider than the view scrolls to show the whole card over its new column.
    node.scrollIntoView({ block: 'nearest', inline: 'nearest' });
  }
  boardNode.addEventListener('keydown', (event) => {
    const node = event.target.closest?.('.board-card');
    if (!node || event.altKey || event.ctrlKey || event.metaKey) return;
    const item = findCard(node.dataset.entityId);
    const lane = node.closest('.board-lane');
    const columns = [...(lane?.querySelectorAll('.board-column') || [])].map((c) => c.dataset.status);
    const answer = boardKey(carry, event.key, { card: item, columns });
    if (answer.handled) {
      event.preventDefault();
      event.stopPropagation(); // Esc and ? belong to the board while a card is carried
    }
    if (carry && !answer.carry && !answer.send) {
      // Put back: the card returns to the column of its status.
      const home = item && columnNode(item.entityType, item.status);
      if (home && node.parentNode !== home) home.append(node);
      node.focus();
    }
    carry = answer.carry;
    say(answer.announce);
    if (answer.send) moveCard(answer.send.entityId, columnNode(item?.entityType ?? '', answer.send.status));
    paintCarry();
    if (answer.send) cardNode(answer.send.entityId)?.focus();
  });

  // Touch (and pen): pointer events, since touch does not start an HTML5 drag. A card follows
  // the finger once it moved 8 px; lifting it over a column of its lane moves it there.
  let touch = null;
  const columnAt = (x, y) => document.elementFromPoint(x, y)?.closest?.('.board-column') || null;
  function endTouch() {
    const node = touch && cardNode(touch.entityId);
    if (node) {
      node.classList.remove('touch-dragging');
      node.style.translate = '';
    }
    clearTargets();
    touch = null;
  }
  boardNode.addEventListener('pointerdown', (event) => {
    if (event.pointerType === 'mouse' || !event.isPrimary) return;
    const node = event.target.closest?.('.board-card');
    if (!node) return;
    touch = {
      pointerId: event.pointerId,
      entityId: node.dataset.entityId,
      start: { x: event.clientX, y: event.clientY },
      dragging: false,
    };
  });
  window.addEventListener('pointermove', (event) => {
    if (!touch || event.pointerId !== touch.pointerId) return;
    const point = { x: event.clientX, y: event.clientY };
    if (!touch.dragging && !isDrag(touch.start, point)) return;
    const node = cardNode(touch.entityId);
    if (!node) return endTouch();
    touch.dragging = true;
    event.preventDefault();
    node.classList.add('touch-dragging');
    node.style.translate = `${point.x - touch.start.x}px ${point.y - touch.start.y}px`;
    clearTargets();
    const column = columnAt(point.x, point.y);
    if (column?.dataset.entityType === node.dataset.entityType) column.classList.add('drop-target');
  });
  window.addEventListener('pointerup', (event) => {
    if (!touch || event.pointerId !== touch.pointerId) return;
    const { entityId, dragging } = touch;
    endTouch();
    if (dragging) moveCard(entityId, columnAt(event.clientX, event.clientY));
  });
  window.addEventListener('pointercancel', (event) => {
    if (touch && event.pointerId === touch.pointerId) endTouch();
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
