/**
 * Records the batch a sink with stable batches is about to send (first and last seq, migration
 * 0008), matching the holder's fencing token. Returns the rows changed: 0 means the lease is no
 * longer ours.
 */
import type { StoreTx } from '../../store/store.js';
import type { Lease } from '../lease.js';

export async function planSinkBatch(tx: StoreTx, lease: Lease, firstSeq: number, lastSeq: number): Promise<number> {
  const { changes } = await tx.run(
    `UPDATE audit_log_sinks SET batch_first_seq = ?, batch_last_seq = ?
     WHERE id = ? AND fence = ? AND lease_owner = ? AND state = 'active' AND cursor_seq < ?`,
    [firstSeq, lastSeq, lease.sinkId, lease.token, lease.owner, firstSeq],
  );
  return changes;
}
