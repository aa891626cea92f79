/**
 * The `audit_log_sinks` row (migration 0003_delivery) as the delivery code sees it, and the
 * columns every SELECT of it reads (sink-by-id.ts, sink-by-name.ts, sinks-of-account.ts). Numbers
 * come back as numbers on both engines (pg's BIGINT parser is set in postgres-store.ts; SQLite
 * returns integers).
 */
import type { StoredSinkSpec } from '../adapter.js';

export type SinkState = 'active' | 'deleting';
export type SinkHealth = 'ok' | 'error';
/** Mirrors Temporal's AuditLogSink.Health: a configuration error is the customer's to fix. */
export type SinkErrorKind = 'user_configuration' | 'internal';

export interface SinkRow {
  id: string;
  accountId: string;
  name: string;
  kind: string;
  spec: StoredSinkSpec;
  enabled: boolean;
  state: SinkState;
  resourceVersion: string;
  createdMs: number;
  modifiedMs: number;
  /** Last seq of the account's chain the destination acknowledged. */
  cursorSeq: number;
  leaseOwner: string | null;
  leaseExpiresMs: number | null;
  fence: number;
  health: SinkHealth;
  errorKind: SinkErrorKind | null;
  errorMessage: string | null;
  errorSinceMs: number | null;
  lastSuccessMs: number | null;
  deliveredCount: number;
  deadLetterCount: number;
  expiredCount: number;
  /** Records the sink's filter skipped. */
  filteredCount: number;
  /** The batch being sent by a sink with stable batches (first and last seq), or null (migration 0008). */
  plannedBatch: { first: number; last: number } | null;
}

export interface RawSinkRow {
  id: string;
  account_id: string;
  name: string;
  kind: string;
  spec_json: string;
  enabled: number;
  state: string;
  resource_version: string;
  created_ms: number;
  modified_ms: number;
  cursor_seq: number;
  lease_owner: string | null;
  lease_expires_ms: number | null;
  fence: number;
  health: string;
  error_kind: string | null;
  error_message: string | null;
  error_since_ms: number | null;
  last_success_ms: number | null;
  delivered_count: number;
  dead_letter_count: number;
  expired_count: number;
  filtered_count: number;
  batch_first_seq: number | null;
  batch_last_seq: number | null;
}

const num = (v: unknown): number => Number(v);
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

export function toSinkRow(r: RawSinkRow): SinkRow {
  return {
    id: r.id,
    accountId: r.account_id,
    name: r.name,
    kind: r.kind,
    spec: JSON.parse(r.spec_json) as StoredSinkSpec,
    enabled: num(r.enabled) === 1,
    state: r.state as SinkState,
    resourceVersion: r.resource_version,
    createdMs: num(r.created_ms),
    modifiedMs: num(r.modified_ms),
    cursorSeq: num(r.cursor_seq),
    leaseOwner: r.lease_owner,
    leaseExpiresMs: numOrNull(r.lease_expires_ms),
    fence: num(r.fence),
    health: r.health as SinkHealth,
    errorKind: r.error_kind as SinkErrorKind | null,
    errorMessage: r.error_message,
    errorSinceMs: numOrNull(r.error_since_ms),
    lastSuccessMs: numOrNull(r.last_success_ms),
    deliveredCount: num(r.delivered_count),
    deadLetterCount: num(r.dead_letter_count),
    expiredCount: num(r.expired_count),
    filteredCount: num(r.filtered_count),
    plannedBatch:
      r.batch_first_seq === null || r.batch_last_seq === null || r.batch_first_seq === undefined || r.batch_last_seq === undefined
        ? null
        : { first: num(r.batch_first_seq), last: num(r.batch_last_seq) },
  };
}

export const SINK_COLUMNS =
  'id, account_id, name, kind, spec_json, enabled, state, resource_version, created_ms, modified_ms, cursor_seq, lease_owner, ' +
  'lease_expires_ms, fence, health, error_kind, error_message, error_since_ms, last_success_ms, delivered_count, dead_letter_count, expired_count, filtered_count, ' +
  'batch_first_seq, batch_last_seq';
