/** When the account's first record after `seq` was stored (epoch ms), if there is one: a sink's delivery lag. */
import type { Sql } from '../../store/store.js';

export async function oldestStoredAfter(sql: Sql, accountId: string, seq: number): Promise<number | undefined> {
  const oldest = await sql.get<{ stored_at: number }>('SELECT stored_at FROM audit_records WHERE account_id = ? AND seq > ? ORDER BY seq LIMIT 1', [
    accountId,
    seq,
  ]);
  return oldest ? Number(oldest.stored_at) : undefined;
}
