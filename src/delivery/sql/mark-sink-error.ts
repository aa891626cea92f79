/**
 * Puts a delivery error in a sink's status: health `error`, its kind and message (cut to 1,000
 * characters), and since when (kept from the first error until a batch goes through). Fenced by
 * the holder's token: a holder that lost the lease changes nothing.
 */
import type { StoreTx } from '../../store/store.js';
import type { Lease } from '../lease.js';
import type { SinkErrorKind } from './sink-row.js';

export async function markSinkError(tx: StoreTx, lease: Lease, kind: SinkErrorKind, message: string, now: number): Promise<void> {
  await tx.run(
    `UPDATE audit_log_sinks SET health = 'error', error_kind = ?, error_message = ?,
       error_since_ms = CASE WHEN error_since_ms IS NULL THEN ? ELSE error_since_ms END
     WHERE id = ? AND fence = ? AND lease_owner = ?`,
    [kind, message.slice(0, 1000), now, lease.sinkId, lease.token, lease.owner],
  );
}
