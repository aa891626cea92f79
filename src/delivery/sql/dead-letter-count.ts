/** How many dead letters a sink has now (replayable; a replay that gets one through removes it). */
import type { Sql } from '../../store/store.js';

export async function deadLetterCount(sql: Sql, sinkId: string): Promise<number> {
  const dl = await sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM audit_log_sink_dead_letters WHERE sink_id = ?', [sinkId]);
  return Number(dl?.n ?? 0);
}
