/**
 * Committing a sink's cursor without holding up its next send. The destination's acknowledgement
 * is what lets the cursor advance (cursor.ts); making that advance durable is a write transaction
 * (on SQLite an fsync, queued behind the ingest's group commits) that the next batch need not
 * wait for: a crash before it lands resends the batch, which at-least-once delivery allows. So
 * acknowledged batches are queued here, at most one commit is in flight per sink, and batches
 * acknowledged meanwhile are merged into the next one (one transaction for several batches).
 *
 * Order is kept (each commit names a later cursor than the one before), the fence still holds
 * (each commit checks the holder's token; a failure stops the worker through `check`), and the
 * worker flushes before it releases its lease, so whatever it had acknowledged is committed or it
 * is the next holder's to resend.
 */
import type { AuditStore } from '../store/store.js';
import type { Lease } from './lease.js';
import { commitBatch, type BatchCommit } from './cursor.js';

export class CursorCommitter {
  private pending: BatchCommit | undefined;
  private running: Promise<void> | undefined;
  private failure: { err: unknown } | undefined;

  constructor(
    private readonly store: AuditStore,
    private readonly lease: Lease,
  ) {}

  /** Queues an acknowledged batch (in cursor order); throws an earlier commit's failure. */
  add(c: BatchCommit): void {
    this.check();
    if (this.pending) {
      this.pending.lastSeq = c.lastSeq;
      this.pending.delivered += c.delivered;
      this.pending.deadLetters.push(...c.deadLetters);
      this.pending.filtered = (this.pending.filtered ?? 0) + (c.filtered ?? 0);
    } else {
      this.pending = { lastSeq: c.lastSeq, delivered: c.delivered, deadLetters: [...c.deadLetters], filtered: c.filtered ?? 0 };
    }
    this.running ??= this.drain();
  }

  /**
   * Waits while two acknowledged batches are uncommitted (one commit in flight, one queued): the
   * committed cursor stays within two batches of what was acknowledged, so a slow store slows
   * sends down rather than letting the resend after a crash grow.
   */
  async room(): Promise<void> {
    while (this.pending && this.running) await this.running;
    this.check();
  }

  /** Throws the failure of a commit (LeaseLostError, a store error), once one happened. */
  check(): void {
    if (this.failure) throw this.failure.err;
  }

  /** Resolves once everything queued is committed; rejects with a commit's failure. */
  async flush(): Promise<void> {
    while (this.running) await this.running;
    this.check();
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending && !this.failure) {
        const c = this.pending;
        this.pending = undefined;
        await commitBatch(this.store, this.lease, c);
      }
    } catch (err) {
      this.failure = { err };
    } finally {
      this.running = undefined;
    }
  }
}
