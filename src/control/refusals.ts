/**
 * Refused reads leave a record, like refused mutations: one `ERROR` record (operation = the RPC or
 * route name) in the caller's own account. A loop of refused reads must not flood the log, so
 * each principal gets `REFUSED_READS_PER_WINDOW` records per window; past that, refusals are
 * counted, and one `RefusedCallsNotRecorded` record saying how many (and which operations) is
 * written when the window ends (or, at the latest, when the server stops).
 *
 * The count is per process: N processes behind one load balancer record at most N times the
 * limit, still bounded.
 */
import { buildDetails } from '../record/operations.js';
import type { AuditError } from '../errors.js';
import type { AccountCaller } from '../api/auth.js';
import type { CallContext } from '../api/cloud/handlers.js';
import type { ControlPlane } from './context.js';
import { buildRecord, recordRefusal } from './mutation.js';

/** Refused reads recorded one by one per principal and window (then counted). */
export const REFUSED_READS_PER_WINDOW = 10;
export const REFUSED_READS_WINDOW_MS = 60_000;

interface Window {
  startMs: number;
  recorded: number;
  dropped: number;
  operations: Set<string>;
  caller?: AccountCaller;
  ctx?: Pick<CallContext, 'peer' | 'forwardedFor'>;
  timer?: NodeJS.Timeout;
}

export class RefusedReadLimiter {
  readonly #windows = new Map<string, Window>();

  constructor(
    private readonly cp: ControlPlane,
    private readonly limit = REFUSED_READS_PER_WINDOW,
    private readonly windowMs = REFUSED_READS_WINDOW_MS,
  ) {}

  /** Records one refused read, or counts it when the principal is past its limit. */
  async record(
    caller: AccountCaller,
    ctx: Pick<CallContext, 'peer' | 'forwardedFor' | 'requestId'>,
    operation: string,
    details: Record<string, unknown>,
    err: AuditError,
  ): Promise<void> {
    const key = `${caller.accountId}\u0000${caller.principal.id}`;
    const now = Date.now();
    let w = this.#windows.get(key);
    if (w && now - w.startMs >= this.windowMs) {
      await this.#flush(key, w);
      w = undefined;
    }
    if (!w) {
      this.#sweep(now);
      w = { startMs: now, recorded: 0, dropped: 0, operations: new Set() };
      this.#windows.set(key, w);
    }
    if (w.recorded < this.limit) {
      w.recorded++;
      await recordRefusal(this.cp, caller, ctx, operation, buildDetails(operation, details), err, ctx.requestId);
      return;
    }
    w.dropped++;
    w.operations.add(operation);
    w.caller = caller;
    w.ctx = { peer: ctx.peer, ...(ctx.forwardedFor !== undefined ? { forwardedFor: ctx.forwardedFor } : {}) };
    if (!w.timer) {
      const win = w;
      win.timer = setTimeout(() => void this.#flush(key, win).catch(() => {}), Math.max(0, win.startMs + this.windowMs - now));
      win.timer.unref();
    }
  }

  /** Writes every pending "not recorded" count now (server shutdown). */
  async flushAll(): Promise<void> {
    for (const [key, w] of [...this.#windows]) await this.#flush(key, w).catch(() => {});
  }

  async #flush(key: string, w: Window): Promise<void> {
    if (this.#windows.get(key) === w) this.#windows.delete(key);
    if (w.timer) clearTimeout(w.timer);
    if (w.dropped === 0 || !w.caller || !w.ctx) return;
    const dropped = w.dropped;
    w.dropped = 0;
    const details = buildDetails('RefusedCallsNotRecorded', {
      dropped,
      operations: [...w.operations].sort(),
      window_start: new Date(w.startMs).toISOString(),
      reason: `more than ${this.limit} refused calls by this principal within ${this.windowMs / 1000} s: ${dropped} more were refused and not recorded one by one`,
    });
    try {
      await this.cp.store.append({
        accountId: w.caller.accountId,
        records: [buildRecord(this.cp, w.caller, w.ctx, { operation: 'RefusedCallsNotRecorded', details, status: 'ERROR' })],
        ingestedBy: null,
        clientLogIds: false,
      });
      this.cp.onCommit(w.caller.accountId);
    } catch (err) {
      this.cp.logger?.error({ err, dropped, principal: w.caller.principal.id }, 'could not record the count of refused calls');
    }
  }

  /** Forgets windows that ended without anything left to write, so the map stays small. */
  #sweep(now: number): void {
    if (this.#windows.size < 1000) return;
    for (const [key, w] of this.#windows) if (w.dropped === 0 && now - w.startMs >= this.windowMs) this.#windows.delete(key);
  }
}

const limiters = new WeakMap<ControlPlane, RefusedReadLimiter>();

/** The refused-read limiter of a control plane (one per process and control plane). */
export function refusedReads(cp: ControlPlane): RefusedReadLimiter {
  let l = limiters.get(cp);
  if (!l) limiters.set(cp, (l = new RefusedReadLimiter(cp)));
  return l;
}
