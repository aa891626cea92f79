/** The lowest and highest seq among a sink's dead letters: what a dead-letter replay covers. Undefined when there are none. */
import type { Sql } from '../../store/store.js';

export async function deadLetterSeqRange(sql: Sql, sinkId: string): Promise<{ lo: number; hi: number } | undefined> {
  const r = await sql.get<{ lo: number | null; hi: number | null }>(
    'SELECT MIN(seq) AS lo, MAX(seq) AS hi FROM audit_log_sink_dead_letters WHERE sink_id = ?',
    [sinkId],
  );
  return r?.lo == null || r.hi == null ? undefined : { lo: Number(r.lo), hi: Number(r.hi) };
}
