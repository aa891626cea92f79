/**
 * Stores an account's ExternalId unless it has one. ON CONFLICT DO NOTHING (both engines): a
 * concurrent first use by another process wins, and the caller reads its value back, so the
 * account never ends up with two.
 */
import type { Sql, StoreTx } from '../../store/store.js';

export async function insertExternalId(tx: StoreTx | Sql, accountId: string, externalId: string, now: number): Promise<void> {
  await tx.run('INSERT INTO account_external_ids (account_id, external_id, created_ms) VALUES (?, ?, ?) ON CONFLICT (account_id) DO NOTHING', [
    accountId,
    externalId,
    now,
  ]);
}
