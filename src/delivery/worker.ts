/**
 * One sink's delivery loop, run by the process holding the sink's lease (src/delivery/lease.ts).
 *
 * It reads the account's chain page by page from the cursor (never more than about two batches
 * in memory, however large the backlog; the next batch is read while the current one is in
 * flight), encodes with the adapter, and sends a batch when it is
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
 */
import type { EncodedEntry, SinkAdapter, Verdict } from './adapter.js';
import type { AuditStore, ChainBody } from '../store/store.js';
import type { Logger } from '../log.js';
import { AdaptiveRate } from './rate.js';
import { backoffDelay, sleep, type BackoffPolicy } from './retry.js';
import { entrySize, fitsRecordLimit, resendFrom } from './batcher.js';
import { commitBatch, LeaseLostError, markError, type DeadLetter } from './cursor.js';
import { readForSend, releaseLease, renewLease, sendRefusal, type Lease, type LeaseTiming } from './lease.js';
import type { SinkErrorKind, SinkRow } from './sql/sink-row.js';
import { commitReplay, deadLetterSeqs, nextReplay, type ReplayRow } from './sql/replays.js';

export interface WorkerContext {
  store: AuditStore;
  timing: LeaseTiming;
  /** Longest a record waits in a batch (AUDITSTREAM_FLUSH_INTERVAL_MS). */
  flushIntervalMs: number;
  /** How often an idle worker looks for new records without a `notify`. */
  idlePollMs: number;
  /** Records read from the store per page. */
  pageSize: number;
  backoff: BackoffPolicy;
  fatalBackoff: BackoffPolicy;
  /** Consecutive transient failures before the sink's status turns to error. */
  errorAfterAttempts: number;
  makeAdapter(row: SinkRow): Promise<SinkAdapter>;
  logger?: Logger | undefined;
  /** Observability hooks (metrics). */
  onSent?(sinkId: string, verdict: Verdict['kind'], entries: number): void;
}

interface Pending {
  seq: number;
  logId: string;
  storedAt: number;
  seenAt: number;
  entry: EncodedEntry;
}

/** Thrown out of the loop when the worker must stop without treating it as a failure. */
class StopSignal extends Error {
  constructor(readonly why: string) {
    super(why);
  }
}

export class SinkWorker {
  readonly sinkId: string;
  readonly accountId: string;
  private adapter: SinkAdapter | undefined;
  private specVersion: string;
  private spec: string;
  private rate: AdaptiveRate | undefined;
  private stopping = false;
  /** Aborted when the lease is lost or the stop deadline passed: aborts sends too. */
  private readonly hard = new AbortController();
  /** The current wait's controller; `wake`/`recheck` abort it. */
  private waitCtl: AbortController | undefined;
  private waitKind: 'idle' | 'backoff' | undefined;
  private recheckWanted = false;
  private renewTimer: NodeJS.Timeout | undefined;
  private lastError: string | undefined;
  private done: Promise<void> | undefined;

  constructor(
    private readonly ctx: WorkerContext,
    private readonly lease: Lease,
    row: SinkRow,
  ) {
    this.sinkId = row.id;
    this.accountId = row.accountId;
    this.specVersion = row.resourceVersion;
    this.spec = JSON.stringify(row.spec);
    this.cursor = row.cursorSeq;
  }

