/**
 * The contract between the delivery engine (src/delivery) and a sink adapter (src/sinks/*).
 *
 * An adapter knows one destination: its limits, how to encode a record for it, how to send a
 * batch, and how to read the destination's answer. Everything else — the durable cursor,
 * batching within `limits`, retry with backoff and jitter, adaptive rate under throttling,
 * leases, dead letters, status — is the engine's, shared by every sink.
 *
 * Invariant: the engine advances a sink's cursor only once `classify` says the whole batch was
 * acknowledged (`ok`). A `retry` with `only` resends from those entries (the engine keeps the
 * per-partition order: see docs/decisions/0018-ordering-with-partial-failure.md).
 */
import type { Logger } from '../log.js';

/** Provider limits, each with its source. */
export interface SinkLimits {
  /** Most entries in one send call. */
  maxBatchRecords: number;
  /** Most bytes in one send call (sum of encoded entries). */
  maxBatchBytes: number;
  /** Most bytes of one encoded entry; larger ones are dead-lettered, never sent. */
  maxRecordBytes: number;
  /**
   * Sustained entries per second per partition key the destination accepts (the engine's starting
   * and highest rate); null: the destination limits bytes only.
   */
  recordsPerSecond: number | null;
  /**
   * Sustained bytes per second per partition key, counted as `entrySize` (data + partition key,
   * src/delivery/batcher.ts); the engine holds each sink under both this and `recordsPerSecond`.
   */
  bytesPerSecond: number;
  /**
   * How long a batch collects records before it goes, when the destination wants few large
   * batches rather than low latency (object storage: one object per window). Absent: the engine's
   * flush interval (AUDITSTREAM_FLUSH_INTERVAL_MS). The engine's `batchWindowMs` option
   * (AUDITSTREAM_BATCH_WINDOW_MS) overrides it for every kind that sets it.
   */
  batchWindowMs?: number;
  /**
   * Stable batches: the engine persists each batch's first and last seq before sending it
   * (migration 0008) and, until the cursor passes it, resends exactly that range — after a
   * failure, a lost lease or a crash — so a destination that names what it writes after the
   * batch (an S3 key `<first>-<last>`) writes the same thing again and never puts a record in two
   * batches. Costs a durable write per batch. (docs/decisions/0022-deterministic-object-batches.md)
   */
  stableBatches?: boolean;
}

/** One record ready to send. */
export interface EncodedEntry {
  /** Position in the account's chain. */
  seq: number;
  logId: string;
  /** Partition key (Kinesis) / ordering key (Pub/Sub): the account id by default. */
  partitionKey: string;
  data: Buffer;
  /**
   * Bytes the destination counts for this entry, when it counts more than data + partition key
   * (Pub/Sub's quotas count the whole message, attributes included). Used for every byte limit.
   */
  sizeBytes?: number;
}

/** What the destination said about one send. */
export type Verdict =
  | { kind: 'ok' }
  /** Some entries failed transiently: resend these indexes (into the batch sent). */
  | { kind: 'retry'; only?: number[]; reason: string }
  /**
   * The destination is throttling: slow down, resend after `afterMs` if given. `only`: just these
   * entries were throttled (the rest were accepted), as with PutRecords' per-entry
   * ProvisionedThroughputExceededException; absent means the whole call was.
   */
  | { kind: 'throttle'; afterMs?: number; only?: number[]; reason: string }
  /** These entries can never be accepted (too large, malformed for it): dead-letter them. */
  | { kind: 'reject'; only: number[]; reason: string }
  /** The configuration is wrong (role not assumable, stream missing, permission denied): no point retrying soon. */
  | { kind: 'fatal'; reason: string };

/** The result of writing one test record (ValidateAccountAuditLogSink). */
export type VerifyResult = { ok: true } | { ok: false; cause: VerifyCause; message: string };

/** Causes named by the issue, so a UI can explain them. */
export type VerifyCause =
  'role_not_assumable' | 'destination_not_found' | 'permission_denied' | 'wrong_region' | 'endpoint_unreachable' | 'invalid_spec' | 'unknown';

