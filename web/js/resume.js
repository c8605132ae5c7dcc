// Catching up after a reconnect: `resume` asks the server to replay, in order, what each
// followed topic missed; frames of those topics wait until the answer (`resumed`) and are then
// applied in seq order; what could not be replayed is fetched again.
import { positionOf } from './feed.js';

/** Topics per `resume` frame (the server takes at most 100). */
export const RESUME_BATCH = 100;
/** Stop waiting for `resumed` after this long, and fetch everything again instead (ms). */
export const RESUME_TIMEOUT_MS = 20_000;

/**
 * `frames` in the order they came, except that each topic's frames are put in seq order. The
 * server sends a topic in order, but the user topic is followed from the handshake on, so a
 * live event of it can come before the replay of older ones.
 */
export function inTopicOrder(frames) {
  const byTopic = new Map();
  for (const frame of frames) {
    if (!byTopic.has(frame.topic)) byTopic.set(frame.topic, []);
    byTopic.get(frame.topic).push(frame);
  }
  for (const list of byTopic.values()) list.sort((a, b) => a.seq - b.seq);
  const taken = new Map();
  return frames.map((frame) => {
    const index = taken.get(frame.topic) ?? 0;
    taken.set(frame.topic, index + 1);
    return byTopic.get(frame.topic)[index];
  });
}

/** `channel:<project>/<channel>` -> {projectId, channel}, else null. */
export function channelOf(topic) {
  const match = /^channel:([^/]+)\/(.+)$/.exec(topic);
  return match ? { projectId: match[1], channel: match[2] } : null;
}

/** `project:<project>` -> the project id, else null. */
export function projectOf(topic) {
  return topic.startsWith('project:') ? topic.slice('project:'.length) : null;
}

/**
 * @param {{store: ReturnType<import('./store.js').createStore>,
 *          socket: ReturnType<import('./socket.js').createSocket>,
 *          commands: ReturnType<import('./commands.js').createCommands>}} deps
 */
export function createResume({ store, socket, commands }) {
  /** @type {Map<string, Set<string>>} `resume` frame id -> the topics it asked for */
  const asked = new Map();
  /** @type {Map<string, Set<string>>} `resume` frame id -> the project topics it follows from now */
  const following = new Map();
  /** Frames of the topics asked for, until their answer. */
  let held = [];
  let timer = null;
  let deliver = (_frame) => {};

  const holds = (topic) => [...asked.values()].some((topics) => topics.has(topic));

  /**
   * On `connected`: resume every topic whose position is known (none on the first connect).
   * `handle` applies a frame. Returns the topics asked for.
   * @returns {Set<string>}
   */
  function begin(handle) {
    asked.clear();
    following.clear();
    held = [];
    clearTimeout(timer);
    timer = null;
    deliver = handle;
    const entries = Object.entries(store.getState().topics);
    const topics = new Set();
    for (let start = 0; start < entries.length; start += RESUME_BATCH) {
      const batch = entries.slice(start, start + RESUME_BATCH);
      const positions = Object.fromEntries(
        batch.map(([topic, { seq, epoch }]) => [topic, { seq, epoch }]),
      );
      const id = socket.send('resume', { positions });
      if (id === null) break;
      const batchTopics = new Set(batch.map(([topic]) => topic));
      asked.set(id, batchTopics);
      for (const topic of batchTopics) topics.add(topic);
    }
    if (asked.size) timer = setTimeout(giveUp, RESUME_TIMEOUT_MS);
    return topics;
  }

  /**
   * Follow, from now on, the topic of each project not followed yet, so that its
   * notifications, workflow changes and agent status reach this tab whichever project is
   * open. The position sent matches no history (no epoch): the server subscribes the socket,
   * replays nothing and answers where the topic stands.
   * @param {string[]} projectIds
   */
  function follow(projectIds) {
    const { topics: known, current } = store.getState();
    const busy = [...asked.values(), ...following.values()];
    const topics = [...new Set(projectIds.map((id) => `project:${id}`))].filter(
      (topic) =>
        !(topic in known) &&
        topic !== `project:${current.projectId}` && // its channel's join follows it
        !busy.some((set) => set.has(topic)),
    );
    for (let start = 0; start < topics.length; start += RESUME_BATCH) {
      const batch = topics.slice(start, start + RESUME_BATCH);
      const positions = Object.fromEntries(batch.map((topic) => [topic, { seq: 0, epoch: '' }]));
      const id = socket.send('resume', { positions });
      if (id === null) return;
      following.set(id, new Set(batch));
    }
  }

  /** Keep a frame of a topic being resumed until its answer. True if kept. */
  function hold(frame) {
    if (!asked.size) return false;
    const mark = positionOf(frame);
    if (!mark || !holds(mark.topic)) return false;
    held.push(frame);
    return true;
  }

  /** Apply the frames held for the answered topics, note where they stand, fetch the rest. */
  function settle(id, answers) {
    const topics = asked.get(id);
    asked.delete(id);
    if (!asked.size) {
      clearTimeout(timer);
      timer = null;
    }
    const mine = held.filter((frame) => topics.has(frame.topic));
    held = held.filter((frame) => !topics.has(frame.topic));
    for (const frame of inTopicOrder(mine)) deliver(frame);
    store.dispatch({ type: 'RESUMED', data: answers });
    refetch(Object.keys(answers).filter((topic) => !answers[topic].recovered));
  }

  /**
   * Fetch again what could not be replayed: a channel is joined again (its last messages
   * replace its list); a project's list entry and agents are asked for again.
   */
  function refetch(topics) {
    const rejoined = new Set();
    const projects = new Set();
    for (const topic of topics) {
      const channel = channelOf(topic);
      if (channel) {
        commands.rejoin(channel.projectId, channel.channel, { replace: true });
        rejoined.add(channel.projectId); // its answer asks for /agents itself
        continue;
      }
      const projectId = projectOf(topic);
      if (projectId) projects.add(projectId);
    }
    if (!projects.size) return;
    commands.refreshProjects();
    for (const projectId of projects) {
      if (!rejoined.has(projectId)) commands.refreshAgents(projectId, null);
    }
  }

  /** The server's `resumed`: topic -> {recovered, seq, epoch} (or {recovered: false, error}). */
  function answered(frame) {
    const data = frame.data && typeof frame.data === 'object' ? frame.data : {};
    if (frame.ref && following.has(frame.ref)) {
      // Followed from now: where each stands is all there is to note; nothing was missed.
      const topics = following.get(frame.ref);
      following.delete(frame.ref);
      const answers = Object.fromEntries(
        [...topics].filter((topic) => data[topic]).map((topic) => [topic, data[topic]]),
      );
      store.dispatch({ type: 'RESUMED', data: answers });
      return;
    }
    const topics = frame.ref ? asked.get(frame.ref) : undefined;
    if (!topics) return; // an answer to a resume of an earlier socket
    const answers = {};
    for (const topic of topics) {
      const answer = data[topic];
      answers[topic] = answer && typeof answer === 'object' ? answer : { recovered: false };
    }
    settle(frame.ref, answers);
  }

  /** An `error` answering a `resume` (a server without it, a limit): fetch it all again. */
  function refused(ref) {
    if (ref && following.delete(ref)) return true; // the next project list tries again
    const topics = ref ? asked.get(ref) : undefined;
    if (!topics) return false;
    settle(ref, Object.fromEntries([...topics].map((topic) => [topic, { recovered: false }])));
    return true;
  }

  function giveUp() {
    timer = null;
    for (const id of [...asked.keys()]) refused(id);
  }

  return { begin, follow, hold, answered, refused };
}
