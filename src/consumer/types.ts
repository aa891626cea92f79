/**
 * The shapes the consumer's parts share: what a source yields, where it stands, what an output
 * takes. One source (a Kinesis stream, a Pub/Sub subscription) feeds one output through
 * dedupe and proof; the state store makes each batch's effects durable together.
 */
import type { AccountProofState, PendingRecord } from './proof.js';
import type { StoredHeld } from './reorder.js';

/** One record as a source delivered it: the exact bytes and where they came from. */
export interface SourceRecord {
  /** The account: the Kinesis partition key / Pub/Sub ordering key. */
  account: string;
  /** The record's bytes as delivered (the seeds' JSON when all is well). */
  data: Buffer;
  /** Kinesis shard id or Pub/Sub subscription name. */
  shard: string;
  /** Kinesis sequence number or Pub/Sub message id. */
  sequence: string;
  /** Index inside a KPL-aggregated Kinesis record, when it was one. */
  subSequence?: number;
}

/** Where one shard stands after a batch. */
export interface ShardPosition {
  shard: string;
  /** Last sequence number processed (undefined: none yet). */
  sequence?: string;
  /** The shard is closed and fully read (its children may start). */
  finished: boolean;
}

/** What a source returns per poll. */
export interface SourceBatch {
  records: SourceRecord[];
  /** New positions of the shards this batch read from (Kinesis); empty for Pub/Sub. */
  positions: ShardPosition[];
  /** Called once the batch's effects are durable (Pub/Sub acks here). */
  commit?: () => Promise<void>;
}

/** A place records come from. */
export interface Source {
  /** For messages: `kinesis stream/NAME`, `pubsub projects/P/subscriptions/S`. */
  readonly description: string;
  /** Opens the source at the stored positions; throws a one-line `ConsumerSetupError` when it cannot. */
  open(positions: Map<string, ShardPosition>): Promise<void>;
  /** The next batch (possibly empty after waiting); null when the source has ended for good. */
  next(signal: AbortSignal): Promise<SourceBatch | null>;
  /** Lag per shard in ms (Kinesis MillisBehindLatest), for progress. */
  lag(): Map<string, number>;
  close(): Promise<void>;
}

/** What an output receives per record: the bytes as delivered and where they came from. */
export interface OutputRecord {
  account: string;
  data: Buffer;
  shard?: string;
  sequence?: string;
}

/** A durable destination for accepted records. */
export interface Output {
  readonly description: string;
  /** Prepares the output, undoing whatever a crash left past `position` (the committed one). */
  open(position: string | undefined): Promise<void>;
  /** Writes records (each the exact bytes delivered) and makes them durable; returns the new position. */
  write(records: OutputRecord[]): Promise<string | undefined>;
  close(): Promise<void>;
}

/**
 * Where the consumer keeps what it must not forget (positions, dedupe ids, proof state, output
 * position): a local SQLite file (`CheckpointDb.state()`) or, for several processes on one
 * stream, a shared PostgreSQL database (`PgConsumerState`).
 */
export interface ConsumerState {
  readonly description: string;
  /** Several processes write it: each batch's accounts' proof state is read afresh before use. */
  readonly shared: boolean;
  positions(source: string): Promise<Map<string, ShardPosition>>;
  /** The content digest of each (account, log_id) already written, among these; keyed `account\nlog_id`. */
  seenDigests(keys: { account: string; logId: string }[]): Promise<Map<string, string>>;
  /** Proof state of these accounts (all when omitted). */
  proofStates(accounts?: string[]): Promise<{ state: AccountProofState; pending: PendingRecord[] }[]>;
  /** Records received but not yet written (the reorder buffer, src/consumer/reorder.ts) of these accounts (all when omitted). */
  heldRecords(accounts?: string[]): Promise<StoredHeld[]>;
  meta(key: string): Promise<string | undefined>;
  setMeta(key: string, value: string): Promise<void>;
  /** Commits one batch atomically (with leases: only positions of shards still held advance). */
  commit(c: BatchCommit): Promise<void>;
  close(): Promise<void>;
}

/** What one batch commits. */
export interface BatchCommit {
  /** Stream (or subscription) the positions belong to. */
  source: string;
  positions: ShardPosition[];
  /** Newly written records: account, log_id, content digest. */
  seen: { account: string; logId: string; digest: string }[];
  /** Accounts whose proof state changed, with their full state and the pending records to add / replace. */
  proofs: { state: AccountProofState; pendingReset: boolean; pendingAdded: PendingRecord[] }[];
  /** Records now held (added, or their latest copy moved) and held records no longer held (written). */
  held?: { put: StoredHeld[]; remove: { account: string; logId: string }[] };
  outputPosition?: string | undefined;
  /** Key the output position is stored under. */
  outputKey?: string;
}

/** Shard leases shared by several consumer processes (KCL-style), for the Kinesis source. */
export interface ShardLeases {
  /**
   * Heartbeats this process, renews its leases, takes a fair share of free or expired ones among
   * `shards` (and lets go of more than its share); returns the shards it holds and every shard's
   * committed position.
   */
  sync(source: string, shards: string[]): Promise<{ held: Set<string>; positions: Map<string, ShardPosition> }>;
  readonly renewEveryMs: number;
}

/** A setup problem the CLI prints as one line and exits 2 for. */
export class ConsumerSetupError extends Error {}
