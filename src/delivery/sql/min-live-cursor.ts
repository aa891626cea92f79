/**
 * The lowest cursor among an account's active, enabled sinks: retention keeps every record after
 * it (src/delivery/retention.ts). Undefined when the account has no such sink.
 */
import type { Sql } from '../../store/store.js';

export async function minLiveCursor(sql: Sql, accountId: string): Promise<number | undefined> {
  const r = await sql.get<{ c: number | null }>("SELECT MIN(cursor_seq) AS c FROM audit_log_sinks WHERE account_id = ? AND enabled = 1 AND state = 'active'", [
    accountId,
  ]);
  return r?.c === null || r?.c === undefined ? undefined : Number(r.c);
}
