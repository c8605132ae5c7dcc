// Server frames in, actions out: the one place that knows what each event means.
import { isNewEvent, positionOf } from './feed.js';
import { pendingRef } from './store.js';

/**
 * @param {{store: ReturnType<import('./store.js').createStore>,
 *          commands: ReturnType<import('./commands.js').createCommands>,
 *          resume: ReturnType<import('./resume.js').createResume>}} deps
 * @returns {(frame: {event: string, data?: any, ref?: string}) => void}
 */
export function createFrameHandler({ store, commands, resume, hooks = {} }) {
  const boardStale = (projectId) => hooks.boardStale?.(projectId);
  const rateLimited = () => store.dispatch({ type: 'RATE_LIMITED', at: Date.now() });

  const handlers = {
    connected(frame) {
      store.dispatch({ type: 'CONNECTED', user: frame.data.user });
      // Catch up on every topic followed before the drop, then (re)join what was not followed.
      const resumed = resume.begin(deliver);
      if (![...resumed].some((topic) => topic.startsWith('user:'))) {
        store.dispatch({ type: 'CARRIED_LOST' }); // their results cannot be replayed
      }
      commands.onConnected(resumed);
    },

    resumed(frame) {
      resume.answered(frame);
    },

    command_received(frame) {
      store.dispatch({
        type: 'COMMAND_ACKED',
        ref: frame.ref,
        commandId: frame.data.command_id,
        queuedAhead: frame.data.queued_ahead ?? null,
      });
    },

    command_result(frame) {
      const ref = pendingRef(store.getState(), frame);
      store.dispatch({ type: 'COMMAND_RESULT', ref, data: frame.data, frame });
      commands.onResult(frame.data, ref);
      const listed = frame.data?.ok ? frame.data.result?.projects : null;
      if (Array.isArray(listed)) resume.follow(listed.map((project) => String(project.id)));
      // What waits for approval changed, and with it whether /approve is allowed now.
      if (frame.data?.command === '/approve' && frame.data.ok) {
        hooks.workflowChanged?.(store.getState().current.projectId);
      }
    },

    joined_channel(frame) {
      const join = commands.takeJoin(frame.ref);
      store.dispatch({ type: 'CHANNEL_JOINED', data: frame.data, replace: Boolean(join?.replace) });
      // The project stream says what changes from here on; /agents says where the agents are.
      commands.refreshAgents(frame.data.project_id, frame.data.channel);
    },

    message(frame) {
      store.dispatch({ type: 'MESSAGE_RECEIVED', frame });
    },

    typing(frame) {
      store.dispatch({ type: 'TYPING', data: frame.data || {}, at: Date.now() });
    },

    presence(frame) {
      store.dispatch({ type: 'PRESENCE', data: frame.data || {} });
    },

    state_change(frame) {
      store.dispatch({ type: 'STATE_CHANGED', frame });
      boardStale(frame.data?.project_id);
      hooks.workflowChanged?.(frame.data?.project_id);
    },

    agent_status(frame) {
      store.dispatch({ type: 'AGENT_STATUS', frame });
      hooks.agentStatus?.(frame);
    },

    // Entities (the sprint board): a field changed, by anyone; our own change's answer.
    state_changed(frame) {
      store.dispatch({ type: 'ENTITY_CHANGED', frame });
      hooks.entityChanged?.(frame);
    },

    entity_snapshot(frame) {
      hooks.entitySnapshot?.(frame);
    },

    state_change_confirmed(frame) {
      store.dispatch({ type: 'CHANGE_CONFIRMED', changeId: frame.data?.change_id, frame });
      hooks.entityChanged?.();
    },

    state_change_rejected(frame) {
      store.dispatch({
        type: 'CHANGE_REJECTED',
        changeId: frame.data?.change_id,
        reason: frame.data?.reason,
        frame,
      });
    },

    agent_response(frame) {
      store.dispatch({ type: 'AGENT_RESPONSE', frame });
    },

    message_sent(frame) {
      store.dispatch({ type: 'AGENT_MESSAGE_ACKED', ref: frame.ref });
    },

    notification(frame) {
      store.dispatch({ type: 'NOTIFICATION', frame });
      hooks.notified?.(frame);
    },

    channel_created(frame) {
      store.dispatch({ type: 'CHANNEL_CREATED', frame });
    },

    // An admin added the user to a project or removed them: the list changes at once.
    membership_changed(frame) {
      store.dispatch({ type: 'MEMBERSHIP_CHANGED', data: frame.data || {} });
      commands.refreshProjects();
    },

    error(frame) {
      const { code = 'internal', message = 'Something went wrong' } = frame.data || {};
      if (code === 'rate_limited') rateLimited(); // one small notice, however many come
      if (resume.refused(frame.ref)) return; // falls back to joining again
      if (hooks.followRefused?.(frame.ref) && (code === 'rate_limited' || code === 'unavailable')) {
        return; // a card not followed for now: the board asks again when it is read again
      }
      const join = commands.takeJoin(frame.ref);
      if (join) {
        // Refused for now (too fast, or the store briefly away): the channel stays open.
        if (code === 'rate_limited' || code === 'unavailable') commands.rejoinLater(join);
        else commands.joinRefused(join, message);
        return;
      }
      if (frame.ref && store.getState().pending[frame.ref]) {
        const mayStillRun = Boolean(frame.data?.may_still_run);
        const commandId = frame.data?.command_id;
        store.dispatch({
          type: 'COMMAND_REJECTED', ref: frame.ref, code, message, mayStillRun, commandId,
        });
        return;
      }
      const change = Object.entries(store.getState().board.changes).find(
        ([, entry]) => entry.ref && entry.ref === frame.ref,
      );
      if (change && frame.data?.may_still_run) {
        store.dispatch({ type: 'CHANGE_IN_DOUBT', changeId: change[0], reason: message });
        boardStale(store.getState().board.projectId); // the board, read again, says where it is
        return;
      }
      if (change) {
        store.dispatch({ type: 'CHANGE_REJECTED', changeId: change[0], reason: message });
        return;
      }
      if (frame.ref && store.getState().mentions[frame.ref]) {
        const mayStillRun = Boolean(frame.data?.may_still_run);
        const rejected = { type: 'AGENT_MESSAGE_REJECTED', ref: frame.ref, message, code };
        store.dispatch({ ...rejected, mayStillRun });
        return;
      }
      const unsent = commands.takeMessage(frame.ref);
      if (unsent) {
        // The composer was cleared when it was sent: say which text did not go, to send again.
        const text = frame.data?.may_still_run
          ? `Not confirmed: ${message}. If it does not appear, send it again: “${unsent.text}”`
          : `Not sent: ${message}. Your message: “${unsent.text}”`;
        store.dispatch({ type: 'NOTICE', tone: 'error', feed: unsent.feed, text });
        return;
      }
      if (code === 'rate_limited') return; // a typing or ping frame: the notice says it
      store.dispatch({ type: 'NOTICE', tone: 'error', text: `${message} (${code})` });
    },
  };

  /** Handle one frame, unless it is a topic's event that was applied already. */
  function deliver(frame) {
    const mark = positionOf(frame);
    if (mark && !isNewEvent(store.getState().topics, mark.topic, mark.seq, mark.epoch)) return;
    const handle = handlers[frame.event];
    if (handle) handle(frame);
    // pong, auth_refreshed, left_channel: nothing to do. An event of a topic that nothing
    // shows yet still moves the topic's position, so that `resume` does not ask for it again.
    else if (mark) store.dispatch({ type: 'EVENT_SEEN', frame });
  }

  return (frame) => {
    if (resume.hold(frame)) return; // a topic being resumed: its frames wait for `resumed`
    deliver(frame);
  };
}
