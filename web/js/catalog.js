// The command catalog (from `/help`) and what is allowed now: for autocomplete and the palette.

/** Keyboard shortcuts, listed in help. */
export const SHORTCUTS = [
  ['Ctrl/⌘ + K', 'Command palette'],
  ['Enter', 'Send'],
  ['Shift + Enter', 'New line'],
  ['↑ / ↓', 'Previous / next sent message (or move in the command list)'],
  ['Tab', 'Complete the selected command'],
  ['Esc', 'Close a list, a modal or a drawer'],
  ['?', 'Help (when not typing)'],
  ['Ctrl/⌘ + Shift + D', 'Switch chat / dashboard'],
  ['Space / Enter', 'Board: pick up the focused card (Enter again drops it)'],
  ['← / →', 'Board: move the picked-up card to another column'],
  ['Esc', 'Board: put the picked-up card back'],
];

/**
 * Commands matching what is typed (`/spr` → `/sprint …`), each with whether it is allowed now.
 * `allowed`: the command names allowed now (from `/api/projects/{id}/state`), or null to decide
 * by `allowed_in` and the project's workflow state (null: no project; see `isAllowed`).
 * @param {Array<{command: string, usage: string, description: string, allowed_in: string[]}>} catalog
 */
export function suggest(
  catalog,
  text,
  { state = null, allowed = null, inProject = true, limit = 8 } = {},
) {
  const typed = text.trimStart().toLowerCase();
  if (!typed.startsWith('/')) return [];
  const words = typed.split(/\s+/);
  const matches = catalog.filter((entry) => {
    const name = entry.command.toLowerCase();
    if (words.length === 1) return name.startsWith(words[0]);
    // "/sprint st" → "/sprint start"; once a command's arguments start, keep showing it.
    return name.startsWith(typed.trimEnd()) || typed.startsWith(`${name} `) || typed === name;
  });
  return matches.slice(0, limit).map((entry) => ({
    ...entry,
    allowedNow: isAllowed(entry, { state, allowed, inProject }),
  }));
}

/** The catalog entry of a command line ("/approve S1" → "/approve"): the longest name it starts. */
export function entryFor(catalog, line) {
  let found = null;
  for (const entry of catalog) {
    const name = entry.command;
    const starts = line === name || line.startsWith(`${name} `);
    if (starts && name.length > (found?.command.length ?? 0)) found = entry;
  }
  return found;
}

/**
 * Whether `entry` can run now. `inProject`: a project's channel is open (without one, a
 * command that needs a project cannot run, whatever the states it is allowed in).
 */
export function isAllowed(entry, { state = null, allowed = null, inProject = true } = {}) {
  if (!inProject && entry.needs_project) return false;
  if (Array.isArray(allowed)) return allowed.includes(entry.command);
  if (!state || !Array.isArray(entry.allowed_in)) return true;
  return entry.allowed_in.includes(state);
}
