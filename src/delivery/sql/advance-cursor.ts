/**
 * Moves a sink's cursor past an acknowledged batch and resets its health to ok, matching the
 * holder's fencing token (when the cursor may move: src/delivery/cursor.ts). Returns the rows
 * changed: 0 means the lease is no longer ours (or the cursor is already there).
 */
import type { StoreTx } from '../../store/store.js';
import type { Lease } from '../lease.js';

export async function advanceCursor(
  tx: StoreTx,
  lease: Lease,
  lastSeq: number,
  delivered: number,
  deadLettered: number,
  now: number,
  filtered = 0,
): Promise<number> {
  const { changes } = await tx.run(
    `UPDATE audit_log_sinks SET cursor_seq = ?, delivered_count = delivered_count + ?, dead_letter_count = dead_letter_count + ?,
       filtered_count = filtered_count + ?,
       last_success_ms = CASE WHEN ? > 0 THEN ? ELSE last_success_ms END,
       health = 'ok', error_kind = NULL, error_message = NULL, error_since_ms = NULL
     WHERE id = ? AND fence = ? AND lease_owner = ? AND state = 'active' AND cursor_seq < ?`,
    [lastSeq, delivered, deadLettered, filtered, delivered, now, lease.sinkId, lease.token, lease.owner, lastSeq],
  );
  return changes;
}
