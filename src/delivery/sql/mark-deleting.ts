/**
 * First half of a fenced delete (see src/delivery/lease.ts "Delete fence"): mark the row
 * `deleting` and bump its fence inside the caller's transaction. The second half is
 * finish-deletion.ts.
 */
import type { StoreTx } from '../../store/store.js';

/** In the caller's transaction: no holder may send or commit for this sink from its commit on. */
export async function markDeleting(tx: StoreTx, sinkId: string, now = Date.now()): Promise<void> {
  await tx.run("UPDATE audit_log_sinks SET state = 'deleting', fence = fence + 1, modified_ms = ? WHERE id = ?", [now, sinkId]);
}
