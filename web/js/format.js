// Small pure formatting helpers shared by the views.

/** "14:05" for today, "Mar 3, 14:05" otherwise. `ts` is in seconds (server time). */
export function formatTime(ts) {
  const date = new Date(ts * 1000);
  const time = date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const today = new Date();
  if (date.toDateString() === today.toDateString()) return `Today at ${time}`;
  const day = date.toLocaleDateString([], { month: 'short', day: 'numeric' });
  return `${day}, ${time}`;
}

/** Short clock time for compact rows. */
export function formatClock(ts) {
  return new Date(ts * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** The first letter of a name, for avatars. */
export function initial(name) {
  return (name || '?').trim().charAt(0).toUpperCase() || '?';
}

const AVATAR_TONES = 8;

/** A stable colour class for a name, so a user keeps their avatar colour (no inline styles). */
export function avatarClass(name) {
  let hash = 0;
  for (const char of name || '') hash = (hash * 31 + char.codePointAt(0)) >>> 0;
  return `avatar-tone-${hash % AVATAR_TONES}`;
}

/** "BACKLOG_READY" -> "Backlog ready". */
export function humanState(state) {
  if (!state) return '';
  const words = state.toLowerCase().split('_');
  return [words[0].charAt(0).toUpperCase() + words[0].slice(1), ...words.slice(1)].join(' ');
}

/** How long a wait has lasted, for a pending command: '' under `fromS` seconds, else '12 s',
 * '2 min 5 s'. */
export function formatWait(seconds, fromS = 3) {
  const s = Math.floor(seconds);
  if (s < fromS) return '';
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** A command not yet taken in by the server says so past this long (s): a busy broker. */
export const SLOW_SEND_S = 5;

/** How long a pending command has waited, and, while still sending past SLOW_SEND_S, why. */
export function pendingWait(seconds, status) {
  const waited = formatWait(seconds);
  if (status !== 'sending' || seconds < SLOW_SEND_S) return waited;
  return `${waited} · the server is slow to take it in (busy); it is not lost while connected`;
}
