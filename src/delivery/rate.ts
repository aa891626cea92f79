/**
 * Adaptive send rate per sink: two token buckets, records and bytes, whose rates follow one AIMD
 * factor (additive increase, multiplicative decrease — TCP's congestion control, RFC 5681): every
 * throttle halves the factor, every acknowledged batch adds a tenth back, never above 1. At factor
 * 1 the rates are the adapter's per-partition limits (`limits.recordsPerSecond`,
 * `limits.bytesPerSecond`); a batch goes when both buckets allow it. One factor for both because a
 * throttle answer does not say which limit was hit. Kinesis: 1,000 records/s and 1 MiB/s per
 * shard (one account's records all go to one shard); Pub/Sub: 1 MB/s per ordering key, no count
 * limit.
 */
import type { SinkLimits } from './adapter.js';

export interface AdaptiveRateOptions extends Pick<SinkLimits, 'recordsPerSecond' | 'bytesPerSecond'> {
  /**
   * Lowest factor after repeated throttling. Default 0.001: 1 record/s at Kinesis's 1,000. A batch
   * still goes at the floor, since a need is capped at one second's worth (see `reserve`).
   */
  minFactor?: number;
  /** Added to the factor per acknowledged batch. Default 0.1. */
  increase?: number;
  /** Factor applied per throttle. Default 0.5. */
  decreaseFactor?: number;
  now?: () => number;
}

/** What one batch may carry at the current rate: one second's worth of each, at least 1. */
export interface BatchCap {
  /** `Infinity` when the destination has no count limit. */
  records: number;
  bytes: number;
}

/** One token bucket whose rate is `max × factor`; holds at most one second's worth. */
class Bucket {
  tokens: number;

  constructor(readonly max: number) {
    this.tokens = max;
  }

  rate(factor: number): number {
    return this.max * factor;
  }

  /** One second's worth, at least 1 so that a slowed-down sink still sends one unit. */
  size(factor: number): number {
    return Math.max(this.rate(factor), 1);
  }

  refill(factor: number, elapsedMs: number): void {
    this.tokens = Math.min(this.size(factor), this.tokens + (elapsedMs / 1000) * this.rate(factor));
  }

  /** Ms until `need` (already capped at `size`) is available; 0 = now. */
  waitFor(need: number, factor: number): number {
    return this.tokens >= need ? 0 : Math.ceil(((need - this.tokens) / this.rate(factor)) * 1000);
  }
}

export class AdaptiveRate {
  private factor = 1;
  private last: number;
  private lastDecrease = -Infinity;
  private readonly records: Bucket | undefined;
  private readonly bytes: Bucket;
  private readonly minFactor: number;
  private readonly inc: number;
  private readonly decrease: number;
  private readonly now: () => number;

  constructor(opts: AdaptiveRateOptions) {
    this.records = opts.recordsPerSecond === null ? undefined : new Bucket(opts.recordsPerSecond);
    this.bytes = new Bucket(opts.bytesPerSecond);
    this.minFactor = Math.min(opts.minFactor ?? 0.001, 1);
    this.inc = opts.increase ?? 0.1;
    this.decrease = opts.decreaseFactor ?? 0.5;
    this.now = opts.now ?? Date.now;
    this.last = this.now();
  }

  /** Current rates: records/s (null: no count limit) and bytes/s. */
  get current(): { recordsPerSecond: number | null; bytesPerSecond: number } {
    return { recordsPerSecond: this.records ? this.records.rate(this.factor) : null, bytesPerSecond: this.bytes.rate(this.factor) };
  }

  /** Most records and bytes one batch should carry at the current rate. */
  batchCap(): BatchCap {
    return {
      records: this.records ? Math.max(1, Math.floor(this.records.rate(this.factor))) : Infinity,
      bytes: Math.max(1, Math.floor(this.bytes.rate(this.factor))),
    };
  }

  /**
   * A throttle answer: halve both rates. Answers to sends made before the previous decrease took
   * effect are the same congestion event, so at most one decrease per 100 ms.
   */
  onThrottle(): void {
    const t = this.now();
    if (t - this.lastDecrease < 100) return;
    this.lastDecrease = t;
    this.factor = Math.max(this.minFactor, this.factor * this.decrease);
    for (const b of this.buckets()) b.tokens = Math.min(b.tokens, b.rate(this.factor));
  }

  /** An acknowledged batch: recover towards the provider's limits. */
  onSuccess(): void {
    this.factor = Math.min(1, this.factor + this.inc);
  }

  /**
   * How long to wait before a batch of `records` entries and `bytes` bytes may go (0 = now); takes
   * the tokens of both buckets when 0, none otherwise. Each need is capped at its bucket's size,
   * so a batch larger than one second's worth (e.g. a single record over the byte rate) still goes
   * once a bucket is full, rather than never.
   */
  reserve(records: number, bytes: number): number {
    const t = this.now();
    for (const b of this.buckets()) b.refill(this.factor, t - this.last);
    this.last = t;
    const needRecords = this.records ? Math.min(records, this.records.size(this.factor)) : 0;
    const needBytes = Math.min(bytes, this.bytes.size(this.factor));
    const wait = Math.max(this.records?.waitFor(needRecords, this.factor) ?? 0, this.bytes.waitFor(needBytes, this.factor));
    if (wait === 0) {
      if (this.records) this.records.tokens -= needRecords;
      this.bytes.tokens -= needBytes;
    }
    return wait;
  }

  private buckets(): Bucket[] {
    return this.records ? [this.records, this.bytes] : [this.bytes];
  }
}
