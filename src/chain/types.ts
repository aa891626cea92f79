/**
 * What the chain modules (hash, checkpoints, purge proofs, verification) know of a stored chain.
 * The store implements these shapes (src/store/store.ts re-exports them); chain/ never imports
 * the store, so the dependency points one way: store → chain.
 */
import type { AuditRecord } from '../record/record.js';

/** A signed statement "account A's chain had head H at sequence S at time T". */
export interface Checkpoint {
  accountId: string;
  seq: number;
  hash: string;
  createdAt: number;
  keyId: string;
  signature: string;
}

export interface ChainHead {
  accountId: string;
  seq: number;
  hash: string;
}

/** Where the stored chain of an account starts once retention has purged its oldest part. */
export interface RetentionAnchor {
  accountId: string;
  /** Sequence of the last purged record: the first stored record has `seq = anchor.seq + 1`. */
  seq: number;
  /** Hash of the last purged record: the first stored record's `prevHash`. */
  hash: string;
}

/** Indexed columns, derived from the record when stored; `verify` checks they still agree. */
export interface RecordColumns {
  logId: string;
  emitMs: number;
  operation: string;
  userEmail: string;
  principalId: string;
  status: string;
  namespace: string | null;
}

/** One stored link as verification reads it. */
export interface ChainLink {
  accountId: string;
  seq: number;
  prevHash: string;
  hash: string;
  /** The record's JSON exactly as stored. */
  recordJson: string;
  columns: RecordColumns;
}

/** The read side of a store that verification needs. */
export interface ChainSource {
  /** Every account the store knows a chain, head, anchor or checkpoint of. */
  chainAccounts(): Promise<string[]>;
  chainHead(accountId: string): Promise<ChainHead | undefined>;
  retentionAnchor(accountId: string): Promise<RetentionAnchor | undefined>;
  checkpoints(accountId: string): Promise<Checkpoint[]>;
  /** Links of one account with `seq` in [fromSeq, fromSeq + limit), in chain order. */
  readChain(accountId: string, fromSeq: number, limit: number): Promise<ChainLink[]>;
  /**
   * For a store that keeps copies of indexed columns apart from the records (SQLite's filter side
   * table): the first link of the account in [fromSeq, toSeq] whose copy is missing or differs
   * from its record's columns, with what differs. Filtered queries read those copies, so an
   * edited one hides a record from a filter or files it under another value.
   */
  copiedColumnsMismatch?(accountId: string, fromSeq: number, toSeq: number): Promise<{ seq: number; reason: string } | undefined>;
}

/** A system record appended by auditstream itself (never a client's `log_id`). */
export interface SystemAppend {
  accountId: string;
  records: AuditRecord[];
  ingestedBy: null;
  clientLogIds: false;
}

/** The `emit_ms` column of a record: its `emit_time` in epoch ms (0 when unparseable). */
export function emitMsOf(record: AuditRecord): number {
  const ms = Date.parse(record.emit_time);
  return Number.isFinite(ms) ? ms : 0;
}
