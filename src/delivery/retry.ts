/**
 * Exponential backoff with jitter for failed sends ("equal jitter" from the AWS Architecture
 * Blog, "Exponential Backoff And Jitter", 2015): the delay doubles per attempt up to a cap, and
 * half of it is random so many sinks failing together (one provider outage) do not retry in step.
 */

export interface BackoffPolicy {
  /** Delay after the first failure. */
  baseMs: number;
  /** Largest delay. */
  maxMs: number;
}

/** Transient failures (network, 5xx, InternalFailure): retry soon, cap at 30 s. */
export const TRANSIENT_BACKOFF: BackoffPolicy = { baseMs: 200, maxMs: 30_000 };
/** Configuration errors (role, stream, permission): the customer must act; cap at 5 min. */
export const FATAL_BACKOFF: BackoffPolicy = { baseMs: 5_000, maxMs: 300_000 };

/** Delay before retry number `attempt` (0 = first retry): in [d/2, d], d = min(max, base·2^attempt). */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const d = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(d / 2 + random() * (d / 2));
}

/** Resolves after `ms`, or early (without throwing) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted || ms <= 0) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
