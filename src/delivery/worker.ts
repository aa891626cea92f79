/**
 * One sink's delivery loop, run by the process holding the sink's lease (src/delivery/lease.ts).
 *
 * It reads the account's chain page by page from the cursor (never more than about two batches
 * in memory, however large the backlog; the next batch is read while the current one is in
 * flight; and beyond one page per sink, all workers' read-ahead within one shared budget,
 * read-budget.ts), encodes with the adapter, and sends a batch when it is
 * full (the adapter's count and byte limits, and the adaptive rate's share) or when its oldest
 * record has waited `flushIntervalMs`. Each batch is sent until the destination acknowledged all
 * of it — resending from the first failed entry of each partition key after a partial failure,
 * slowing down on throttling, backing off with jitter on other errors, dead-lettering entries the
 * destination refuses for good — and only then is the cursor advanced (src/delivery/cursor.ts).
 *
 * Every send is preceded by a fence check (the row still carries this holder's token, the sink is
 * active and enabled, the lease has time left) and carries an AbortSignal that fires before the
 * lease would expire. A worker never waits on another sink: each has its own loop, adapter and
 * rate, so a slow or broken destination delays only itself.
 *
 * The parts, one per file: keeping the lease (lease-keeper.ts), planning a batch
 * (batch-plan.ts), sending it until acknowledged (verdict-loop.ts), replays (replay.ts). This
 * file holds the worker's life cycle and its read loop.
 */
import type { SinkAdapter, Verdict } from './adapter.js';
import { recordFilter } from './filter.js';
import type { AuditStore } from '../store/store.js';
import type { Logger } from '../log.js';
import { AdaptiveRate } from './rate.js';
import { sleep, type BackoffPolicy } from './retry.js';
import { entrySize } from './batcher.js';
import { LeaseLostError, persistPlannedBatch } from './cursor.js';
import { CursorCommitter } from './cursor-committer.js';
import { readForSend, type Lease, type LeaseTiming } from './lease.js';
import type { SinkRow } from './sql/sink-row.js';
import { LeaseKeeper, StopSignal } from './lease-keeper.js';
import { encodePending, planBatch, type Pending } from './batch-plan.js';
import { deliverBatch, SinkErrorReporter } from './verdict-loop.js';
import { replayStep, type ReplayHost } from './replay.js';
import type { ReadBudget } from './read-budget.js';

const noop = (): void => {};

export interface WorkerContext {
  store: AuditStore;
  timing: LeaseTiming;
  /** Longest a record waits in a batch (AUDITSTREAM_FLUSH_INTERVAL_MS). */
  flushIntervalMs: number;
  /** Overrides the window of kinds that set `SinkLimits.batchWindowMs` (AUDITSTREAM_BATCH_WINDOW_MS). */
  batchWindowMs?: number | undefined;
  /** How often an idle worker looks for new records without a `notify`. */
  idlePollMs: number;
  /** Records read from the store per page. */
  pageSize: number;
  /** The process-wide bound on read-ahead, shared by every worker (read-budget.ts). */
  readBudget: ReadBudget;
  backoff: BackoffPolicy;
  fatalBackoff: BackoffPolicy;
  /** Consecutive transient failures before the sink's status turns to error. */
  errorAfterAttempts: number;
  makeAdapter(row: SinkRow): Promise<SinkAdapter>;
  logger?: Logger | undefined;
  /** Observability hooks (metrics). */
  onSent?(sinkId: string, verdict: Verdict['kind'], entries: number): void;
}

export class SinkWorker implements ReplayHost {
  readonly sinkId: string;
  readonly accountId: string;
  readonly store: AuditStore;
  readonly pageSize: number;
  readonly backoff: BackoffPolicy;
  readonly fatalBackoff: BackoffPolicy;
  readonly errors: SinkErrorReporter;
  readonly onSent: WorkerContext['onSent'];
  private adapter: SinkAdapter | undefined;
  /** The sink's filter (filter.ts), set with the adapter; undefined: every record goes. */
  accepts: ((recordJson: string) => boolean) | undefined;
  private currentRate: AdaptiveRate | undefined;
  private specVersion: string;
  private spec: string;
  private stopping = false;
  /** Aborted when the lease is lost or the stop deadline passed: aborts sends too. */
  private readonly hard = new AbortController();
  private readonly keeper: LeaseKeeper;
  /** The current wait's controller; `wake`/`recheck` abort it. */
  private waitCtl: AbortController | undefined;
  private waitKind: 'idle' | 'linger' | 'backoff' | undefined;
  private recheckWanted = false;
  private done: Promise<void> | undefined;
  /** Last seq acknowledged by the destination (the row's cursor follows once `committer` has committed it). */
  private cursor: number;
  private readonly committer: CursorCommitter;
  /**
   * The batch planned and persisted before its send (stable batches, `SinkLimits.stableBatches`):
   * until the cursor passes `last`, the next batch is exactly the records read up to `last`.
   */
  private planned: { first: number; last: number } | undefined;

