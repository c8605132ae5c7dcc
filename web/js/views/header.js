// The channel header: where you are and the project's workflow state.
import { byId } from '../dom.js';
import { humanState } from '../format.js';
import { currentProject, watch } from '../store.js';

export function mountHeader({ store }) {
  const title = byId('channel-title');
  const project = byId('channel-project');
  const badge = byId('state-badge');

  watch(
    store,
    (state) => [
      state.current.projectId,
      state.current.channel,
      currentProject(state)?.name ?? null,
      state.workflow[state.current.projectId] ?? null,
    ],
    (projectId, channel, projectName, workflowState) => {
      title.textContent = channel || 'home';
      project.textContent = projectId ? projectName || projectId : 'no channel selected';
      badge.hidden = !workflowState;
      badge.textContent = workflowState || '';
      badge.title = workflowState ? `Workflow state: ${humanState(workflowState)}` : '';
      badge.dataset.state = workflowState || '';
    },
  );
}
