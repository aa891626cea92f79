/**
 * Group commit: concurrent callers queue their work, and a flush writes everything queued so far
 * in a single transaction. Throughput then grows with concurrency instead of collapsing to one
 * fsync per caller, while each caller still learns its own outcome.
 *
 * Flushes may overlap (`maxInFlight` > 1): a flush calls `ready` once the next one may start (on
 * PostgreSQL, once it has planned its rows and only the database's work is left), so the next
 * commit is planned while the database writes this one.
 */
import { AuditError } from '../errors.js';

export type FlushOutcome<R> = { ok: true; value: R } | { ok: false; error: Error };

export interface GroupCommitOptions {
  /** Most items one flush takes; the rest wait for the next flush. */
  maxItems: number;
  /** Flushes that may run at once; default 1 (each flush starts after the last one ended). */
  maxInFlight?: number;
}

interface Pending<I, R> {
  item: I;
  resolve: (value: R) => void;
  reject: (error: Error) => void;
}

/**
 * Writes all items in one transaction and returns one outcome per item, in order. If it throws,
 * nothing was committed: a flush of several items is then retried one item per flush, so each
 * item fails only for its own reason (the flush must therefore be safe to call again with a
 * subset of the items). `ready` lets the next flush start before this one ends; calling it is
 * optional (it is implied when the flush ends).
 */
export type Flush<I, R> = (items: I[], ready: () => void) => Promise<FlushOutcome<R>[]>;

export class GroupCommitter<I, R> {
  private queue: Pending<I, R>[] = [];
  private flushing: Promise<void> | undefined;
  private closed = false;
  /** Wakes the drain loop when an item arrives while it waits for a flush to end. */
  private wake: (() => void) | undefined;

  constructor(
    private readonly flush: Flush<I, R>,
    private readonly options: GroupCommitOptions,
  ) {}

  submit(item: I): Promise<R> {
    // Transient for the caller: another process (or this one after a restart) takes the append.
    if (this.closed) return Promise.reject(new AuditError('AS_ERR_UNAVAILABLE', 'store is closing: append refused'));
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.flushing) this.flushing = this.drain();
      else this.wake?.();
    });
  }

  /** Number of items waiting for a flush. */
  get pending(): number {
    return this.queue.length;
  }

  private async drain(): Promise<void> {
    const maxInFlight = this.options.maxInFlight ?? 1;
    const inFlight = new Set<Promise<void>>();
    let first = true;
    try {
      for (;;) {
        if (this.queue.length > 0 && inFlight.size < maxInFlight) {
          // Yield so callers arriving in the same tick share the flush: before the first one, and
          // before one that starts while another is in flight (it would otherwise take one caller).
          if (first || inFlight.size > 0) await new Promise<void>((r) => setImmediate(r));
          first = false;
          const taken = this.queue.splice(0, this.options.maxItems);
          let ready!: () => void;
          const readyNow = new Promise<void>((r) => (ready = r));
          const run: Promise<void> = this.runFlush(taken, ready).finally(() => {
            inFlight.delete(run);
            ready();
          });
          inFlight.add(run);
          await readyNow;
          continue;
        }
        if (inFlight.size === 0) {
          if (this.queue.length === 0) return;
          continue;
        }
        // Wait for a flush to end, or (with a slot free) for the next item.
        const arrived = new Promise<void>((r) => (this.wake = inFlight.size < maxInFlight ? r : undefined));
        await Promise.race([...inFlight, arrived]);
        this.wake = undefined;
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private async runFlush(taken: Pending<I, R>[], ready: () => void): Promise<void> {
    let outcomes: FlushOutcome<R>[];
    try {
      outcomes = await this.flush(
        taken.map((p) => p.item),
        ready,
      );
    } catch (err) {
      if (taken.length === 1) {
        taken[0]!.reject(asError(err));
        return;
      }
      // Nothing was committed, and the failure may belong to one item alone (a value the
      // database refuses, a fault): retry each item in its own flush, so one caller's failure
      // never becomes another caller's.
      for (const p of taken) await this.flushAlone(p);
      return;
    }
    taken.forEach((p, i) => {
      const o = outcomes[i]!;
      if (o.ok) p.resolve(o.value);
      else p.reject(o.error);
    });
  }

  private async flushAlone(p: Pending<I, R>): Promise<void> {
    try {
      const [o] = await this.flush([p.item], () => {});
      if (o!.ok) p.resolve(o!.value);
      else p.reject(o!.error);
    } catch (err) {
      p.reject(asError(err));
    }
  }

  /** Refuses new items and waits until everything queued is flushed. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.flushing) await this.flushing;
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
