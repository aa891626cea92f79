/**
 * Clears the holder's name from its sink. Matches the owner only, not the token: a holder that
 * saw its sink deleted (token bumped) still lets go, so the deleter need not wait for expiry.
 */
import type { StoreTx } from '../../store/store.js';
import type { Lease } from '../lease.js';

export async function releaseSinkLease(tx: StoreTx, lease: Lease): Promise<void> {
  await tx.run('UPDATE audit_log_sinks SET lease_owner = NULL, lease_expires_ms = NULL WHERE id = ? AND lease_owner = ?', [lease.sinkId, lease.owner]);
}
