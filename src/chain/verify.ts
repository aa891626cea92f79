/**
 * Recomputes an account's hash chain from the stored rows and checks it against the chain head,
 * the retention anchor and every signed statement about it: the checkpoints table, a checkpoint
 * file kept outside the database, the `ChainCheckpoint` records inside the chain itself and the
 * `RetentionPurge` records that justify the anchor. Reports the first broken link, with a reason
 * a person can act on.
 */
import type { KeyObject } from 'node:crypto';
import { recordNamespace, type AuditRecord } from '../record/record.js';
import { canonicalJson, GENESIS_HASH, linkHash } from './hash.js';
import { checkpointFromRecord, checkSignature } from './checkpoint.js';
import { checkPurge, purgeFromRecord, type SignedPurge } from './purge.js';
import { emitMsOf, type ChainLink, type ChainSource, type Checkpoint } from './types.js';

export interface ChainBreak {
  accountId: string;
  /** Sequence at which the chain stops being trustworthy. */
  seq: number;
  reason: string;
  /**
   * `chain`: records, links, head, checkpoints or purges are not as signed. `search-index`: they
   * all verify, but a copy of the record kept for searches (SQLite's filter side table) is
   * missing or differs, so filtered searches may not show it.
   */
  kind: 'chain' | 'search-index';
}

export interface VerifyReport {
  accountId: string;
  ok: boolean;
  /** Records whose links were recomputed. */
  checked: number;
  /** First and last sequence examined (after the retention anchor). */
  fromSeq: number;
  toSeq: number;
  /** Signed checkpoints checked against the chain: stored, from the file, and ChainCheckpoint records. */
  checkpointsChecked: number;
  break?: ChainBreak;
}

export interface VerifyOptions {
  /** Public keys trusted for checkpoint signatures, by key id. */
  trustedKeys: Map<string, KeyObject>;
  /**
   * Checkpoints from outside the database (e.g. a file an auditor kept). Every account they name
   * is verified by `verifyAll`, so a deleted account is a break, not a silent omission.
   */
  externalCheckpoints?: Checkpoint[];
  pageSize?: number;
  /** Called every page with the number of records checked so far. */
  onProgress?: (checked: number) => void;
}

