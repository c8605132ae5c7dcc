// Moving a board card without a mouse: the keyboard's pick-up / choose / drop state machine,
// and where a touch drag ends. Pure: the dashboard view feeds it keys and renders its answers.
import { humanState } from './format.js';

/**
 * @typedef {{entityId: string, entityType: string, title: string, from: string, to: string}} Carry
 * @typedef {{carry: Carry|null, send?: {entityId: string, status: string}|null,
 *            announce?: string, handled: boolean}} KeyAnswer
 */

const PICK_KEYS = new Set([' ', 'Enter']);

/** The column index `step` away from `status` in `columns`, clamped to the lane's ends. */
function neighbour(columns, status, step) {
  const index = columns.indexOf(status);
  if (index < 0) return columns[0] ?? status;
  return columns[Math.min(columns.length - 1, Math.max(0, index + step))];
}

/**
 * One key on the board. `carry`: the card being moved (null: none); `card`: the focused card
 * ({entityId, entityType, title, status}) or null; `columns`: its lane's statuses in order.
 * Returns the next carry, the change to send (if a drop moved the card), what to announce and
 * whether the key was used (the caller then prevents its default).
 * @returns {KeyAnswer}
 */
export function boardKey(carry, key, { card = null, columns = [] } = {}) {
  if (!carry) {
    if (!card || !PICK_KEYS.has(key)) return { carry: null, handled: false };
    const picked = {
      entityId: card.entityId,
      entityType: card.entityType,
      title: card.title,
      from: card.status,
      to: card.status,
    };
    return {
      carry: picked,
      handled: true,
      announce: `Picked up ${card.title} in ${humanState(card.status)}. Left and right arrows choose a column, Enter drops, Escape cancels.`,
    };
  }
  if (key === 'ArrowLeft' || key === 'ArrowRight') {
    const to = neighbour(columns, carry.to, key === 'ArrowLeft' ? -1 : 1);
    return { carry: { ...carry, to }, handled: true, announce: `${carry.title}: over ${humanState(to)}.` };
  }
  if (PICK_KEYS.has(key)) {
    if (carry.to === carry.from) {
      return { carry: null, handled: true, announce: `${carry.title} stays in ${humanState(carry.from)}.` };
    }
    return {
      carry: null,
      handled: true,
      send: { entityId: carry.entityId, status: carry.to },
      announce: `${carry.title} dropped in ${humanState(carry.to)}.`,
    };
  }
  if (key === 'Escape') {
    return { carry: null, handled: true, announce: `Move cancelled: ${carry.title} stays in ${humanState(carry.from)}.` };
  }
  if (key === 'Tab') return { carry: null, handled: false, announce: `Move cancelled.` };
  // Any other key while carrying is swallowed, so that the page does not act on it.
  return { carry, handled: true };
}

/** A touch moved far enough from where it started to be a drag (not a tap or a scroll). */
export function isDrag(start, point, threshold = 8) {
  return Math.hypot(point.x - start.x, point.y - start.y) >= threshold;
}

/**
 * Where a drag of `card` onto a column with `status` of `entityType` leads: the status to send,
 * or null (another lane, or the column it is in already).
 */
export function dropStatus(card, column) {
  if (!card || !column || column.entityType !== card.entityType) return null;
  return column.status && column.status !== card.status ? column.status : null;
}
