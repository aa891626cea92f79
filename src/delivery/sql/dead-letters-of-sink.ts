/** A sink's dead letters, oldest seq first, for the UI and the API. */
import type { Sql } from '../../store/store.js';

export interface DeadLetterRow {
  seq: number;
  logId: string;
  reason: string;
  createdMs: number;
}

export async function deadLettersOfSink(sql: Sql, sinkId: string, limit: number): Promise<DeadLetterRow[]> {
  const rows = await sql.all<{ seq: number; log_id: string; reason: string; created_ms: number }>(
    'SELECT seq, log_id, reason, created_ms FROM audit_log_sink_dead_letters WHERE sink_id = ? ORDER BY seq LIMIT ?',
    [sinkId, limit],
  );
  return rows.map((r) => ({ seq: Number(r.seq), logId: r.log_id, reason: r.reason, createdMs: Number(r.created_ms) }));
}
