/**
 * Extends a held lease, if the sink still carries the holder's token and is active and enabled.
 * Returns the rows changed: 0 when the lease was lost (taken over, deleted, disabled).
 */
import type { StoreTx } from '../../store/store.js';
import type { Lease } from '../lease.js';

export async function renewSinkLease(tx: StoreTx, lease: Lease, expiresMs: number): Promise<number> {
  const { changes } = await tx.run(
    `UPDATE audit_log_sinks SET lease_expires_ms = ?
     WHERE id = ? AND fence = ? AND lease_owner = ? AND state = 'active' AND enabled = 1`,
    [expiresMs, lease.sinkId, lease.token, lease.owner],
  );
  return changes;
}
