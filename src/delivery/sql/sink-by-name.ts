import type { Sql } from '../../store/store.js';
import { SINK_COLUMNS, toSinkRow, type RawSinkRow, type SinkRow } from './sink-row.js';

/** The account's sink of this name, deleting or not. */
export async function sinkByName(sql: Sql, accountId: string, name: string): Promise<SinkRow | undefined> {
  const r = await sql.get<RawSinkRow>(`SELECT ${SINK_COLUMNS} FROM audit_log_sinks WHERE account_id = ? AND name = ?`, [accountId, name]);
  return r && toSinkRow(r);
}
