/**
 * Retention's purge of one account, shared by both engines. Runs inside the engine's purge
 * transaction (delete permit held, the account's head locked): picks the evidence, deletes the
 * expired prefix, moves the retention anchor and appends the signed `RetentionPurge` record, so
 * the deletion and its proof commit together or not at all (src/chain/purge.ts explains why).
 */
import type { PurgeRequest, StoreTx } from './store.js';

/** Purges up to `budget` expired records of `accountId`; returns how many went. */
export async function purgeAccount(tx: StoreTx, accountId: string, budget: number, req: PurgeRequest): Promise<number> {
  const { attestor, hold } = req;
  // Only records a signed checkpoint proves were stored a retention ago may go: the newest
  // checkpoint of this key signed before the evidence bound caps the purge.
  const ev = await tx.get<{ seq: number; hash: string; created_at: number; key_id: string; signature: string }>(
    'SELECT seq, hash, created_at, key_id, signature FROM checkpoints WHERE account_id = ? AND key_id = ? AND created_at <= ? ORDER BY seq DESC LIMIT 1',
    [accountId, attestor.keyId, attestor.evidenceBeforeMs],
  );
  if (!ev) return 0;
  const evidence = { accountId, seq: Number(ev.seq), hash: ev.hash, createdAt: Number(ev.created_at), keyId: ev.key_id, signature: ev.signature };
  // Evidence that is not this key's signature, or names another hash than the chain holds, was
  // planted or the chain was altered: purge nothing (verify reports why) rather than lose data.
  if (!attestor.isSigned(evidence)) return 0;
  const at =
    (await tx.get<{ hash: string }>('SELECT hash FROM audit_records WHERE account_id = ? AND seq = ?', [accountId, evidence.seq])) ??
    (await tx.get<{ hash: string }>('SELECT hash FROM retention_anchors WHERE account_id = ? AND seq = ?', [accountId, evidence.seq]));
  if (at?.hash !== evidence.hash) return 0;
  // The purged part must stay a prefix of the chain, so walk in sequence order and stop at the
  // first record that is still young (or held, or past the evidence).
  const rows = (
    await tx.all<{ seq: number; hash: string; stored_at: number }>(
      'SELECT seq, hash, stored_at FROM audit_records WHERE account_id = ? AND seq <= ? ORDER BY seq LIMIT ?',
      [accountId, evidence.seq, budget],
    )
  ).map((r) => ({ seq: Number(r.seq), hash: r.hash, storedAt: Number(r.stored_at) }));
  const keepFrom = hold ? await hold.keepFrom(tx, accountId) : undefined;
  let last: { seq: number; hash: string } | undefined;
  for (const r of rows) {
    if (r.storedAt >= req.cutoffMs) break;
    if (keepFrom !== undefined && r.seq >= keepFrom && r.storedAt >= hold!.hardCutoffMs) break;
    last = r;
  }
  if (!last) return 0;
  const fromSeq = rows[0]!.seq;
  const { changes } = await tx.run('DELETE FROM audit_records WHERE account_id = ? AND seq <= ?', [accountId, last.seq]);
  await tx.run(
    'INSERT INTO retention_anchors (account_id, seq, hash) VALUES (?, ?, ?) ON CONFLICT (account_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash',
    [accountId, last.seq, last.hash],
  );
  if (hold) await hold.purged(tx, accountId, fromSeq, last.seq);
  await tx.append({
    accountId,
    records: [attestor.purgeRecord({ accountId, fromSeq, toSeq: last.seq, anchorHash: last.hash, evidence })],
    ingestedBy: null,
    clientLogIds: false,
  });
  return changes;
}
