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
   *   order; if it throws, every item of that flush fails with the error (nothing was committed).
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
          const error = err instanceof Error ? err : new Error(String(err));
          for (const p of taken) p.reject(error);
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

  /** Refuses new items and waits until everything queued is flushed. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.flushing) await this.flushing;
  }
}
