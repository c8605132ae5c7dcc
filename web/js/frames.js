// Server frames in, actions out: the one place that knows what each event means.

/**
 * @param {{store: ReturnType<import('./store.js').createStore>,
 *          commands: ReturnType<import('./commands.js').createCommands>}} deps
 * @returns {(frame: {event: string, data?: any, ref?: string}) => void}
 */
export function createFrameHandler({ store, commands }) {
  const handlers = {
    connected(frame) {
      store.dispatch({ type: 'CONNECTED', user: frame.data.user });
      commands.onConnected();
    },

    command_received(frame) {
      store.dispatch({ type: 'COMMAND_ACKED', ref: frame.ref, commandId: frame.data.command_id });
    },

    command_result(frame) {
      store.dispatch({ type: 'COMMAND_RESULT', ref: frame.ref, data: frame.data });
      commands.onResult(frame.data, frame.ref);
    },

    joined_channel(frame) {
      commands.takeJoin(frame.ref);
      store.dispatch({ type: 'CHANNEL_JOINED', data: frame.data });
      // The project stream says what changes from here on; /agents says where the agents are.
      commands.refreshAgents(frame.data.project_id, frame.data.channel);
    },

    message(frame) {
      store.dispatch({ type: 'MESSAGE_RECEIVED', frame });
    },

    state_change(frame) {
      store.dispatch({ type: 'STATE_CHANGED', frame });
    },

    agent_status(frame) {
      store.dispatch({ type: 'AGENT_STATUS', frame });
    },

    agent_response(frame) {
      store.dispatch({ type: 'AGENT_RESPONSE', frame });
    },

    message_sent(frame) {
      store.dispatch({ type: 'AGENT_MESSAGE_ACKED', ref: frame.ref });
    },

    notification(frame) {
      store.dispatch({ type: 'NOTIFICATION', frame });
    },

    error(frame) {
      const { code = 'internal', message = 'Something went wrong' } = frame.data || {};
      const join = commands.takeJoin(frame.ref);
      if (join) {
        commands.joinRefused(join, message);
        return;
      }
      if (frame.ref && store.getState().pending[frame.ref]) {
        store.dispatch({ type: 'COMMAND_REJECTED', ref: frame.ref, code, message });
        return;
      }
      if (frame.ref && store.getState().mentions[frame.ref]) {
        store.dispatch({ type: 'AGENT_MESSAGE_REJECTED', ref: frame.ref, message, code });
        return;
      }
      store.dispatch({ type: 'NOTICE', tone: 'error', text: `${message} (${code})` });
    },
  };

  return (frame) => {
    const handle = handlers[frame.event];
    if (handle) handle(frame);
    // pong, auth_refreshed, left_channel and events later features use: nothing to do yet.
  };
}