function columnMismatch(row: ChainLink, record: AuditRecord): string | undefined {
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

/** How many recent link hashes the scan keeps to check in-chain checkpoints without a re-read. */
const RECENT_HASHES = 1024;

/**
 * Verifies one account's chain: every link, the indexed columns, the head, every signed
 * checkpoint (stored, external, in-chain) and the signed purge that justifies its retention
 * anchor; then the copies of columns a store keeps apart for searches. The report names the first
 * break, or says how much was checked.
 */
export async function verifyAccount(source: ChainSource, accountId: string, opts: VerifyOptions): Promise<VerifyReport> {
  const pageSize = opts.pageSize ?? 5000;
  const anchor = await source.retentionAnchor(accountId);
  const head = await source.chainHead(accountId);
  const checkpoints = [...(await source.checkpoints(accountId)), ...(opts.externalCheckpoints ?? []).filter((c) => c.accountId === accountId)];
  const wanted = new Set(checkpoints.map((c) => c.seq));

  const startSeq = (anchor?.seq ?? 0) + 1;
  let expectSeq = startSeq;
  let prevHash = anchor?.hash ?? GENESIS_HASH;
  let checked = 0;
  let checkpointsChecked = 0;
  const report = (brk?: ChainBreak): VerifyReport => ({
    accountId,
    ok: !brk,
    checked,
    fromSeq: startSeq,
    toSeq: expectSeq - 1,
    checkpointsChecked,
    ...(brk ? { break: brk } : {}),
  });
  const fail = (seq: number, reason: string, kind: ChainBreak['kind'] = 'chain') => report({ accountId, seq, reason, kind });
  const hashAt = new Map<number, string>();
  const recent = new Map<number, string>();
  /** Signed statements found inside the chain, checked against links before them. */
  const inChain: { cp: Checkpoint; at: number }[] = [];
  const purges: { p: SignedPurge; at: number }[] = [];
  let badCopy: { seq: number; reason: string } | undefined;

  for (;;) {
    const rows = await source.readChain(accountId, expectSeq, pageSize);
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
      if (record.operation === 'ChainCheckpoint') {
        const cp = checkpointFromRecord(accountId, record);
        if (typeof cp === 'string') return fail(row.seq, cp);
        const sig = checkSignature(cp, opts.trustedKeys);
        if (sig !== 'ok')
          return fail(
            row.seq,
            sig === 'untrusted-key' ? `ChainCheckpoint record is signed by an untrusted key ${cp.keyId}` : 'ChainCheckpoint record has a bad signature',
          );
        if (cp.seq >= row.seq) return fail(row.seq, `ChainCheckpoint record names sequence ${cp.seq}, not one before it`);
        const known = recent.get(cp.seq);
        if (known !== undefined && known !== cp.hash) {
          return fail(cp.seq, `record ${cp.seq} differs from the signed ChainCheckpoint record at ${row.seq} (the chain was rewritten)`);
        }
        if (known === undefined) inChain.push({ cp, at: row.seq });
        else checkpointsChecked++;
      } else if (record.operation === 'RetentionPurge') {
        const p = purgeFromRecord(accountId, record);
        if (typeof p === 'string') return fail(row.seq, p);
        if (p.toSeq >= row.seq) return fail(row.seq, `RetentionPurge record names sequence ${p.toSeq}, not one before it`);
        purges.push({ p, at: row.seq });
      }
      if (wanted.has(row.seq)) hashAt.set(row.seq, row.hash);
      recent.set(row.seq, row.hash);
      if (recent.size > RECENT_HASHES) recent.delete(row.seq - RECENT_HASHES);
      prevHash = row.hash;
      expectSeq++;
      checked++;
    }
    // The copies of the page's columns that filtered queries read: the first bad one is reported
    // only once every check of the chain below has passed, so it never hides a break of the chain.
    if (rows.length > 0 && !badCopy && source.copiedColumnsMismatch) {
      badCopy = await source.copiedColumnsMismatch(accountId, rows[0]!.seq, rows[rows.length - 1]!.seq);
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

  /** The verified hash of link `seq` (the anchor's for `anchor.seq`), or undefined when purged. */
  const hashOf = async (seq: number): Promise<string | undefined> => {
    if (anchor && seq === anchor.seq) return anchor.hash;
    if (seq < startSeq || seq > lastSeq) return undefined;
    return hashAt.get(seq) ?? recent.get(seq) ?? (await source.readChain(accountId, seq, 1))[0]?.hash;
  };

  for (const cp of checkpoints) {
    const sig = checkSignature(cp, opts.trustedKeys);
    if (sig !== 'ok') {
      return fail(
        cp.seq,
        sig === 'untrusted-key' ? `checkpoint at ${cp.seq} is signed by an untrusted key ${cp.keyId}` : `checkpoint at ${cp.seq} has a bad signature`,
      );
    }
    if (cp.seq > lastSeq) {
      if (!head && !anchor && checked === 0)
        return fail(1, `the account has no chain but a signed checkpoint records ${cp.seq} links: its records were deleted`);
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

  for (const { cp, at } of inChain) {
    const hash = await hashOf(cp.seq);
    if (hash !== undefined && hash !== cp.hash) {
      return fail(cp.seq, `record ${cp.seq} differs from the signed ChainCheckpoint record at ${at} (the chain was rewritten)`);
    }
    checkpointsChecked++;
  }

  // A retention anchor is where the stored chain may start; only a signed purge can put it there.
  let justified = false;
  for (const { p, at } of purges) {
    const problem = checkPurge(p, opts.trustedKeys);
    if (problem) return fail(at, problem);
    if (p.toSeq >= startSeq) return fail(at, `RetentionPurge record at ${at} names records up to ${p.toSeq} as purged, but they are stored`);
    if (anchor && p.toSeq === anchor.seq) {
      if (p.anchorHash !== anchor.hash) return fail(anchor.seq, `retention anchor differs from the signed RetentionPurge record at ${at}`);
      justified = true;
    }
    const evidenceHash = await hashOf(p.evidence.seq);
    if (p.evidence.seq > lastSeq)
      return fail(at, `the evidence of the RetentionPurge record at ${at} records ${p.evidence.seq} links but the chain ends at ${lastSeq}`);
    if (evidenceHash !== undefined && evidenceHash !== p.evidence.hash) {
      return fail(p.evidence.seq, `record ${p.evidence.seq} differs from the evidence checkpoint of the RetentionPurge record at ${at}`);
    }
  }
  if (anchor && !justified) {
    return fail(
      anchor.seq,
      `retention anchor at ${anchor.seq} is not justified by a signed RetentionPurge record: records 1..${anchor.seq} were deleted outside retention`,
    );
  }
  return badCopy ? fail(badCopy.seq, badCopy.reason, 'search-index') : report();
}

/**
 * The accounts to verify: every one the store knows (records, head, anchor or checkpoint) and
 * every one a trusted checkpoint file names, so that an account deleted whole is a break.
 */
export async function accountsToVerify(source: ChainSource, external: readonly Checkpoint[] = []): Promise<string[]> {
  return [...new Set([...(await source.chainAccounts()), ...external.map((c) => c.accountId)])].sort();
}

export async function verifyAll(source: ChainSource, opts: VerifyOptions): Promise<VerifyReport[]> {
  const reports: VerifyReport[] = [];
  for (const accountId of await accountsToVerify(source, opts.externalCheckpoints)) reports.push(await verifyAccount(source, accountId, opts));
  return reports;
}
