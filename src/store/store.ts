/**
 * The `AuditStore` contract: one interface, two engines (store/sqlite, store/postgres), one
 * contract test suite run against both (test/store-contract.test.ts).
 *
 * Invariants every engine keeps:
 * - Append-only: nothing updates or deletes a record except `purgeExpired` (retention), which
 *   leaves a signed record of each purge in the chain.
 * - An acknowledged append is durable (SQLite WAL + synchronous=FULL; PostgreSQL commit).
 * - Per account, `seq` is gap-free and assigned under a lock held inside the writing transaction
 *   (a row lock on PostgreSQL), so two processes writing one account never fork the chain.
 * - `log_id` is unique per account: the same id with identical content is an idempotent retry
 *   (stored once, reported as a duplicate); with other content the whole batch is refused.
 */
import type { AuditRecord } from '../record/record.js';
import type { ChainHead, Checkpoint, RecordColumns, RetentionAnchor } from '../chain/types.js';
import type { PurgeAttestor } from '../chain/purge.js';

export type { ChainHead, Checkpoint, RecordColumns, RetentionAnchor } from '../chain/types.js';

/** A batch of records for one account, stored whole or not at all. */
export interface AppendBatch {
  accountId: string;
  /** Normalized records (emitted shape), `log_id` already assigned. */
  records: AuditRecord[];
  /**
   * Who ingested these records through the API (`apikey:<id>` or `token:deployment`), kept
   * beside each record so a tenant's forged entries can be told from native ones. `null` for
   * records the control plane wrote itself.
   */
  ingestedBy: string | null;
  /**
   * Whether each record's `log_id` was supplied by the caller (and so may repeat an earlier
   * one). Server-assigned ids skip the duplicate lookup.
   */
  clientLogIds?: boolean;
  /**
   * `true` when the caller already refused strings a database would alter and nesting beyond
   * MAX_RECORD_DEPTH in these records (ingest does, in its validation): the store skips checking
   * them a second time. Any other writer leaves it unset and the store checks.
   */
  textChecked?: boolean;
}

export interface AppendResult {
  /** Per input record, in order: its sequence in the account's chain. */
  sequences: number[];
  /** How many records were already stored with identical content (idempotent retries). */
  duplicates: number;
}

/** A record as stored, with its place in the chain. */
export interface StoredRecord {
  /** Global insertion key: the pagination cursor. */
  id: number;
  accountId: string;
  seq: number;
  /** Milliseconds since the epoch at commit: what retention goes by. */
  storedAt: number;
  prevHash: string;
  hash: string;
  ingestedBy: string | null;
  /** The record's JSON exactly as stored (seed key order). */
  recordJson: string;
  /** Indexed columns, derived from the record when stored; `verify` checks they still agree. */
  columns: RecordColumns;
}

export interface QueryFilter {
  accountId?: string;
  /** Inclusive lower bound on `emit_time`, epoch ms. */
  sinceMs?: number;
  /** Exclusive upper bound on `emit_time`, epoch ms. */
  untilMs?: number;
  operation?: string;
  userEmail?: string;
  principalId?: string;
  status?: string;
  namespace?: string;
}

export interface PageRequest {
  /** 1..1000; default 100. */
  limit?: number;
  /** An opaque cursor from a previous page's `nextCursor` / `prevCursor`. */
  cursor?: string;
  /** `desc` (newest first, the default) or `asc`. */
  order?: 'asc' | 'desc';
}

export interface Page {
  items: StoredRecord[];
  /** Cursor to the page after this one in the requested order, absent at the end. */
  nextCursor?: string;
  /** Cursor to the page before this one, absent on the first page. */
  prevCursor?: string;
}

/** What delivery reads of a stored record: no hashes, no derived columns. */
export interface ChainBody {
  seq: number;
  logId: string;
  storedAt: number;
  /** The record's JSON exactly as stored. */
  recordJson: string;
}

/** Minimal SQL access shared by both engines: `?` placeholders, rows as plain objects. */
export interface Sql {
  all<T = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<T[]>;
  get<T = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<T | undefined>;
  run(text: string, params?: readonly unknown[]): Promise<{ changes: number }>;
}

/** Options of `AuditStore.transaction`. */
export interface TransactionOptions {
  /** false: the commit may be lost on power failure (see `transaction`). Default true. */
  durable?: boolean;
}

