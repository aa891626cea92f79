/**
 * Each account's ExternalId: the `sts:ExternalId` condition of the customer's IAM role trust
 * policy (the "confused deputy" guard, AWS IAM User Guide, "Access to AWS accounts owned by third
 * parties"). Random, unique per account, created on first use, never changed afterwards (the
 * customer's CloudFormation stack has it baked in), shown in the template and the UI.
 */
import { randomBytes } from 'node:crypto';
import type { Sql, StoreTx } from '../store/store.js';

/**
 * AWS allows 2-1224 characters of `[\w+=,.@:/-]`; 32 bytes of randomness as base64url is 43
 * characters of that set (the `-` and `_` are allowed).
 */
export function newExternalId(): string {
  return randomBytes(32).toString('base64url');
}

export async function readExternalId(sql: Sql, accountId: string): Promise<string | undefined> {
  const r = await sql.get<{ external_id: string }>('SELECT external_id FROM account_external_ids WHERE account_id = ?', [accountId]);
  return r?.external_id;
}

/** The account's ExternalId, created inside `tx` when it has none yet. */
export async function ensureExternalId(tx: StoreTx | Sql, accountId: string, now = Date.now()): Promise<string> {
  const existing = await readExternalId(tx, accountId);
  if (existing) return existing;
  const id = newExternalId();
  // ON CONFLICT DO NOTHING (both engines): a concurrent first use by another process wins and we
  // read its value back, so the account never ends up with two.
  await tx.run('INSERT INTO account_external_ids (account_id, external_id, created_ms) VALUES (?, ?, ?) ON CONFLICT (account_id) DO NOTHING', [
    accountId,
    id,
    now,
  ]);
  return (await readExternalId(tx, accountId))!;
}