  constructor(
    private readonly ctx: WorkerContext,
    readonly lease: Lease,
    row: SinkRow,
  ) {
    this.sinkId = row.id;
    this.accountId = row.accountId;
    this.store = ctx.store;
    this.pageSize = ctx.pageSize;
    this.backoff = ctx.backoff;
    this.fatalBackoff = ctx.fatalBackoff;
    this.onSent = ctx.onSent;
    this.specVersion = row.resourceVersion;
    this.spec = JSON.stringify(row.spec);
    this.cursor = row.cursorSeq;
    this.planned = row.plannedBatch ?? undefined;
    this.errors = new SinkErrorReporter(ctx.store, lease, ctx.errorAfterAttempts, ctx.logger);
    this.committer = new CursorCommitter(ctx.store, lease);
    this.keeper = new LeaseKeeper(
      ctx.store,
      lease,
      ctx.timing,
      this.hard.signal,
      {
        letGo: () => {
          this.stopping = true;
          this.waitCtl?.abort();
        },
        lost: (why) => this.lose(why),
      },
      ctx.logger,
    );
  }

  /** The sink's adaptive rate; exists once the adapter does. */
  get rate(): AdaptiveRate {
    return this.currentRate!;
  }

  /** Fired when the lease is lost or the stop deadline passed. */
  get aborted(): AbortSignal {
    return this.hard.signal;
  }

  /** Starts the loop; resolves (never rejects) when the worker has stopped and let go of its lease. */
  start(): Promise<void> {
    this.done ??= this.run();
    return this.done;
  }

  /** New records may be there: end an idle wait (not a backoff). */
  wake(): void {
    if (this.waitKind === 'idle') this.waitCtl?.abort();
  }

  /** The sink's row changed (update, delete): re-read it now, even during a backoff. */
  recheck(): void {
    this.recheckWanted = true;
    this.waitCtl?.abort();
  }

  /**
   * Graceful stop: no new send starts; an in-flight send may finish and its batch be committed.
   * After `deadlineMs` the in-flight send is aborted. Resolves once the lease is released.
   */
  async stop(deadlineMs = 10_000): Promise<void> {
    this.stopping = true;
    this.waitCtl?.abort();
    const timer = setTimeout(() => this.hard.abort(new StopSignal('stop deadline')), deadlineMs);
    try {
      await this.start();
    } finally {
      clearTimeout(timer);
    }
  }

  private async run(): Promise<void> {
    const log = this.ctx.logger?.child({ sink: this.sinkId, account: this.accountId });
    this.keeper.start();
    try {
      await this.loop();
    } catch (err) {
      if (!(err instanceof StopSignal || err instanceof LeaseLostError)) log?.error({ err }, 'sink worker failed');
      else log?.debug({ why: err.message }, 'sink worker stopping');
    } finally {
      // What was acknowledged is committed while the lease is still ours (a failure here only means a resend).
      await this.committer.flush().catch((err: unknown) => log?.debug({ err }, 'last cursor commit failed; the next holder resends'));
      this.keeper.stop();
      await this.adapter?.close().catch(() => {});
      // Released only now that no send of ours is in flight: this is what awaitSinkDeleted waits for.
      await this.keeper.release().catch((err: unknown) => log?.warn({ err }, 'could not release sink lease; it will expire'));
    }
  }

  private lose(why: string): void {
    this.stopping = true;
    this.hard.abort(new StopSignal(why));
    this.waitCtl?.abort();
  }

  /** Throws StopSignal when the worker must stop. */
  checkRunning(): void {
    if (this.hard.signal.aborted) throw new StopSignal('lease lost');
    if (this.stopping) throw new StopSignal('stopping');
  }

  /** Waits `ms`, ended early by stop, lease loss, `recheck`, and (for idle waits) `wake`. */
  private async wait(ms: number, kind: 'idle' | 'linger' | 'backoff'): Promise<void> {
    if (this.stopping) return;
    const ctl = new AbortController();
    this.waitCtl = ctl;
    this.waitKind = kind;
    try {
      await sleep(ms, AbortSignal.any([ctl.signal, this.hard.signal]));
    } finally {
      if (this.waitCtl === ctl) {
        this.waitCtl = undefined;
        this.waitKind = undefined;
      }
    }
  }

  backoffWait(ms: number): Promise<void> {
    return this.wait(ms, 'backoff');
  }

