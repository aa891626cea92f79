/** The last seq of an account's chain (0 when it has none yet): where a new sink starts, and what its backlog counts to. */
import type { Sql } from '../../store/store.js';

export async function chainHeadSeq(sql: Sql, accountId: string): Promise<number> {
  const head = await sql.get<{ seq: number }>('SELECT seq FROM chain_heads WHERE account_id = ?', [accountId]);
  return Number(head?.seq ?? 0);
}
