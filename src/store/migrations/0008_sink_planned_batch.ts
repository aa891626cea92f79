/**
 * The batch a sink with stable batches (src/delivery/adapter.ts `SinkLimits.stableBatches`, the S3
 * sink) is sending: its first and last sequence, written before the send and kept until the
 * cursor passes it, so a resend after a crash covers exactly the same records (the same object key,
 * the same bytes). NULL: no batch planned (every other kind).
 * (docs/decisions/0022-deterministic-object-batches.md)
 */
import type { Migration } from './index.js';

const sql = `ALTER TABLE audit_log_sinks ADD COLUMN batch_first_seq BIGINT;
ALTER TABLE audit_log_sinks ADD COLUMN batch_last_seq BIGINT;`;

export const m0008: Migration = { id: '0008_sink_planned_batch', sqlite: sql, postgres: sql };
