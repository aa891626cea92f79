/**
 * Recomputes an account's hash chain from the stored rows and checks it against the chain head,
 * the retention anchor and the signed checkpoints. Reports the first broken link, with a reason
 * a person can act on.
 */
import type { KeyObject } from 'node:crypto';
import { recordNamespace, type AuditRecord } from '../record/record.js';
import { canonicalJson, GENESIS_HASH, linkHash } from './hash.js';
import { checkSignature } from './checkpoint.js';
import { emitMsOf } from '../store/chain-append.js';
import type { AuditStore, Checkpoint, StoredRecord } from '../store/store.js';

export interface ChainBreak {
  accountId: string;
  /** Sequence at which the chain stops being trustworthy. */
  seq: number;
  reason: string;
}

export interface VerifyReport {
  accountId: string;
  ok: boolean;
  /** Records whose links were recomputed. */
  checked: number;
  /** First and last sequence examined (after the retention anchor). */
  fromSeq: number;
  toSeq: number;
  checkpointsChecked: number;
  break?: ChainBreak;
}

export interface VerifyOptions {
  /** Public keys trusted for checkpoint signatures, by key id. */
  trustedKeys: Map<string, KeyObject>;
  /** Checkpoints from outside the database (e.g. a file an auditor kept). */
  externalCheckpoints?: Checkpoint[];
  pageSize?: number;
  /** Called every page with the number of records checked so far. */
  onProgress?: (checked: number) => void;
}

function columnMismatch(row: StoredRecord, record: AuditRecord): string | undefined {
  const c = row.columns;
  if (c.logId !== record.log_id) return 'log_id column differs from the record';
  if (c.operation !== record.operation) return 'operation column differs from the record';
  if (c.userEmail !== record.user_email) return 'user_email column differs from the record';
  if (c.principalId !== record.principal?.id) return 'principal_id column differs from the record';
  if (c.status !== record.status) return 'status column differs from the record';
  if (c.namespace !== recordNamespace(record)) return 'namespace column differs from the record';
  if (c.emitMs !== emitMsOf(record)) return 'emit time column differs from the record';
  return undefined;
}

export async function verifyAccount(store: AuditStore, accountId: string, opts: VerifyOptions): Promise<VerifyReport> {
  const pageSize = opts.pageSize ?? 5000;
  const anchor = await store.retentionAnchor(accountId);
  const head = await store.chainHead(accountId);
  const checkpoints = [...(await store.checkpoints(accountId)), ...(opts.externalCheckpoints ?? []).filter((c) => c.accountId === accountId)];
  const wanted = new Map<number, Checkpoint[]>();
  for (const cp of checkpoints) wanted.set(cp.seq, [...(wanted.get(cp.seq) ?? []), cp]);

  const startSeq = (anchor?.seq ?? 0) + 1;
  let expectSeq = startSeq;
  let prevHash = anchor?.hash ?? GENESIS_HASH;
  let checked = 0;
  const report = (brk?: ChainBreak, checkpointsChecked = 0): VerifyReport => ({
    accountId,
    ok: !brk,
    checked,
    fromSeq: startSeq,
    toSeq: expectSeq - 1,
    checkpointsChecked,
    ...(brk ? { break: brk } : {}),
  });
  const fail = (seq: number, reason: string) => report({ accountId, seq, reason });
  const hashAt = new Map<number, string>();

  for (;;) {
    const rows = await store.readChain(accountId, expectSeq, pageSize);
    for (const row of rows) {
      if (row.seq !== expectSeq) return fail(expectSeq, `record ${expectSeq} is missing (next stored is ${row.seq})`);
      if (row.accountId !== accountId) return fail(row.seq, 'record belongs to another account');
      if (row.prevHash !== prevHash) return fail(row.seq, `prev_hash does not match the hash of record ${row.seq - 1}`);
      let record: AuditRecord;
      try {
        record = JSON.parse(row.recordJson) as AuditRecord;
      } catch {
        return fail(row.seq, 'record JSON is not parseable');
      }
      if (linkHash(accountId, row.seq, prevHash, canonicalJson(record)) !== row.hash) {
        return fail(row.seq, 'hash does not match the record content (edited, moved or reordered)');
      }
      const mismatch = columnMismatch(row, record);
      if (mismatch) return fail(row.seq, mismatch);
      if (wanted.has(row.seq)) hashAt.set(row.seq, row.hash);
      prevHash = row.hash;
      expectSeq++;
      checked++;
    }
    opts.onProgress?.(checked);
    if (rows.length < pageSize) break;
  }

  const lastSeq = expectSeq - 1;
  if (head) {
    if (head.seq > lastSeq) return fail(lastSeq + 1, `chain ends at ${lastSeq} but its head says ${head.seq}: records at the tail were deleted`);
    if (head.seq < lastSeq) return fail(head.seq + 1, `records after the head (${head.seq}) were added outside the store`);
    if (head.seq === lastSeq && head.hash !== prevHash && lastSeq >= startSeq) return fail(lastSeq, 'head hash does not match the last record');
  } else if (checked > 0) {
    return fail(startSeq, 'records exist but the account has no chain head');
  }

  let checkpointsChecked = 0;
  for (const cp of checkpoints) {
    const sig = checkSignature(cp, opts.trustedKeys);
    if (sig !== 'ok') {
      return fail(cp.seq, sig === 'untrusted-key' ? `checkpoint at ${cp.seq} is signed by an untrusted key ${cp.keyId}` : `checkpoint at ${cp.seq} has a bad signature`);
    }
    if (cp.seq > lastSeq) {
      return fail(lastSeq + 1, `a signed checkpoint records ${cp.seq} links but the chain ends at ${lastSeq}: the tail was truncated`);
    }
    if (cp.seq >= startSeq && hashAt.get(cp.seq) !== cp.hash) {
      return fail(cp.seq, `record ${cp.seq} differs from the signed checkpoint (the chain was rewritten)`);
    }
    if (anchor && cp.seq === anchor.seq && cp.hash !== anchor.hash) {
      return fail(cp.seq, 'retention anchor differs from the signed checkpoint');
    }
    checkpointsChecked++;
  }
  return report(undefined, checkpointsChecked);
}
