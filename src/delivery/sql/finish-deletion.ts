/**
 * Second half of a fenced delete (see src/delivery/lease.ts "Delete fence"; the first is
 * mark-deleting.ts): remove the sink once its last holder let go or its lease expired.
 */
import type { AuditStore } from '../../store/store.js';

/**
 * Removes a `deleting` sink with its dead letters and replays, if no holder can still be sending:
 * its lease is released, or expired more than `clockSkewMs` ago. In the same transaction, the
 * delete operations still in progress for it (`async_operations.resource_id`, set by the
 * control plane) become STATE_FULFILLED: an operation reports done exactly when the sink is gone.
 * Returns whether it is gone.
 */
export async function finishDeletion(store: AuditStore, sinkId: string, clockSkewMs: number, now = Date.now()): Promise<boolean> {
  return store.transaction(async (tx) => {
    const row = await tx.get<{ state: string; lease_owner: string | null; lease_expires_ms: number | null }>(
      'SELECT state, lease_owner, lease_expires_ms FROM audit_log_sinks WHERE id = ?',
      [sinkId],
    );
    if (!row) return true;
    if (row.state !== 'deleting') return false;
    if (row.lease_owner !== null && Number(row.lease_expires_ms) + clockSkewMs >= now) return false;
    await tx.run('DELETE FROM audit_log_sink_dead_letters WHERE sink_id = ?', [sinkId]);
    await tx.run('DELETE FROM audit_log_sink_replays WHERE sink_id = ?', [sinkId]);
    await tx.run("DELETE FROM audit_log_sinks WHERE id = ? AND state = 'deleting'", [sinkId]);
    await tx.run("UPDATE async_operations SET state = 'STATE_FULFILLED', finished_ms = ? WHERE resource_id = ? AND state = 'STATE_IN_PROGRESS'", [now, sinkId]);
    return true;
  });
}
