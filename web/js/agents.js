// The project's AI agents: who they are, how they look, and `@Agent` mentions.

/** The agents of every project, in the order the panel lists them. */
export const AGENTS = Object.freeze(['DesignAgent', 'QAAgent', 'CodeAgent', 'DataAgent']);

const META = Object.freeze({
  DesignAgent: { initials: 'DE', role: 'Design and architecture', tone: 'agent-tone-design' },
  QAAgent: { initials: 'QA', role: 'Tests first (red)', tone: 'agent-tone-qa' },
  CodeAgent: { initials: 'CO', role: 'Code, refactor, commit', tone: 'agent-tone-code' },
  DataAgent: { initials: 'DA', role: 'Data and analysis', tone: 'agent-tone-data' },
});

/** How an agent looks: two-letter initials, a colour class, what it does. */
export function agentMeta(agentId) {
  const known = META[agentId];
  if (known) return known;
  const capitals = String(agentId || '?').replace(/[^A-Z]/g, '');
  return {
    initials: (capitals || String(agentId || '?')).slice(0, 2).toUpperCase(),
    role: '',
    tone: 'agent-tone-other',
  };
}

export const STATUS_LABELS = Object.freeze({
  idle: 'Idle',
  working: 'Working',
  waiting: 'Waiting',
  blocked: 'Blocked',
  paused: 'Paused',
  unknown: 'No status yet',
});

export const PHASE_LABELS = Object.freeze({
  DESIGN: 'Design',
  TEST_RED: 'Test · red',
  CODE_GREEN: 'Code · green',
  REFACTOR: 'Refactor',
  COMMIT: 'Commit',
});

const MENTION = new RegExp(`^@(${AGENTS.join('|')})(?=\\s|$)`, 'i');

/**
 * Is `text` addressed to an agent (`@CodeAgent …`)? Gives the agent's id (as the server
 * spells it) and the message without the mention; null for anything else.
 * @param {string} text
 * @returns {{agentId: string, message: string} | null}
 */
export function parseMention(text) {
  const trimmed = text.trimStart();
  const match = MENTION.exec(trimmed);
  if (!match) return null;
  const agentId = AGENTS.find((id) => id.toLowerCase() === match[1].toLowerCase());
  return { agentId, message: trimmed.slice(match[0].length).trim() };
}

/** A progress value the UI can show (0-100, integer), or null. */
export function clampProgress(progress) {
  if (typeof progress !== 'number' || !Number.isFinite(progress)) return null;
  return Math.round(Math.min(100, Math.max(0, progress)));
}
