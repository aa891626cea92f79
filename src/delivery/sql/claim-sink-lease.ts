/**
 * Takes a free or expired lease on an active, enabled sink, bumping its fencing token (what a
 * lease is: src/delivery/lease.ts). Returns the rows changed: 0 when another holds it.
 */
import type { StoreTx } from '../../store/store.js';

export async function claimSinkLease(tx: StoreTx, sinkId: string, owner: string, expiresMs: number, now: number): Promise<number> {
  const { changes } = await tx.run(
    `UPDATE audit_log_sinks SET lease_owner = ?, lease_expires_ms = ?, fence = fence + 1
     WHERE id = ? AND state = 'active' AND enabled = 1 AND (lease_owner IS NULL OR lease_expires_ms < ?)`,
    [owner, expiresMs, sinkId, now],
  );
  return changes;
}
