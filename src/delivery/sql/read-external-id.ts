/** An account's ExternalId (src/delivery/external-id.ts), if it has one yet. */
import type { Sql } from '../../store/store.js';

export async function readExternalId(sql: Sql, accountId: string): Promise<string | undefined> {
  const r = await sql.get<{ external_id: string }>('SELECT external_id FROM account_external_ids WHERE account_id = ?', [accountId]);
  return r?.external_id;
}
