/** The last seq retention purged from an account's chain (0 when none was): records up to it are gone. */
import type { Sql } from '../../store/store.js';

export async function retentionAnchorSeq(sql: Sql, accountId: string): Promise<number> {
  const anchor = await sql.get<{ seq: number }>('SELECT seq FROM retention_anchors WHERE account_id = ?', [accountId]);
  return Number(anchor?.seq ?? 0);
}
