/** Stores a new sink: active, healthy, no lease, its cursor at `cursorSeq`. */
import type { StoreTx } from '../../store/store.js';
import type { StoredSinkSpec } from '../adapter.js';

export interface NewSink {
  id: string;
  accountId: string;
  kind: string;
  /** Stored as given: the caller keeps only the spec's known fields. */
  spec: StoredSinkSpec;
  resourceVersion: string;
  cursorSeq: number;
  now: number;
}

export async function insertSink(tx: StoreTx, s: NewSink): Promise<void> {
  await tx.run(
    `INSERT INTO audit_log_sinks (id, account_id, name, kind, spec_json, enabled, state, resource_version, created_ms, modified_ms,
       cursor_seq, lease_owner, lease_expires_ms, fence, health, error_kind, error_message, error_since_ms, last_success_ms,
       delivered_count, dead_letter_count, expired_count)
     VALUES (?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?, NULL, NULL, 0, 'ok', NULL, NULL, NULL, NULL, 0, 0, 0)`,
    [s.id, s.accountId, s.spec.name, s.kind, JSON.stringify(s.spec), s.spec.enabled ? 1 : 0, s.resourceVersion, s.now, s.now, s.cursorSeq],
  );
}