  sendSignal(): AbortSignal {
    return this.keeper.sendSignal();
  }

  private async ensureAdapter(row?: SinkRow): Promise<SinkAdapter> {
    if (!this.adapter) {
      const r = row ?? (await readForSend(this.ctx.store.sql, this.sinkId));
      if (!r) throw new StopSignal('sink deleted');
      this.adapter = await this.ctx.makeAdapter(r);
      this.accepts = recordFilter(r.spec.filter);
      const { recordsPerSecond, bytesPerSecond } = this.adapter.limits;
      this.currentRate = new AdaptiveRate({ recordsPerSecond, bytesPerSecond });
    }
    return this.adapter;
  }

  /**
   * The fence check before a send (see lease.ts), and pickup of spec changes. Returns false when
   * the destination changed: the caller drops what it encoded and reads again from the cursor.
   */
  async preSend(): Promise<boolean> {
    const row = await this.keeper.checkBeforeSend();
    if (row.resourceVersion !== this.specVersion) {
      const spec = JSON.stringify(row.spec);
      this.specVersion = row.resourceVersion;
      if (spec !== this.spec) {
        // Changing the destination keeps the cursor: only the adapter is rebuilt.
        this.spec = spec;
        await this.adapter?.close().catch(() => {});
        this.adapter = undefined;
        await this.ensureAdapter(row);
        return false;
      }
    }
    return true;
  }

  private async loop(): Promise<void> {
    let adapter = await this.ensureAdapter();
    // Read but not yet acknowledged, in chain order; `lastRead` is the last seq in it (or the cursor).
    // `filtered`: seqs read that the sink's filter skips; counted when the cursor passes them.
    const buf = { pending: [] as Pending[], bytes: 0, lastRead: this.cursor, caughtUp: false, filtered: [] as number[] };
    const budget = this.ctx.readBudget;
    /** Replaces what `buf` holds, keeping the shared budget's count. */
    const keep = (pending: Pending[]): void => {
      const bytes = pending.reduce((n, p) => n + entrySize(p.entry), 0);
      budget.release(buf.bytes - bytes);
      buf.pending = pending;
      buf.bytes = bytes;
    };
    /**
     * Reads one page into `buf`; false when the shared read-ahead budget is spent (a worker
     * holding nothing always reads, so every sink progresses).
     */
    const readPage = async (force = false): Promise<boolean> => {
      if (!force && buf.pending.length > 0 && !budget.available()) return false;
      const page = await this.ctx.store.readChainBodies(this.accountId, buf.lastRead + 1, this.ctx.pageSize);
      const now = Date.now();
      let bytes = 0;
      for (const r of page) {
        if (this.accepts && !this.accepts(r.recordJson)) {
          buf.filtered.push(r.seq);
          buf.lastRead = r.seq;
          continue;
        }
        const p = encodePending(adapter, this.accountId, r, now);
        buf.pending.push(p);
        bytes += entrySize(p.entry);
        buf.lastRead = r.seq;
      }
      buf.bytes += bytes;
      budget.take(bytes);
      buf.caughtUp = page.length < this.ctx.pageSize;
      return true;
    };
    try {
      await this.deliverLoop(buf, readPage, keep, adapter, (a) => (adapter = a));
    } finally {
      budget.release(buf.bytes);
    }
  }

