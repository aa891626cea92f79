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
}

/** Advances the cursor past an acknowledged batch (see the module comment). Throws LeaseLostError. */
export async function commitBatch(store: AuditStore, lease: Lease, c: BatchCommit, now = Date.now()): Promise<void> {
  await store.transaction(async (tx) => {
    const { changes } = await tx.run(
      `UPDATE audit_log_sinks SET cursor_seq = ?, delivered_count = delivered_count + ?, dead_letter_count = dead_letter_count + ?,
         last_success_ms = CASE WHEN ? > 0 THEN ? ELSE last_success_ms END,
         health = 'ok', error_kind = NULL, error_message = NULL, error_since_ms = NULL
       WHERE id = ? AND fence = ? AND lease_owner = ? AND state = 'active' AND cursor_seq < ?`,
      [c.lastSeq, c.delivered, c.deadLetters.length, c.delivered, now, lease.sinkId, lease.token, lease.owner, c.lastSeq],
    );
    if (changes !== 1) throw new LeaseLostError(lease.sinkId);
    for (const d of c.deadLetters) {
      await tx.run(
        `INSERT INTO audit_log_sink_dead_letters (sink_id, seq, log_id, reason, created_ms) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (sink_id, seq) DO UPDATE SET reason = excluded.reason, created_ms = excluded.created_ms`,
        [lease.sinkId, d.seq, d.logId, d.reason.slice(0, 1000), now],
      );
    }
  });
}

/** Records a delivery error in the sink's status (health error + message + since). Fenced. */
export async function markError(store: AuditStore, lease: Lease, kind: SinkErrorKind, message: string, now = Date.now()): Promise<void> {
  await store.transaction((tx) =>
    tx.run(
      `UPDATE audit_log_sinks SET health = 'error', error_kind = ?, error_message = ?,
         error_since_ms = CASE WHEN error_since_ms IS NULL THEN ? ELSE error_since_ms END
       WHERE id = ? AND fence = ? AND lease_owner = ?`,
      [kind, message.slice(0, 1000), now, lease.sinkId, lease.token, lease.owner],
    ),
  );
}
