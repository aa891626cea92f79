import type { Sql } from '../../store/store.js';
import { REPLAY_COLUMNS, toReplay, type RawReplay, type ReplayRow } from './replay-row.js';

/** The replay a sink's worker should work on next (oldest unfinished). */
export async function nextReplay(sql: Sql, sinkId: string): Promise<ReplayRow | undefined> {
  const r = await sql.get<RawReplay>(
    `SELECT ${REPLAY_COLUMNS} FROM audit_log_sink_replays WHERE sink_id = ? AND state <> 'done' ORDER BY created_ms, id LIMIT 1`,
    [sinkId],
  );
  return r && toReplay(r);
}
