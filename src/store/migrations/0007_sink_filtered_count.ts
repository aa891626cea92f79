/** Records a sink's filter skipped (the cursor moved past them without a send), for its status. */
import type { Migration } from './index.js';

const sql = `ALTER TABLE audit_log_sinks ADD COLUMN filtered_count BIGINT NOT NULL DEFAULT 0;`;

export const m0007: Migration = { id: '0007_sink_filtered_count', sqlite: sql, postgres: sql };
