/**
 * The durable cursor and the holder's other fenced writes.
 *
 * **When the cursor advances:** only in `commitBatch`, after the destination acknowledged every
 * entry of a batch (classify said `ok` for what was sent, resends included) and every entry it
 * refused for good is in the dead-letter table — in one transaction, matching the holder's
 * fencing token. So a crash at any point resends, never skips (at-least-once), and a process that
 * lost its lease cannot move the cursor.
 */
import type { AuditStore } from '../store/store.js';
import type { Lease } from './lease.js';
import type { SinkErrorKind } from './sql/sink-row.js';
import { advanceCursor } from './sql/advance-cursor.js';
import { insertDeadLetters } from './sql/insert-dead-letters.js';
import { markSinkError } from './sql/mark-sink-error.js';
import { planSinkBatch } from './sql/plan-sink-batch.js';

/** Thrown inside a fenced transaction when the token no longer matches: rolls it back. */
export class LeaseLostError extends Error {
  constructor(sinkId: string) {
    super(`lease on sink ${sinkId} was lost`);
    this.name = 'LeaseLostError';
  }
}

export interface DeadLetter {
  seq: number;
  logId: string;
  reason: string;
}

export interface BatchCommit {
  /** Last seq of the batch: the new cursor. */
  lastSeq: number;
  delivered: number;
  deadLetters: DeadLetter[];
  /** Records of the batch's range the sink's filter skipped (counted, never sent). */
  filtered?: number;
}

/**
 * Advances the cursor past an acknowledged batch (see the module comment). Throws LeaseLostError.
 * Without dead letters the commit need not be durable at once (`durable: false`: no fsync of its
 * own): losing it to a power failure only resends the batch, which at-least-once allows, while an
 * fsync per batch on the process's one writer would hold up ingest and every other sink. A
 * commit that writes dead letters is durable: they are the only record of what was refused.
 */
export async function commitBatch(store: AuditStore, lease: Lease, c: BatchCommit, now = Date.now()): Promise<void> {
  await store.transaction(
    async (tx) => {
      const changes = await advanceCursor(tx, lease, c.lastSeq, c.delivered, c.deadLetters.length, now, c.filtered ?? 0);
      if (changes !== 1) throw new LeaseLostError(lease.sinkId);
      await insertDeadLetters(tx, lease.sinkId, c.deadLetters, now);
    },
    { durable: c.deadLetters.length > 0 },
  );
}

/** Records a delivery error in the sink's status (health error + message + since). Fenced. */
export async function markError(store: AuditStore, lease: Lease, kind: SinkErrorKind, message: string, now = Date.now()): Promise<void> {
  await store.transaction((tx) => markSinkError(tx, lease, kind, message, now));
}

/**
 * Makes a batch's boundaries durable before it is sent, for a sink with stable batches
 * (`SinkLimits.stableBatches`): whoever sends next — this holder after a failure, or the next one
 * after a crash — sends exactly `firstSeq..lastSeq`, so an object sink writes the same key with the
 * same bytes and a record lands in one object only. Fenced and durable (an fsync per batch: object
 * sinks send one batch per window). Throws LeaseLostError.
 */
export async function persistPlannedBatch(store: AuditStore, lease: Lease, firstSeq: number, lastSeq: number): Promise<void> {
  await store.transaction(
    async (tx) => {
      if ((await planSinkBatch(tx, lease, firstSeq, lastSeq)) !== 1) throw new LeaseLostError(lease.sinkId);
    },
    { durable: true },
  );
}
