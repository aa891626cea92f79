import type { Sql } from '../../store/store.js';
import { SINK_COLUMNS, toSinkRow, type RawSinkRow, type SinkRow } from './sink-row.js';

/** The sink with this id, deleting or not. */
export async function sinkById(sql: Sql, id: string): Promise<SinkRow | undefined> {
  const r = await sql.get<RawSinkRow>(`SELECT ${SINK_COLUMNS} FROM audit_log_sinks WHERE id = ?`, [id]);
  return r && toSinkRow(r);
}
