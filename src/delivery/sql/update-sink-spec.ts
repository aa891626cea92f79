/** Replaces a sink's spec (and kind, enabled flag, resource version); the cursor and lease stay. */
import type { StoreTx } from '../../store/store.js';
import type { StoredSinkSpec } from '../adapter.js';

export async function updateSinkSpec(tx: StoreTx, sinkId: string, kind: string, spec: StoredSinkSpec, resourceVersion: string, now: number): Promise<void> {
  await tx.run('UPDATE audit_log_sinks SET kind = ?, spec_json = ?, enabled = ?, resource_version = ?, modified_ms = ? WHERE id = ?', [
    kind,
    JSON.stringify(spec),
    spec.enabled ? 1 : 0,
    resourceVersion,
    now,
    sinkId,
  ]);
}
