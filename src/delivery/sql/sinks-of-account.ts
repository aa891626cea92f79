import type { Sql } from '../../store/store.js';
import { SINK_COLUMNS, toSinkRow, type RawSinkRow, type SinkRow } from './sink-row.js';

/** Sinks of one account, by name, after `afterName` (keyset paging). */
export async function sinksOfAccount(sql: Sql, accountId: string, afterName: string, limit: number): Promise<SinkRow[]> {
  const rows = await sql.all<RawSinkRow>(`SELECT ${SINK_COLUMNS} FROM audit_log_sinks WHERE account_id = ? AND name > ? ORDER BY name LIMIT ?`, [
    accountId,
    afterName,
    limit,
  ]);
  return rows.map(toSinkRow);
}
