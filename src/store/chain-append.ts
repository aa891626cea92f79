/**
 * Appending to hash chains, shared by both engines. An engine supplies the four primitives of
 * `ChainTxOps`, all running inside one open write transaction; this module decides sequences,
 * hashes, idempotent duplicates and `log_id` conflicts.
 *
 * Round trips matter on PostgreSQL: a group commit carries many accounts, so each primitive
 * takes all of them at once — one `lockHeads`, one `findLogIds`, one `insert`, one `setHeads`
 * per commit, whatever the number of accounts.
 */
import { AuditError } from '../errors.js';
import { MAX_RECORD_DEPTH } from '../record/limits.js';
import { recordNamespace, serializeRecord, type AuditRecord } from '../record/record.js';
import { findTextProblem } from '../record/text.js';
import { canonicalJson, GENESIS_HASH, linkHash } from '../chain/hash.js';
import { emitMsOf, type RecordColumns } from '../chain/types.js';
import type { AppendBatch, AppendResult } from './store.js';
import type { FlushOutcome } from './group-commit.js';

/** One row of `audit_records` as written. */
export interface ChainRow extends RecordColumns {
  accountId: string;
  seq: number;
  storedAt: number;
  ingestedBy: string | null;
  prevHash: string;
  hash: string;
  recordJson: string;
}

/** The `audit_records` columns a `ChainRow` fills, in the order of `chainRowValues`. */
export const CHAIN_ROW_COLUMNS =
  'account_id, seq, log_id, stored_at, emit_ms, operation, user_email, principal_id, status, namespace, ingested_by, prev_hash, hash, record_json';

/** A row's values in the order of `CHAIN_ROW_COLUMNS`, for a positional INSERT. */
export function chainRowValues(r: ChainRow): unknown[] {
  return [
    r.accountId,
    r.seq,
    r.logId,
    r.storedAt,
    r.emitMs,
    r.operation,
    r.userEmail,
    r.principalId,
    r.status,
    r.namespace,
    r.ingestedBy,
    r.prevHash,
    r.hash,
    r.recordJson,
  ];
}

export interface ExistingLog {
  seq: number;
  recordJson: string;
}

/** Engine primitives, each called inside the caller's open write transaction. */
export interface ChainTxOps {
  /**
   * The heads of these accounts (sorted, distinct), locked until commit in that order so that
   * concurrent writers cannot deadlock; missing ones are created at seq 0 / genesis.
   */
  lockHeads(accountIds: string[]): Promise<Map<string, { seq: number; hash: string }>>;
  /** Stored records among these log ids, per account: account id → log id → record. */
  findLogIds(logIds: Map<string, string[]>): Promise<Map<string, Map<string, ExistingLog>>>;
  /** Rows of any number of accounts, each account's in chain order. */
  insert(rows: ChainRow[]): Promise<void>;
  /** New heads of accounts whose heads `lockHeads` locked. */
  setHeads(heads: { accountId: string; seq: number; hash: string }[]): Promise<void>;
  /**
   * `insert` then `setHeads` in one go, where the engine can (one statement, one round trip, on
   * PostgreSQL); the two calls are made otherwise.
   */
  insertWithHeads?(rows: ChainRow[], heads: { accountId: string; seq: number; hash: string }[]): Promise<void>;
}

/** Account ids become part of each link's hashed text, separated by newlines. */
export const ACCOUNT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** A refusal for the first record holding a string that cannot be stored exactly, or nesting too deep. */
function unstorableRecord(records: readonly AuditRecord[]): AuditError | undefined {
  for (let index = 0; index < records.length; index++) {
    const problem = findTextProblem(records[index], MAX_RECORD_DEPTH);
    if (problem) return new AuditError('AS_ERR_INVALID_RECORD', `record ${index}: ${problem.message}`, { index, field: problem.field });
  }
  return undefined;
}

/**
 * Appends several batches (possibly of several accounts) inside one transaction. Accounts are
 * locked in sorted order so that concurrent writers cannot deadlock. A batch with a conflicting
 * `log_id` fails alone; the other batches still commit.
 */
