/** Replaces a sink's spec (and kind, enabled flag, resource version); the cursor and lease stay. */
import type { StoreTx } from '../../store/store.js';
import type { AuditLogSinkSpec, SinkKind } from '../../sinks/spec.js';

export async function updateSinkSpec(tx: StoreTx, sinkId: string, kind: SinkKind, spec: AuditLogSinkSpec, resourceVersion: string, now: number): Promise<void> {
  await tx.run('UPDATE audit_log_sinks SET kind = ?, spec_json = ?, enabled = ?, resource_version = ?, modified_ms = ? WHERE id = ?', [
    kind,
    JSON.stringify(spec),
    spec.enabled ? 1 : 0,
    resourceVersion,
    now,
    sinkId,
  ]);
}
