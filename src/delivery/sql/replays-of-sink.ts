import type { Sql } from '../../store/store.js';
import { REPLAY_COLUMNS, toReplay, type RawReplay, type ReplayRow } from './replay-row.js';

/** A sink's latest replays, newest first, for its status. */
export async function replaysOfSink(sql: Sql, sinkId: string, limit = 20): Promise<ReplayRow[]> {
  const rows = await sql.all<RawReplay>(`SELECT ${REPLAY_COLUMNS} FROM audit_log_sink_replays WHERE sink_id = ? ORDER BY created_ms DESC, id LIMIT ?`, [
    sinkId,
    limit,
  ]);
  return rows.map(toReplay);
}