export async function appendBatches(ops: ChainTxOps, batches: AppendBatch[], now: number): Promise<FlushOutcome<AppendResult>[]> {
  const outcomes: FlushOutcome<AppendResult>[] = new Array(batches.length);
  const allRows: ChainRow[] = [];
  const heads: { accountId: string; seq: number; hash: string }[] = [];
  const byAccount = new Map<string, number[]>();
  batches.forEach((b, i) => {
    if (!ACCOUNT_ID_PATTERN.test(b.accountId)) {
      outcomes[i] = { ok: false, error: new AuditError('AS_ERR_INVALID_ARGUMENT', `invalid account id ${JSON.stringify(b.accountId)}`) };
      return;
    }
    // Ingest refuses these before the commit; this catches every other writer (the control
    // plane builds records from request fields), and refuses the batch alone: a string the
    // database would alter (or, on PostgreSQL, reject) must never reach the shared INSERT.
    const bad = b.textChecked === true ? undefined : unstorableRecord(b.records);
    if (bad) {
      outcomes[i] = { ok: false, error: bad };
      return;
    }
    const list = byAccount.get(b.accountId) ?? [];
    list.push(i);
    byAccount.set(b.accountId, list);
  });

  const accounts = [...byAccount.keys()].sort();
  const lockedHeads = accounts.length > 0 ? await ops.lockHeads(accounts) : new Map<string, { seq: number; hash: string }>();
  const clientIds = new Map<string, string[]>();
  for (const accountId of accounts) {
    const ids = new Set<string>();
    for (const i of byAccount.get(accountId)!) {
      if (batches[i]!.clientLogIds !== false) for (const r of batches[i]!.records) ids.add(r.log_id);
    }
    if (ids.size > 0) clientIds.set(accountId, [...ids]);
  }
  const stored = clientIds.size > 0 ? await ops.findLogIds(clientIds) : new Map<string, Map<string, ExistingLog>>();

  for (const accountId of accounts) {
    const indexes = byAccount.get(accountId)!;
    const head = lockedHeads.get(accountId)!;
    const known = stored.get(accountId) ?? new Map<string, ExistingLog>();
    // Canonical text of stored (or already planned) records, computed lazily.
    const canonicalOf = new Map<string, string>();
    let seq = head.seq;
    let hash = head.hash;

    for (const i of indexes) {
      const batch = batches[i]!;
      const planned: ChainRow[] = [];
      const plannedKnown = new Map<string, ExistingLog>();
      const sequences: number[] = [];
      let duplicates = 0;
      let s = seq;
      let h = hash;
      let conflict: AuditError | undefined;

      for (let k = 0; k < batch.records.length; k++) {
        const record = batch.records[k]!;
        const canonical = canonicalJson(record);
        const prior = plannedKnown.get(record.log_id) ?? known.get(record.log_id);
        if (prior) {
          let priorCanonical = canonicalOf.get(record.log_id);
          if (priorCanonical === undefined) {
            priorCanonical = canonicalJson(JSON.parse(prior.recordJson));
            canonicalOf.set(record.log_id, priorCanonical);
          }
          if (priorCanonical !== canonical) {
            conflict = new AuditError('AS_ERR_LOG_ID_CONFLICT', `record ${k}: log_id ${record.log_id} is already stored with different content`, {
              index: k,
              field: 'log_id',
              log_id: record.log_id,
            });
            break;
          }
          duplicates++;
          sequences.push(prior.seq);
          continue;
        }
        s += 1;
        const recordJson = serializeRecord(record);
        const next = linkHash(accountId, s, h, canonical);
        planned.push({
          accountId,
          seq: s,
          logId: record.log_id,
          storedAt: now,
          emitMs: emitMsOf(record),
          operation: record.operation,
          userEmail: record.user_email,
          principalId: record.principal.id,
          status: record.status,
          namespace: recordNamespace(record),
          ingestedBy: batch.ingestedBy,
          prevHash: h,
          hash: next,
          recordJson,
        });
        plannedKnown.set(record.log_id, { seq: s, recordJson });
        canonicalOf.set(record.log_id, canonical);
        sequences.push(s);
        h = next;
      }

      if (conflict) {
        // Forget canonical forms this refused batch planned: they were never stored.
        for (const id of plannedKnown.keys()) if (!known.has(id)) canonicalOf.delete(id);
        outcomes[i] = { ok: false, error: conflict };
        continue;
      }
      for (const [id, v] of plannedKnown) known.set(id, v);
      for (const r of planned) allRows.push(r);
      seq = s;
      hash = h;
      outcomes[i] = { ok: true, value: { sequences, duplicates } };
    }

    if (seq !== head.seq) heads.push({ accountId, seq, hash });
  }
  if (allRows.length > 0) {
    if (ops.insertWithHeads) await ops.insertWithHeads(allRows, heads);
    else {
      await ops.insert(allRows);
      await ops.setHeads(heads);
    }
  }
  return outcomes;
}

/** `StoreTx.append` on an open transaction: one batch, its conflict thrown. */
export function appendInTx(ops: ChainTxOps): (batch: AppendBatch) => Promise<AppendResult> {
  return async (batch) => {
    const [outcome] = await appendBatches(ops, [batch], Date.now());
    if (!outcome!.ok) throw outcome!.error;
    return outcome!.value;
  };
}

export { GENESIS_HASH };
