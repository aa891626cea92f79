/**
 * The delivery engine: one per process. It claims the leases of sinks nobody holds (or whose
 * holder died: lease expired), runs one `SinkWorker` per held sink, finishes deletions whose last
 * holder is gone, and on stop lets every in-flight send finish (within a deadline) and releases
 * its leases so another process takes over at once.
 *
 * What the rest of auditstream calls:
 * - `engine.notify(accountId)` after every commit that appended records to that account (ingest,
 *   control-plane mutations, checkpoints): wakes its sinks' workers so delivery latency is the
 *   flush interval, not the poll interval. A hint only: without it, workers poll.
 * - `engine.sinksChanged(accountId)` after a sink was created, updated, deleted or replayed: claims
 *   new sinks now and makes running workers re-read their row (pause, destination change, delete).
 * - `engine.stop()` on shutdown, before closing the store.
 *
 * Its timers are unref'd: the engine never keeps a process alive by itself (`serve` has its
 * listeners; a delivery-only process must hold its own handle, see test/helpers/delivery-child.ts).
 *
 * @example
 * const engine = new DeliveryEngine({ store, sinks: sinkRegistry, flushIntervalMs: config.flushIntervalMs, logger });
 * engine.start();
 * // after a commit: engine.notify(accountId)
 * await engine.stop();
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { AuditStore } from '../store/store.js';
import type { Logger } from '../log.js';
import type { AdapterFactory, SinkAdapter, Verdict } from './adapter.js';
import { claimableSinks, claimLease, DELETE_WAIT_MS, leaseTiming, type LeaseTiming } from './lease.js';
import { FATAL_BACKOFF, TRANSIENT_BACKOFF, type BackoffPolicy } from './retry.js';
import { SinkWorker, type WorkerContext } from './worker.js';
import type { SinkRow } from './sql/sink-row.js';
import { readExternalId } from './external-id.js';
import { finishDeletion } from './sql/finish-deletion.js';
import { DEFAULT_FLUSH_INTERVAL_MS } from '../config.js';
import { ReadBudget } from './read-budget.js';

/** EngineOptions.readAheadBytes' default. */
export const DEFAULT_READ_AHEAD_BYTES = 16 * 1024 * 1024;

export interface EngineOptions {
  store: AuditStore;
  /** AUDITSTREAM_FLUSH_INTERVAL_MS: the longest a record waits in a sink batch. Default DEFAULT_FLUSH_INTERVAL_MS (50). */
  flushIntervalMs?: number;
  /**
   * AUDITSTREAM_BATCH_WINDOW_MS: the batch window of every sink kind that has one
   * (`SinkLimits.batchWindowMs`, object sinks such as S3), instead of the kind's default. Unset:
   * each kind's own window.
   */
  batchWindowMs?: number | undefined;
  /** This process's name in lease rows. Default `<host>:<pid>:<random>`. */
  owner?: string;
  /** Lease time-to-live; renewed every third of it. Default 15 s. */
  leaseTtlMs?: number;
  /** How often free sinks are looked for. Default 2 s. */
  scanIntervalMs?: number;
  /** How often an idle worker polls without a notify. Default 1 s. */
  idlePollMs?: number;
  /** Records read per page. Default 250. */
  pageSize?: number;
  /**
   * Bytes of records all this process's sink workers may hold read but not yet acknowledged,
   * beyond one page each (src/delivery/read-budget.ts). Default 16 MiB: with the default page,
   * 100 sinks with large backlogs stay well within a 128 MB heap.
   */
  readAheadBytes?: number;
  backoff?: BackoffPolicy;
  fatalBackoff?: BackoffPolicy;
  /** Consecutive transient failures before status shows an error. Default 2. */
  errorAfterAttempts?: number;
  /**
   * How long a sink delete waits for this sink's holder before the control plane answers with the
   * operation in progress (see DeliveryHooks.deleteWaitMs). Default DELETE_WAIT_MS (2 s).
   */
  deleteWaitMs?: number;
  /** auditstream's own GCP identity (`Config.gcpServiceAccount`), given to Pub/Sub adapters. */
  gcpServiceAccount?: string | undefined;
  /**
   * The sink kinds this process delivers to (src/sinks/index.ts's `sinkRegistry` in `serve`):
   * the engine imports no destination itself. Required unless `createAdapter` is given.
   */
  sinks?: AdapterFactory;
  /** Builds a sink's adapter instead of `sinks` (tests and benchmarks wrap it). */
  createAdapter?: (row: SinkRow, externalId: string) => SinkAdapter | Promise<SinkAdapter>;
  logger?: Logger;
  onSent?: (sinkId: string, verdict: Verdict['kind'], entries: number) => void;
}

export class DeliveryEngine {
  readonly owner: string;
  readonly timing: LeaseTiming;
  readonly deleteWaitMs: number;
  private readonly store: AuditStore;
  private readonly ctx: WorkerContext;
  private readonly scanIntervalMs: number;
  private readonly workers = new Map<string, SinkWorker>();
  private readonly logger: Logger | undefined;
  private scanTimer: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | undefined;
  private rescan = false;
  private stopped = false;

