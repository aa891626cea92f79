/**
 * Adaptive send rate per sink: a token bucket whose rate follows AIMD (additive increase,
 * multiplicative decrease — TCP's congestion control, RFC 5681): every throttle halves the rate,
 * every acknowledged batch adds a tenth of the provider's rate back, never above it. The starting
 * and highest rate is the adapter's `limits.recordsPerSecond` (Kinesis: 1,000 records/s per
 * shard, and one account's records all go to one shard).
 */

export interface AdaptiveRateOptions {
  /** Highest rate (records/s): the provider's per-partition limit. */
  maxPerSecond: number;
  /** Lowest rate after repeated throttling. Default 1. */
  minPerSecond?: number;
  /** Added per acknowledged batch. Default max/10. */
  increasePerSecond?: number;
  /** Factor applied per throttle. Default 0.5. */
  decreaseFactor?: number;
  now?: () => number;
}

export class AdaptiveRate {
  private rate: number;
  private tokens: number;
  private last: number;
  private lastDecrease = -Infinity;
  private readonly max: number;
  private readonly min: number;
  private readonly inc: number;
  private readonly factor: number;
  private readonly now: () => number;

  constructor(opts: AdaptiveRateOptions) {
    this.max = opts.maxPerSecond;
    this.min = Math.min(opts.minPerSecond ?? 1, this.max);
    this.inc = opts.increasePerSecond ?? this.max / 10;
    this.factor = opts.decreaseFactor ?? 0.5;
    this.now = opts.now ?? Date.now;
    this.rate = this.max;
    this.tokens = this.max;
    this.last = this.now();
  }

  /** Current rate, records per second. */
  get current(): number {
    return this.rate;
  }

  /** Most records one batch should carry at the current rate (one second's worth, at least 1). */
  batchCap(): number {
    return Math.max(1, Math.floor(this.rate));
  }

  /**
   * A throttle answer: halve the rate. Answers to sends made before the previous decrease took
   * effect are the same congestion event, so at most one decrease per 100 ms.
   */
  onThrottle(): void {
    const t = this.now();
    if (t - this.lastDecrease < 100) return;
    this.lastDecrease = t;
    this.rate = Math.max(this.min, this.rate * this.factor);
    this.tokens = Math.min(this.tokens, this.rate);
  }

  /** An acknowledged batch: recover towards the provider's rate. */
  onSuccess(): void {
    this.rate = Math.min(this.max, this.rate + this.inc);
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(Math.max(this.rate, 1), this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
  }

  /** How long to wait before `n` records may go (0 = now); takes the tokens when 0. */
  reserve(n: number): number {
    this.refill();
    const need = Math.min(n, Math.max(this.rate, 1));
    if (this.tokens >= need) {
      this.tokens -= need;
      return 0;
    }
    return Math.ceil(((need - this.tokens) / this.rate) * 1000);
  }
}