/** What a transaction body may do: SQL on the same connection and chain appends. */
export interface StoreTx extends Sql {
  /** Appends inside this transaction; the records commit (or roll back) with it. */
  append(batch: AppendBatch): Promise<AppendResult>;
}

/**
 * What retention must keep although it expired, decided inside each purge transaction (so the
 * answer cannot go stale before the delete). Implemented by the delivery engine.
 */
export interface RetentionHold {
  /** Records stored before this are purged whatever `keepFrom` says (the hard cap). */
  hardCutoffMs: number;
  /** The lowest seq of `accountId` to keep although expired, or undefined to keep nothing. */
  keepFrom(sql: Sql, accountId: string): Promise<number | undefined>;
  /** Told, in the same transaction, that seqs `fromSeq..toSeq` of `accountId` were purged. */
  purged(sql: Sql, accountId: string, fromSeq: number, toSeq: number): Promise<void>;
}

/** One retention round's purge, as `AuditStore.purgeExpired` takes it. */
export interface PurgeRequest {
  /** Records stored before this (epoch ms) have expired. */
  cutoffMs: number;
  /** Most records one call deletes. */
  batchSize: number;
  /** Limits each account's purge to what a signed checkpoint proves expired, and signs the purge. */
  attestor: PurgeAttestor;
  /** What delivery still needs (src/delivery/retention.ts). */
  hold?: RetentionHold;
}

export interface AuditStore {
  readonly engine: 'sqlite' | 'postgres';
  /** Creates or upgrades the schema; safe to run on every start and from several processes. */
  migrate(): Promise<void>;
  /** Appends one batch; concurrent calls are grouped into few commits (group commit). */
  append(batch: AppendBatch): Promise<AppendResult>;
  /**
   * Runs `fn` in one transaction that may also append records (control-plane operations). With
   * `{ durable: false }` the commit is atomic and ordered like any other but returns before it
   * reaches the disk (SQLite: synchronous=NORMAL for that commit, made durable by the next full
   * one; PostgreSQL: synchronous_commit off for it), so a power loss can undo it, never tear it:
   * for writes whose loss only repeats work (a delivery cursor: the batch is resent), never for
   * records.
   */
  transaction<T>(fn: (tx: StoreTx) => Promise<T>, opts?: TransactionOptions): Promise<T>;
  /** Read-only SQL outside any transaction. */
  readonly sql: Sql;
  query(filter: QueryFilter, page?: PageRequest): Promise<Page>;
  /** One record of an account by its `log_id` (unique per account), or undefined. */
  recordByLogId(accountId: string, logId: string): Promise<StoredRecord | undefined>;
  /** Records of one account with `seq` in [fromSeq, fromSeq + limit), in chain order. */
  readChain(accountId: string, fromSeq: number, limit: number): Promise<StoredRecord[]>;
  /** The same records as `readChain`, only what delivery sends (about a third of its cost per row). */
  readChainBodies(accountId: string, fromSeq: number, limit: number): Promise<ChainBody[]>;
  /** Accounts with records, a chain head, a retention anchor or a checkpoint (all that `verify` must cover). */
  chainAccounts(): Promise<string[]>;
  chainHead(accountId: string): Promise<ChainHead | undefined>;
  retentionAnchor(accountId: string): Promise<RetentionAnchor | undefined>;
  /**
   * Deletes up to `batchSize` records stored before `cutoffMs`, oldest first per account, and
   * moves each account's retention anchor to the last deleted link. Only records that a signed
   * checkpoint (of `attestor`'s key, signed by `attestor.evidenceBeforeMs`) covers may go, and
   * each account's purge appends the attestor's signed `RetentionPurge` record in the same
   * transaction, so `verify` can tell it from a deletion. Returns how many records went.
   * With `hold`, an expired record at or past `hold.keepFrom` is kept until it was stored before
   * `hold.hardCutoffMs` (sinks that have not delivered it yet: src/delivery/retention.ts).
   */
  purgeExpired(req: PurgeRequest): Promise<number>;
  saveCheckpoint(cp: Checkpoint): Promise<void>;
  checkpoints(accountId: string): Promise<Checkpoint[]>;
  /** Counts stored records (optionally of one account). */
  count(accountId?: string): Promise<number>;
  /** Stops taking appends, flushes what is queued, closes connections. */
  close(): Promise<void>;
}