  constructor(opts: EngineOptions) {
    this.store = opts.store;
    this.owner = opts.owner ?? `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
    this.timing = leaseTiming(opts.leaseTtlMs ?? 15_000);
    this.scanIntervalMs = opts.scanIntervalMs ?? 2000;
    this.deleteWaitMs = opts.deleteWaitMs ?? DELETE_WAIT_MS;
    this.logger = opts.logger;
    const sinks = opts.sinks;
    if (!opts.createAdapter && !sinks) throw new TypeError('DeliveryEngine needs the sink registry (sinks) or createAdapter');
    const make =
      opts.createAdapter ??
      ((row: SinkRow, externalId: string) =>
        sinks!.createAdapter(row.spec, {
          accountId: row.accountId,
          sinkName: row.name,
          externalId,
          ...(opts.logger ? { logger: opts.logger } : {}),
          ...(opts.gcpServiceAccount ? { gcpServiceAccount: opts.gcpServiceAccount } : {}),
        }));
    this.ctx = {
      store: opts.store,
      timing: this.timing,
      flushIntervalMs: opts.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS,
      batchWindowMs: opts.batchWindowMs,
      idlePollMs: opts.idlePollMs ?? 1000,
      pageSize: opts.pageSize ?? 250,
      readBudget: new ReadBudget(opts.readAheadBytes ?? DEFAULT_READ_AHEAD_BYTES),
      backoff: opts.backoff ?? TRANSIENT_BACKOFF,
      fatalBackoff: opts.fatalBackoff ?? FATAL_BACKOFF,
      errorAfterAttempts: opts.errorAfterAttempts ?? 2,
      makeAdapter: async (row) => make(row, (await readExternalId(opts.store.sql, row.accountId)) ?? ''),
      logger: opts.logger,
      ...(opts.onSent ? { onSent: opts.onSent } : {}),
    };
  }

  /** The lease TTL (DeliveryHooks.leaseTtlMs). */
  get leaseTtlMs(): number {
    return this.timing.ttlMs;
  }

  /** Starts claiming sinks (now and every scan interval). */
  start(): void {
    if (this.scanTimer || this.stopped) return;
    this.scanTimer = setInterval(() => void this.scan(), this.scanIntervalMs);
    this.scanTimer.unref();
    void this.scan();
  }

  /** Hint: `accountId` has new records. Cheap; call after every commit that appended. */
  notify(accountId: string): void {
    for (const w of this.workers.values()) if (w.accountId === accountId) w.wake();
  }

  /** A sink of `accountId` was created, changed, deleted or given a replay: act on it now. */
  sinksChanged(accountId: string): void {
    for (const w of this.workers.values()) if (w.accountId === accountId) w.recheck();
    void this.scan();
  }

  /** Bytes of records this process's workers hold read but not yet acknowledged (EngineOptions.readAheadBytes). */
  get readAheadInUse(): number {
    return this.ctx.readBudget.inUse;
  }

  /** Ids of the sinks this process delivers now. */
  heldSinks(): string[] {
    return [...this.workers.keys()];
  }

  /** One claim round (also run by the timer). Never runs twice at once; a request during a round runs another. */
  async scan(): Promise<void> {
    if (this.stopped) return;
    if (this.scanning) {
      this.rescan = true;
      return this.scanning;
    }
    this.scanning = (async () => {
      do {
        this.rescan = false;
        try {
          await this.scanOnce();
        } catch (err) {
          this.logger?.warn({ err }, 'sink claim round failed; retrying next interval');
        }
      } while (this.rescan && !this.stopped);
    })().finally(() => {
      this.scanning = undefined;
    });
    return this.scanning;
  }

  private async scanOnce(): Promise<void> {
    const claimable = await claimableSinks(this.store.sql);
    this.logger?.trace({ claimable: claimable.length, held: this.workers.size }, 'sink claim round');
    for (const s of claimable) {
      if (this.stopped) return;
      if (s.state === 'deleting') {
        await finishDeletion(this.store, s.id, this.timing.clockSkewMs);
        continue;
      }
      if (this.workers.has(s.id)) continue;
      const claimed = await claimLease(this.store, s.id, this.owner, this.timing.ttlMs);
      if (!claimed) continue;
      const worker = new SinkWorker(this.ctx, claimed.lease, claimed.row);
      this.workers.set(s.id, worker);
      this.logger?.info({ sink: s.id, account: s.accountId, fence: claimed.lease.token, cursor: claimed.row.cursorSeq }, 'sink lease claimed');
      void worker.start().then(() => {
        if (this.workers.get(s.id) === worker) this.workers.delete(s.id);
        // It may be claimable again (re-enabled, or lost to a now-dead process): look soon.
        if (!this.stopped) setTimeout(() => void this.scan(), 100).unref();
      });
    }
  }

  /**
   * Graceful stop: claims nothing more, lets in-flight sends finish (aborted after
   * `deadlineMs`), commits what was acknowledged, releases every lease.
   */
  async stop(deadlineMs = 10_000): Promise<void> {
    this.stopped = true;
    if (this.scanTimer) clearInterval(this.scanTimer);
    await this.scanning;
    await Promise.all([...this.workers.values()].map((w) => w.stop(deadlineMs)));
    this.workers.clear();
  }
}
