/**
 * Each account's ExternalId: the `sts:ExternalId` condition of the customer's IAM role trust
 * policy (the "confused deputy" guard, AWS IAM User Guide, "Access to AWS accounts owned by third
 * parties"). Random, unique per account, created on first use, never changed afterwards (the
 * customer's CloudFormation stack has it baked in), shown in the template and the UI.
 */
import { randomBytes } from 'node:crypto';
import type { Sql, StoreTx } from '../store/store.js';
import { readExternalId } from './sql/read-external-id.js';
import { insertExternalId } from './sql/insert-external-id.js';

export { readExternalId } from './sql/read-external-id.js';

/**
 * AWS allows 2-1224 characters of `[\w+=,.@:/-]`; 32 bytes of randomness as base64url is 43
 * characters of that set (the `-` and `_` are allowed).
 */
export function newExternalId(): string {
  return randomBytes(32).toString('base64url');
}

/** The account's ExternalId, created inside `tx` when it has none yet. */
export async function ensureExternalId(tx: StoreTx | Sql, accountId: string, now = Date.now()): Promise<string> {
  const existing = await readExternalId(tx, accountId);
  if (existing) return existing;
  const id = newExternalId();
  // A concurrent first use by another process wins (insert-external-id.ts): read back what is stored.
  await insertExternalId(tx, accountId, id, now);
  return (await readExternalId(tx, accountId))!;
}
