/**
 * The verdict loop: one batch is sent until the destination acknowledged all of it, acting on
 * each answer's verdict (src/delivery/adapter.ts) — resending from the first failed entry of each
 * partition key after a partial failure, slowing down on throttling, backing off with jitter on
 * other errors, dead-lettering entries the destination refuses for good — and only then committed.
 * Every send waits for the rate, is preceded by the worker's fence check, and carries the lease's
 * AbortSignal.
 */
import type { EncodedEntry, SinkAdapter, Verdict } from './adapter.js';
import type { AuditStore } from '../store/store.js';
import type { Logger } from '../log.js';
import type { AdaptiveRate } from './rate.js';
import { backoffDelay, type BackoffPolicy } from './retry.js';
import { entrySize, fitsRecordLimit, resendFrom } from './batcher.js';
import { markError, type DeadLetter } from './cursor.js';
import type { Lease } from './lease.js';
import type { SinkErrorKind } from './sql/sink-row.js';
import type { Pending } from './batch-plan.js';
import { StopSignal } from './lease-keeper.js';

/** What the verdict loop needs of the worker that runs it. */
export interface VerdictLoopHost {
  readonly sinkId: string;
  readonly rate: AdaptiveRate;
  readonly backoff: BackoffPolicy;
  readonly fatalBackoff: BackoffPolicy;
  readonly errors: SinkErrorReporter;
  /** Fired when the lease is lost or the stop deadline passed: a failed send is then not the destination's fault. */
  readonly aborted: AbortSignal;
  /** Throws StopSignal when the worker must stop. */
  checkRunning(): void;
  /** A backoff wait, ended early by stop, lease loss and `recheck`. */
  backoffWait(ms: number): Promise<void>;
  /** The fence check and spec pickup before a send; false when the destination changed. */
  preSend(): Promise<boolean>;
  /** The AbortSignal one send carries. */
  sendSignal(): AbortSignal;
  onSent?(sinkId: string, verdict: Verdict['kind'], entries: number): void;
}

/**
 * Shows delivery errors in the sink's status once `errorAfterAttempts` consecutive attempts
 * failed, writing each distinct message once; a committed batch clears it.
 */
export class SinkErrorReporter {
  private lastError: string | undefined;

  constructor(
    private readonly store: AuditStore,
    private readonly lease: Lease,
    readonly errorAfterAttempts: number,
    private readonly logger?: Logger,
  ) {}

  async note(kind: SinkErrorKind, reason: string, failures: number): Promise<void> {
    this.logger?.warn({ sink: this.lease.sinkId, reason, failures }, 'sink delivery failed');
    if (failures < this.errorAfterAttempts) return;
    if (reason === this.lastError) return;
    this.lastError = reason;
    await markError(this.store, this.lease, kind, reason).catch(() => {});
  }

  /** A batch went through (the commit reset the status to ok). */
  clear(): void {
    this.lastError = undefined;
  }
}

/**
 * Sends `batch` until every entry is acknowledged or dead-lettered, then calls `commit` with the
 * number delivered and the dead letters (in seq order). Returns false (committing nothing) when
 * the destination changed mid-way. `onSendStarted` is called once the first send call was made.
 */
export async function deliverBatch(
  host: VerdictLoopHost,
  adapter: SinkAdapter,
  batch: readonly Pending[],
  commit: (delivered: number, dead: DeadLetter[]) => Promise<void>,
  onSendStarted?: () => void,
): Promise<boolean> {
  const limits = adapter.limits;
  const dead: DeadLetter[] = [];
  const bySeq = new Map<number, Pending>();
  let toSend: EncodedEntry[] = [];
  for (const p of batch) {
    bySeq.set(p.seq, p);
    if (fitsRecordLimit(p.entry, limits)) toSend.push(p.entry);
    else
      dead.push({
        seq: p.seq,
        logId: p.logId,
        reason: `encoded entry is ${entrySize(p.entry)} bytes, over the destination's limit of ${limits.maxRecordBytes}`,
      });
  }
  const sendable = toSend.length;
  let failures = 0;
  let throttles = 0;
  while (toSend.length > 0) {
    host.checkRunning();
    const units = adapter.units?.(toSend) ?? { records: toSend.length, bytes: toSend.reduce((n, e) => n + entrySize(e), 0) };
    const wait = host.rate.reserve(units.records, units.bytes);
    if (wait > 0) {
      await host.backoffWait(wait);
      continue;
    }
    if (!(await host.preSend())) return false;
    const signal = host.sendSignal();
    const sending = adapter.send(toSend, signal);
    onSendStarted?.();
    const outcome = await sending.then(
      (value: unknown) => ({ value }),
      (error: unknown) => ({ error }),
    );
    const verdict = adapter.classify(outcome, toSend);
    host.onSent?.(host.sinkId, verdict.kind, toSend.length);
    // Aborted because the lease ran out or the stop deadline passed: not the destination's fault.
    if (verdict.kind !== 'ok' && host.aborted.aborted) throw new StopSignal('send aborted');
    switch (verdict.kind) {
      case 'ok':
        host.rate.onSuccess();
        toSend = [];
        break;
      case 'throttle':
        throttles++;
        host.rate.onThrottle();
        if (verdict.only) toSend = resendFrom(toSend, verdict.only);
        host.checkRunning();
        await host.backoffWait(verdict.afterMs ?? backoffDelay(Math.min(throttles - 1, 4), host.backoff));
        break;
      case 'retry':
        failures++;
        if (verdict.only) toSend = resendFrom(toSend, verdict.only);
        await host.errors.note('internal', verdict.reason, failures);
        host.checkRunning();
        await host.backoffWait(backoffDelay(failures - 1, host.backoff));
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
        await host.errors.note('user_configuration', verdict.reason, host.errors.errorAfterAttempts);
        host.checkRunning();
        await host.backoffWait(backoffDelay(failures - 1, host.fatalBackoff));
        break;
    }
  }
  dead.sort((a, b) => a.seq - b.seq);
  if (!bySeq.size) return true;
  await commit(sendable - dead.filter((d) => fitsRecordLimit(bySeq.get(d.seq)!.entry, limits)).length, dead);
  host.errors.clear();
  return true;
}
