// Reconnect delays: exponential with "equal jitter", so a restarted server is not stampeded.

export const BACKOFF = Object.freeze({ baseMs: 1000, factor: 2, maxMs: 30_000 });

/** After the server closed the socket for abuse (4429): 15–30 s, then longer, up to 2 min. */
export const RATE_LIMIT_BACKOFF = Object.freeze({ baseMs: 30_000, factor: 2, maxMs: 120_000 });

/**
 * The delay before reconnect attempt number `attempt` (0 for the first retry).
 * Half of the exponential ceiling is fixed, the other half random.
 */
export function nextDelay(attempt, random = Math.random, options = BACKOFF) {
  const ceiling = Math.min(options.maxMs, options.baseMs * options.factor ** attempt);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