  /**
   * The read-plan-send loop over `buf` (what `loop` set up). `setAdapter` tells `readPage` which
   * adapter encodes, after a destination change.
   */
  private async deliverLoop(
    buf: { pending: Pending[]; bytes: number; lastRead: number; caughtUp: boolean; filtered: number[] },
    readPage: (force?: boolean) => Promise<boolean>,
    keep: (pending: Pending[]) => void,
    first: SinkAdapter,
    setAdapter: (a: SinkAdapter) => void,
  ): Promise<void> {
    let adapter = first;
    /** Whether `buf` holds a batch's worth beyond its first `from` entries. */
    const holdsBatch = (from: number): boolean => {
      const limits = adapter.limits;
      return buf.pending.length - from >= limits.maxBatchRecords || buf.bytes >= 2 * limits.maxBatchBytes;
    };
    for (;;) {
      this.checkRunning();
      this.committer.check();
      if (this.recheckWanted) {
        this.recheckWanted = false;
        await this.keeper.checkNow();
      }
      adapter = await this.ensureAdapter();
      setAdapter(adapter);
      const limits = adapter.limits;
      // Read while less than a batch is buffered: memory stays bounded by two batches plus a page,
      // and all workers' read-ahead by the shared budget (`starved`: it is spent, send what we hold).
      let starved = false;
      if (!holdsBatch(0) && buf.bytes < limits.maxBatchBytes) starved = !(await readPage());
      // A persisted batch not yet acknowledged (stable batches) goes again exactly: read up to its
      // last seq, whatever the budget says (it was within the batch limits when it was planned).
      const planned = limits.stableBatches && this.planned && this.planned.last > this.cursor ? this.planned : undefined;
      if (planned) {
        while (buf.lastRead < planned.last && !buf.caughtUp && !this.stopping) await readPage(true);
        // Never a part of the planned range: stopping now sends nothing.
        this.checkRunning();
      }
      if (buf.pending.length === 0 && buf.filtered.length > 0) {
        // Everything read since the cursor is filtered out: move the cursor past it, sending nothing.
        this.committer.add({ lastSeq: buf.lastRead, delivered: 0, deadLetters: [], filtered: buf.filtered.length });
        this.cursor = buf.lastRead;
        buf.filtered = [];
        continue;
      }
      if (buf.pending.length === 0) {
        if (await replayStep(this, adapter)) continue;
        await this.wait(this.ctx.idlePollMs, 'idle');
        continue;
      }
      let take: number;
      if (planned) {
        take = buf.pending.findIndex((p) => p.seq > planned.last);
        if (take < 0) take = buf.pending.length;
        if (take === 0) {
          // Nothing of the planned range passes the filter any more (it was changed): plan afresh.
          this.planned = undefined;
          continue;
        }
        if (buf.pending[0]!.seq !== planned.first)
          this.ctx.logger?.warn({ sink: this.sinkId, planned, first: buf.pending[0]!.seq }, 'planned batch starts elsewhere now (filter changed)');
      } else {
        const plan = planBatch(buf.pending, limits, this.rate);
        if (!plan.full && !(starved && !buf.caughtUp)) {
          if (!buf.caughtUp && buf.bytes < limits.maxBatchBytes) continue;
          const first = buf.pending[0]!;
          const window = limits.batchWindowMs === undefined ? this.ctx.flushIntervalMs : (this.ctx.batchWindowMs ?? limits.batchWindowMs);
          const due = Math.min(first.storedAt, first.seenAt) + window;
          const now = Date.now();
          if (now < due) {
            // Not ended by `notify`: what arrives meanwhile is read once, when the batch is due,
            // rather than one store read per append.
            await this.wait(due - now, 'linger');
            buf.caughtUp = false;
            continue;
          }
        }
        take = plan.take;
        if (limits.stableBatches) {
          // The boundaries are durable before the send. Earlier batches' commits land first: the
          // row then never names a batch beyond one whose boundaries a crash would lose.
          await this.committer.flush();
          const bounds = { first: buf.pending[0]!.seq, last: buf.pending[take - 1]!.seq };
          await persistPlannedBatch(this.store, this.lease, bounds.first, bounds.last);
          this.planned = bounds;
        }
      }
      const batch = buf.pending.slice(0, take);
      await this.committer.room();
      let sendStarted!: () => void;
      const started = new Promise<void>((resolve) => (sendStarted = resolve));
      const delivering = deliverBatch(
        this,
        adapter,
        batch,
        async (delivered, dead) => {
          const last = batch[batch.length - 1]!.seq;
          const skipped = buf.filtered.filter((s) => s < last).length;
          // Committed in the background (cursor-committer.ts): the next batch goes without waiting for it.
          this.committer.add({ lastSeq: last, delivered, deadLetters: dead, filtered: skipped });
          buf.filtered = buf.filtered.slice(skipped);
          this.cursor = last;
        },
        sendStarted,
      );
      // While the batch is in flight, read the next one, so that it can go as soon as this one is
      // acknowledged: reading the store then costs no delivery time. Only reads: the cursor moves
      // in `deliverBatch` alone, after the acknowledgement. It starts once the send is under way
      // (and a turn of the event loop later): SQLite reads are synchronous, and reading first
      // would hold the batch back.
      const readingAhead = (async () => {
        await Promise.race([started, delivering.then(noop, noop)]);
        await new Promise<void>((resolve) => setImmediate(resolve));
        while (!buf.caughtUp && !holdsBatch(take) && !this.stopping) if (!(await readPage())) break;
      })();
      const [sent, read] = await Promise.allSettled([delivering, readingAhead]);
      if (sent.status === 'rejected') throw sent.reason;
      if (!sent.value) {
        // The destination changed: what was encoded for the old one is dropped and read again.
        adapter = await this.ensureAdapter();
        setAdapter(adapter);
        keep([]);
        buf.lastRead = this.cursor;
        buf.caughtUp = false;
        buf.filtered = [];
        continue;
      }
      if (read.status === 'rejected') throw read.reason;
      keep(buf.pending.slice(take));
    }
  }
}
