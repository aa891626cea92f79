/**
 * Group commit: concurrent callers queue their work, and one flush at a time writes everything
 * queued so far in a single transaction. Throughput then grows with concurrency instead of
 * collapsing to one fsync per caller, while each caller still learns its own outcome.
 */
import { AuditError } from '../errors.js';

export type FlushOutcome<R> = { ok: true; value: R } | { ok: false; error: Error };

export interface GroupCommitOptions {
  /** Most items one flush takes; the rest wait for the next flush. */
  maxItems: number;
}

interface Pending<I, R> {
  item: I;
  resolve: (value: R) => void;
  reject: (error: Error) => void;
}

export class GroupCommitter<I, R> {
  private queue: Pending<I, R>[] = [];
  private flushing: Promise<void> | undefined;
  private closed = false;

  /**
   * @param flush writes all items in one transaction and returns one outcome per item, in
   *   order. If it throws, nothing was committed: a flush of several items is then retried one
   *   item per flush, so each item fails only for its own reason (the flush must therefore be
   *   safe to call again with a subset of the items).
   */
  constructor(
    private readonly flush: (items: I[]) => Promise<FlushOutcome<R>[]>,
    private readonly options: GroupCommitOptions,
  ) {}

  submit(item: I): Promise<R> {
    // Transient for the caller: another process (or this one after a restart) takes the append.
    if (this.closed) return Promise.reject(new AuditError('AS_ERR_UNAVAILABLE', 'store is closing: append refused'));
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.flushing) this.flushing = this.drain();
    });
  }

  /** Number of items waiting for a flush. */
  get pending(): number {
    return this.queue.length;
  }

  private async drain(): Promise<void> {
    // Yield once so callers arriving in the same tick share the first flush.
    await new Promise<void>((r) => setImmediate(r));
    try {
      while (this.queue.length > 0) {
        const taken = this.queue.splice(0, this.options.maxItems);
        let outcomes: FlushOutcome<R>[];
        try {
          outcomes = await this.flush(taken.map((p) => p.item));
        } catch (err) {
          if (taken.length === 1) {
            taken[0]!.reject(asError(err));
            continue;
          }
          // Nothing was committed, and the failure may belong to one item alone (a value the
          // database refuses, a fault): retry each item in its own flush, so one caller's
          // failure never becomes another caller's.
          for (const p of taken) await this.flushAlone(p);
          continue;
        }
        taken.forEach((p, i) => {
          const o = outcomes[i]!;
          if (o.ok) p.resolve(o.value);
          else p.reject(o.error);
        });
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private async flushAlone(p: Pending<I, R>): Promise<void> {
    try {
      const [o] = await this.flush([p.item]);
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
