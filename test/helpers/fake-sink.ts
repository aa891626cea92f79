/**
 * An in-memory destination and adapter for engine tests: records what was acknowledged, and lets
 * a test script the answer of each send (partial failure, throttle, reject, fatal, hang).
 */
import type { EncodedEntry, SinkAdapter, SinkLimits, Verdict } from '../../src/delivery/adapter.js';

export interface Delivered {
  seq: number;
  logId: string;
  key: string;
}

/** What a scripted send answers: a verdict and which entries the destination kept. */
export interface FakeAnswer {
  verdict: Verdict;
  /** Indexes written (default: all for ok, none otherwise; for retry/throttle with `only`, the others). */
  accepted?: number[];
  /** Delay before answering (ms); the send honours its AbortSignal. */
  delayMs?: number;
}

export class FakeDestination {
  readonly received: Delivered[] = [];
  /** One entry per send call: the seqs it carried, when it started and ended. */
  readonly sends: { seqs: number[]; startedAt: number; endedAt?: number; aborted?: boolean }[] = [];
  /** Answers for the next sends, in order; when empty, every send is ok. */
  readonly script: ((entries: EncodedEntry[]) => FakeAnswer)[] = [];
  closed = 0;

  constructor(
    readonly limits: SinkLimits = {
      maxBatchRecords: 10,
      maxBatchBytes: 1 << 20,
      maxRecordBytes: 64 * 1024,
      recordsPerSecond: 100_000,
      bytesPerSecond: 1 << 30,
    },
  ) {}

  seqs(): number[] {
    return this.received.map((r) => r.seq);
  }

  adapter(limits: SinkLimits = this.limits): SinkAdapter {
    return {
      kind: 'kinesis',
      limits,
      encode: (accountId, seq, logId, recordJson): EncodedEntry => ({ seq, logId, partitionKey: accountId, data: Buffer.from(recordJson) }),
      send: async (entries, signal) => {
        const rec: { seqs: number[]; startedAt: number; endedAt?: number; aborted?: boolean } = { seqs: entries.map((e) => e.seq), startedAt: Date.now() };
        this.sends.push(rec);
        const step = this.script.shift();
        const answer: FakeAnswer = step ? step(entries) : { verdict: { kind: 'ok' } };
        if (answer.delayMs) {
          await new Promise<void>((resolve, reject) => {
            const t = setTimeout(resolve, answer.delayMs);
            signal?.addEventListener('abort', () => {
              clearTimeout(t);
              rec.aborted = true;
              rec.endedAt = Date.now();
              reject(Object.assign(new Error('aborted'), { name: 'AbortError' }));
            });
          });
        }
        const v = answer.verdict;
        const accepted =
          answer.accepted ??
          (v.kind === 'ok'
            ? entries.map((_, i) => i)
            : (v.kind === 'retry' || v.kind === 'throttle') && v.only
              ? entries.map((_, i) => i).filter((i) => !v.only!.includes(i))
              : []);
        for (const i of accepted) this.received.push({ seq: entries[i]!.seq, logId: entries[i]!.logId, key: entries[i]!.partitionKey });
        rec.endedAt = Date.now();
        return v;
      },
      classify: (result): Verdict => (result.error ? { kind: 'retry', reason: String((result.error as Error).message) } : (result.value as Verdict)),
      close: async () => {
        this.closed++;
      },
    };
  }
}

/** Polls `cond` until true or `timeoutMs` passes (then throws with `what`). */
export async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000, stepMs = 20): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