export interface SinkAdapter {
  /** The sink kind (its driver's `kind` in the registry, e.g. `kinesis`). */
  readonly kind: string;
  readonly limits: SinkLimits;
  /**
   * What the destination counts for `entries` sent in one call, when that is not one record per
   * entry and `entrySize` bytes each (Kinesis with KPL aggregation packs many entries into one
   * Kinesis record). The adaptive rate (`recordsPerSecond`, `bytesPerSecond`) is charged this.
   */
  units?(entries: readonly EncodedEntry[]): { records: number; bytes: number };
  /** Encodes one stored record (its JSON text as stored, the key order of docs/record-format.md). */
  encode(accountId: string, seq: number, logId: string, recordJson: string): EncodedEntry;
  /**
   * Sends a batch; resolves with the provider's raw answer, or rejects with its error. `signal`
   * aborts the call (the engine aborts before its lease runs out, so a send never outlives the
   * lease it was started under: the basis of the delete fence, src/delivery/lease.ts).
   */
  send(entries: EncodedEntry[], signal?: AbortSignal): Promise<unknown>;
  /**
   * Verify's test write, when it must differ from `send` (an object sink writes a test object under
   * its own key and deletes it again, so it is never mistaken for part of the chain). Resolves or
   * rejects like `send`; `classify` reads its outcome. Absent: Verify calls `send`.
   */
  probe?(entry: EncodedEntry, signal?: AbortSignal): Promise<unknown>;
  /** Reads the answer (or the error) of `send` into a verdict. Pure: unit-tested on recorded responses. */
  classify(result: { value?: unknown; error?: unknown }, entries: EncodedEntry[]): Verdict;
  /** Releases clients and credentials. */
  close(): Promise<void>;
}

/**
 * The destinations of a sink spec. Empty here: each sink folder (src/sinks/<kind>/) adds its own
 * optional key by declaration merging (`declare module '.../delivery/adapter.js'`), so the engine
 * names no destination and a new kind changes nothing in src/delivery.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled by declaration merging
export interface SinkDestinations {}

/** A sink spec as stored and as the engine sees it: name, switch, optional filter, one destination. */
export interface StoredSinkSpec extends SinkDestinations {
  /** Unique per account; `[A-Za-z0-9_-]{1,64}`. */
  name: string;
  /** `false` pauses delivery and keeps the cursor. */
  enabled: boolean;
  /** Which records this sink receives (all when absent); the engine applies it (filter.ts). */
  filter?: SinkFilter;
}

/**
 * Which records a sink receives. Every given condition must hold; a record that fails one is
 * skipped: its cursor advances without a send, and the sink's status counts it.
 */
export interface SinkFilter {
  /** Only these operations (`operation` of the record). */
  includeOperations?: string[];
  /** Never these operations. */
  excludeOperations?: string[];
  /** Only records with this status. */
  status?: 'OK' | 'ERROR';
  /** Only these categories (`LOG_CATEGORY_...`). */
  categories?: string[];
}

/** What every adapter is given besides its own spec. */
export interface AdapterDeps {
  /** The account whose records this adapter sends: the default partition / ordering key. */
  accountId: string;
  /** The sink's name, for log lines and metrics. */
  sinkName: string;
  /**
   * The account's ExternalId (random, unique per account, see src/delivery/external-id.ts),
   * passed to STS AssumeRole by the AWS kinds; other kinds ignore it.
   */
  externalId: string;
  /**
   * auditstream's own GCP identity (AUDITSTREAM_GCP_SERVICE_ACCOUNT), through which the Pub/Sub
   * adapter impersonates the customer's service account; unset = ADC's own principal.
   */
  gcpServiceAccount?: string;
  logger?: Logger;
}

/** The raw outcome of one `send`, as `classify` receives it. */
export interface SendOutcome {
  value?: unknown;
  error?: unknown;
}

/**
 * The sink kinds a process can deliver to. The engine receives one (src/sinks/index.ts builds
 * it) and never imports a destination itself.
 */
export interface AdapterFactory {
  /**
   * Builds the adapter of a stored spec (a promise while the kind's code loads, on first use);
   * no network I/O (adapters fetch credentials on the first send).
   */
  createAdapter(spec: StoredSinkSpec, deps: AdapterDeps): SinkAdapter | Promise<SinkAdapter>;
}