  /** Last seq acknowledged (what the row's cursor says after our last commit). */
  private cursor: number;

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
    this.renewTimer = setInterval(() => void this.renew(), Math.max(50, this.ctx.timing.ttlMs / 3));
    this.renewTimer.unref();
    try {
      await this.loop();
    } catch (err) {
      if (!(err instanceof StopSignal || err instanceof LeaseLostError)) log?.error({ err }, 'sink worker failed');
      else log?.debug({ why: err.message }, 'sink worker stopping');
    } finally {
      clearInterval(this.renewTimer);
      await this.adapter?.close().catch(() => {});
      // Released only now that no send of ours is in flight: this is what awaitSinkDeleted waits for.
      await releaseLease(this.ctx.store, this.lease).catch((err: unknown) => log?.warn({ err }, 'could not release sink lease; it will expire'));
    }
  }

  private async renew(): Promise<void> {
    if (this.hard.signal.aborted) return;
    try {
      const ok = await renewLease(this.ctx.store, this.lease, this.ctx.timing.ttlMs);
      if (!ok) {
        const row = await readForSend(this.ctx.store.sql, this.sinkId);
        // Deleted (deleteSink bumps the fence, and a deleting sink cannot be claimed by anyone) or
        // paused (fence unchanged), and still in our name: stop gracefully.
        const ours = row !== undefined && row.leaseOwner === this.lease.owner;
        if (ours && (row.state === 'deleting' || (row.fence === this.lease.token && !row.enabled))) {
          // Still ours, but deleted or paused: stop gracefully. A send in flight is NOT aborted:
          // its request may already be on the wire, and aborting would let us release the lease
          // (and a delete be acknowledged) while the destination still processes it. It runs to
          // its answer, bounded by the lease's expiry (its own AbortSignal), and only then is the
          // lease released — which is what awaitSinkDeleted waits for.
          this.stopping = true;
          this.waitCtl?.abort();
        } else {
          this.lose('lease lost');
        }
      }
    } catch (err) {
      // A store hiccup: keep going; the pre-send check refuses to send on a lease that runs short.
      this.ctx.logger?.warn({ err, sink: this.sinkId }, 'sink lease renewal failed');
    }
  }

  private lose(why: string): void {
    this.stopping = true;
    this.hard.abort(new StopSignal(why));
    this.waitCtl?.abort();
  }

  private checkRunning(): void {
    if (this.hard.signal.aborted) throw new StopSignal('lease lost');
    if (this.stopping) throw new StopSignal('stopping');
  }

  /** Waits `ms`, ended early by stop, lease loss, `recheck`, and (for idle waits) `wake`. */
  private async wait(ms: number, kind: 'idle' | 'backoff'): Promise<void> {
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

  private async ensureAdapter(row?: SinkRow): Promise<SinkAdapter> {
    if (!this.adapter) {
      const r = row ?? (await readForSend(this.ctx.store.sql, this.sinkId));
      if (!r) throw new StopSignal('sink deleted');
      this.adapter = await this.ctx.makeAdapter(r);
      const { recordsPerSecond, bytesPerSecond } = this.adapter.limits;
      this.rate = new AdaptiveRate({ recordsPerSecond, bytesPerSecond });
    }
    return this.adapter;
  }

  /**
   * The fence check before a send (see lease.ts), and pickup of spec changes. Returns false when
   * the destination changed: the caller drops what it encoded and reads again from the cursor.
   */
  private async preSend(): Promise<boolean> {
    let row = await readForSend(this.ctx.store.sql, this.sinkId);
    let refusal = sendRefusal(row, this.lease, this.ctx.timing);
    if (refusal === 'lease too short' && (await renewLease(this.ctx.store, this.lease, this.ctx.timing.ttlMs))) {
      row = await readForSend(this.ctx.store.sql, this.sinkId);
      refusal = sendRefusal(row, this.lease, this.ctx.timing);
    }
    if (refusal) {
      this.lose(refusal);
      throw new StopSignal(refusal);
    }
    if (row!.resourceVersion !== this.specVersion) {
      const spec = JSON.stringify(row!.spec);
      this.specVersion = row!.resourceVersion;
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

  private async recheckNow(): Promise<void> {
    this.recheckWanted = false;
    const row = await readForSend(this.ctx.store.sql, this.sinkId);
    const refusal = sendRefusal(row, this.lease, this.ctx.timing);
    if (refusal && refusal !== 'lease too short') {
      this.lose(refusal);
      throw new StopSignal(refusal);
    }
  }

  private async loop(): Promise<void> {
    let adapter = await this.ensureAdapter();
    // Read but not yet acknowledged, in chain order; `lastRead` is the last seq in it (or the cursor).
    const buf = { pending: [] as Pending[], bytes: 0, lastRead: this.cursor, caughtUp: false };
    /** Reads one page into `buf`. */
    const readPage = async (): Promise<void> => {
      const page = await this.ctx.store.readChainBodies(this.accountId, buf.lastRead + 1, this.ctx.pageSize);
      const now = Date.now();
      for (const r of page) {
        const p = this.encode(adapter, r, now);
        buf.pending.push(p);
        buf.bytes += entrySize(p.entry);
        buf.lastRead = r.seq;
      }
      buf.caughtUp = page.length < this.ctx.pageSize;
    };
    /** Whether `buf` holds a batch's worth beyond its first `from` entries. */
    const holdsBatch = (from: number): boolean => {
      const limits = adapter.limits;
      return buf.pending.length - from >= limits.maxBatchRecords || buf.bytes >= 2 * limits.maxBatchBytes;
    };
    for (;;) {
      this.checkRunning();
      if (this.recheckWanted) await this.recheckNow();
      adapter = await this.ensureAdapter();
      const limits = adapter.limits;
      // Read while less than a batch is buffered: memory stays bounded by two batches plus a page.
      if (!holdsBatch(0) && buf.bytes < limits.maxBatchBytes) await readPage();
      if (buf.pending.length === 0) {
        if (await this.replayStep(adapter)) continue;
        await this.wait(this.ctx.idlePollMs, 'idle');
        continue;
      }
      const plan = this.plan(buf.pending, adapter);
      if (!plan.full) {
        if (!buf.caughtUp && buf.bytes < limits.maxBatchBytes) continue;
        const first = buf.pending[0]!;
        const due = Math.min(first.storedAt, first.seenAt) + this.ctx.flushIntervalMs;
        const now = Date.now();
        if (now < due) {
          await this.wait(due - now, 'idle');
          buf.caughtUp = false;
          continue;
        }
      }
      const batch = buf.pending.slice(0, plan.take);
      const delivering = this.deliver(adapter, batch, async (delivered, dead) => {
        const last = batch[batch.length - 1]!.seq;
        await commitBatch(this.ctx.store, this.lease, { lastSeq: last, delivered, deadLetters: dead });
        this.cursor = last;
      });
      // While the batch is in flight, read the next one, so that it can go as soon as this one is
      // acknowledged: reading the store then costs no delivery time. Only reads: the cursor moves
      // in `deliver` alone, after the acknowledgement.
      const readingAhead = (async () => {
        while (!buf.caughtUp && !holdsBatch(plan.take) && !this.stopping) await readPage();
      })();
      const [sent, read] = await Promise.allSettled([delivering, readingAhead]);
      if (sent.status === 'rejected') throw sent.reason;
      if (!sent.value) {
        // The destination changed: what was encoded for the old one is dropped and read again.
        adapter = await this.ensureAdapter();
        buf.pending = [];
        buf.bytes = 0;
        buf.lastRead = this.cursor;
        buf.caughtUp = false;
        continue;
      }
      if (read.status === 'rejected') throw read.reason;
      buf.pending = buf.pending.slice(plan.take);
      buf.bytes = buf.pending.reduce((n, p) => n + entrySize(p.entry), 0);
    }
  }

  private encode(adapter: SinkAdapter, r: ChainBody, now: number): Pending {
    return { seq: r.seq, logId: r.logId, storedAt: r.storedAt, seenAt: now, entry: adapter.encode(this.accountId, r.seq, r.logId, r.recordJson) };
  }

  /**
   * How many pending records the next batch covers (oversized ones ride along as dead letters):
   * within the adapter's batch limits and one second's worth of records and bytes at the current
   * rate, so that `reserve` can grant the batch whole.
   */
  private plan(pending: Pending[], adapter: SinkAdapter): { take: number; full: boolean } {
    const limits = adapter.limits;
    const { maxCount, maxBytes } = this.batchBounds(limits);
    let count = 0;
    let bytes = 0;
    let i = 0;
    for (; i < pending.length; i++) {
      const e = pending[i]!.entry;
      if (!fitsRecordLimit(e, limits)) continue;
      const size = entrySize(e);
      // The first entry always goes, however large: `reserve` caps its need at the bucket's size.
      if (count >= maxCount || (count > 0 && bytes + size > maxBytes)) break;
      count++;
      bytes += size;
    }
    return { take: i, full: i < pending.length || count >= maxCount };
  }

  /** Most records and bytes one batch carries: the adapter's batch limits, and one second's worth at the current rate. */
  private batchBounds(limits: SinkAdapter['limits']): { maxCount: number; maxBytes: number } {
    const cap = this.rate!.batchCap();
    return { maxCount: Math.max(1, Math.min(limits.maxBatchRecords, cap.records)), maxBytes: Math.min(limits.maxBatchBytes, cap.bytes) };
  }

  /**
   * Sends `batch` until every entry is acknowledged or dead-lettered, then calls `commit`.
   * Returns false (committing nothing) when the destination changed mid-way.
   */
  private async deliver(adapter: SinkAdapter, batch: Pending[], commit: (delivered: number, dead: DeadLetter[]) => Promise<void>): Promise<boolean> {
    const limits = adapter.limits;
    const dead: DeadLetter[] = [];
    const bySeq = new Map<number, Pending>();
    let toSend: EncodedEntry[] = [];
    for (const p of batch) {
      bySeq.set(p.seq, p);
      if (fitsRecordLimit(p.entry, limits)) toSend.push(p.entry);
      else dead.push({ seq: p.seq, logId: p.logId, reason: `encoded entry is ${entrySize(p.entry)} bytes, over the destination's limit of ${limits.maxRecordBytes}` });
    }
    const sendable = toSend.length;
    let failures = 0;
    let throttles = 0;
    while (toSend.length > 0) {
      this.checkRunning();
      const wait = this.rate!.reserve(toSend.length, toSend.reduce((n, e) => n + entrySize(e), 0));
      if (wait > 0) {
        await this.wait(wait, 'backoff');
        continue;
      }
      if (!(await this.preSend())) return false;
      const deadline = this.lease.expiresMs - this.ctx.timing.clockSkewMs - Date.now();
      const signal = AbortSignal.any([this.hard.signal, AbortSignal.timeout(Math.max(1, deadline))]);
      const outcome = await adapter.send(toSend, signal).then(
        (value: unknown) => ({ value }),
        (error: unknown) => ({ error }),
      );
      const verdict = adapter.classify(outcome, toSend);
      this.ctx.onSent?.(this.sinkId, verdict.kind, toSend.length);
      // Aborted because the lease ran out or the stop deadline passed: not the destination's fault.
      if (verdict.kind !== 'ok' && this.hard.signal.aborted) throw new StopSignal('send aborted');
      switch (verdict.kind) {
        case 'ok':
          this.rate!.onSuccess();
          toSend = [];
          break;
        case 'throttle':
          throttles++;
          this.rate!.onThrottle();
          if (verdict.only) toSend = resendFrom(toSend, verdict.only);
          this.checkRunning();
          await this.wait(verdict.afterMs ?? backoffDelay(Math.min(throttles - 1, 4), this.ctx.backoff), 'backoff');
          break;
        case 'retry':
          failures++;
          if (verdict.only) toSend = resendFrom(toSend, verdict.only);
          await this.noteError('internal', verdict.reason, failures);
          this.checkRunning();
          await this.wait(backoffDelay(failures - 1, this.ctx.backoff), 'backoff');
          break;
        case 'reject': {
          const rejected = new Set(verdict.only);
          for (const i of rejected) {
            const e = toSend[i];
            if (e) dead.push({ seq: e.seq, logId: e.logId, reason: verdict.reason });
          }
          // The destination took none of the others for sure: send them again.
          toSend = toSend.filter((_, i) => !rejected.has(i));
          break;
        }
        case 'fatal':
          failures++;
          await this.noteError('user_configuration', verdict.reason, this.ctx.errorAfterAttempts);
          this.checkRunning();
          await this.wait(backoffDelay(failures - 1, this.ctx.fatalBackoff), 'backoff');
          break;
      }
    }
    dead.sort((a, b) => a.seq - b.seq);
    if (!bySeq.size) return true;
    await commit(sendable - dead.filter((d) => fitsRecordLimit(bySeq.get(d.seq)!.entry, limits)).length, dead);
    this.lastError = undefined;
    return true;
  }

  private async noteError(kind: SinkErrorKind, reason: string, failures: number): Promise<void> {
    this.ctx.logger?.warn({ sink: this.sinkId, reason, failures }, 'sink delivery failed');
    if (failures < this.ctx.errorAfterAttempts) return;
    const message = reason;
    if (message === this.lastError) return;
    this.lastError = message;
    await markError(this.ctx.store, this.lease, kind, message).catch(() => {});
  }

  /** One batch of the oldest unfinished replay; false when there is nothing to replay. */
  private async replayStep(adapter: SinkAdapter): Promise<boolean> {
    const replay = await nextReplay(this.ctx.store.sql, this.sinkId);
    if (!replay) return false;
    const records = await this.replayRecords(replay);
    const now = Date.now();
    // Within the rate's one-second share too, as `plan` does: a larger batch would be sent as a burst.
    const { maxCount, maxBytes } = this.batchBounds(adapter.limits);
    const pending: Pending[] = [];
    let bytes = 0;
    for (const r of records) {
      const p = this.encode(adapter, r, now);
      const size = entrySize(p.entry);
      if (pending.length >= maxCount || (pending.length > 0 && bytes + size > maxBytes)) break;
      pending.push(p);
      bytes += size;
    }
    const nextSeq = pending.length > 0 ? pending[pending.length - 1]!.seq + 1 : replay.toSeq + 1;
    await this.deliver(adapter, pending, (delivered, dead) =>
      this.ctx.store.transaction(async (tx) => {
        const deadSeqs = new Set(dead.map((d) => d.seq));
        const redelivered = replay.mode === 'dead_letters' ? pending.map((p) => p.seq).filter((s) => !deadSeqs.has(s)) : [];
        await commitReplay(tx, this.lease, replay, nextSeq, delivered, redelivered);
        for (const d of dead) {
          await tx.run(
            `INSERT INTO audit_log_sink_dead_letters (sink_id, seq, log_id, reason, created_ms) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (sink_id, seq) DO UPDATE SET reason = excluded.reason, created_ms = excluded.created_ms`,
            [this.sinkId, d.seq, d.logId, d.reason.slice(0, 1000), Date.now()],
          );
        }
      }),
    );
    if (pending.length === 0) {
      // Nothing left in range (e.g. purged by retention): close the replay.
      await this.ctx.store.transaction((tx) => commitReplay(tx, this.lease, replay, nextSeq, 0, []));
    }
    return true;
  }

  private async replayRecords(replay: ReplayRow): Promise<ChainBody[]> {
    if (replay.mode === 'range') {
      const page = await this.ctx.store.readChainBodies(this.accountId, replay.nextSeq, Math.min(this.ctx.pageSize, replay.toSeq - replay.nextSeq + 1));
      return page.filter((r) => r.seq <= replay.toSeq);
    }
    const seqs = await deadLetterSeqs(this.ctx.store.sql, this.sinkId, replay.nextSeq, replay.toSeq, this.ctx.pageSize);
    const out: ChainBody[] = [];
    for (const seq of seqs) {
      const [r] = await this.ctx.store.readChainBodies(this.accountId, seq, 1);
      if (r && r.seq === seq) out.push(r);
    }
    return out;
  }
}
