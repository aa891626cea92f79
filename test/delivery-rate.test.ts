/**
 * The adaptive send rate (src/delivery/rate.ts) on an injected clock: the record and byte buckets,
 * one second's worth per batch, the oversized-entry escape, and AIMD scaling both limits.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AdaptiveRate, type AdaptiveRateOptions } from '../src/delivery/rate.js';
import { KINESIS_LIMITS } from '../src/sinks/kinesis/limits.js';
import { PUBSUB_LIMITS } from '../src/sinks/pubsub/limits.js';

const MiB = 1024 * 1024;

/** A rate on a clock the test moves by hand. */
function rateAt(limits: Pick<AdaptiveRateOptions, 'recordsPerSecond' | 'bytesPerSecond'>, opts: Partial<AdaptiveRateOptions> = {}) {
  const clock = { t: 1_000_000 };
  const rate = new AdaptiveRate({ recordsPerSecond: limits.recordsPerSecond, bytesPerSecond: limits.bytesPerSecond, ...opts, now: () => clock.t });
  return { rate, clock };
}

/** Records of `size` bytes that one second's caps let into one batch (what the worker's plan takes). */
function perBatch(rate: AdaptiveRate, size: number): number {
  const cap = rate.batchCap();
  return Math.min(cap.records, Math.floor(cap.bytes / size));
}

describe('AdaptiveRate', () => {
  it("starts at the adapter's limits, one second's worth as the batch cap; no count limit caps no count", () => {
    for (const limits of [KINESIS_LIMITS, PUBSUB_LIMITS]) {
      const { rate } = rateAt(limits);
      assert.deepEqual(rate.current, { recordsPerSecond: limits.recordsPerSecond, bytesPerSecond: limits.bytesPerSecond });
      assert.deepEqual(rate.batchCap(), { records: limits.recordsPerSecond ?? Infinity, bytes: limits.bytesPerSecond });
    }
  });

  it('Kinesis, small records: the record bucket binds', () => {
    const { rate, clock } = rateAt(KINESIS_LIMITS);
    assert.equal(perBatch(rate, 200), 1000, '1,000 records of 200 bytes are 200 KB: count-bound');
    assert.equal(rate.reserve(1000, 200_000), 0);
    // 800 KB of byte budget left, but no records.
    assert.equal(rate.reserve(1, 200), 1);
    assert.equal(rate.reserve(100, 20_000), 100);
    clock.t += 100;
    assert.equal(rate.reserve(100, 20_000), 0);
    assert.equal(rate.reserve(1, 200), 1);
  });

  it('Kinesis, large records: the byte bucket binds', () => {
    const { rate, clock } = rateAt(KINESIS_LIMITS);
    const size = 10 * 1024;
    assert.equal(perBatch(rate, size), 102, 'one second of 10 KiB records is 102 of them, not 1,000');
    assert.equal(rate.reserve(102, 102 * size), 0);
    // 898 records left in the record bucket, but 4 KiB of bytes: the next 10 KiB waits for bytes.
    const wait = rate.reserve(1, size);
    assert.equal(wait, Math.ceil(((size - (MiB - 102 * size)) / MiB) * 1000));
    clock.t += wait;
    assert.equal(rate.reserve(1, size), 0);
  });

  it('Pub/Sub, ~400-byte records: 1 MB/s lets 2,500 records/s through, not 1,000', () => {
    const { rate, clock } = rateAt(PUBSUB_LIMITS);
    assert.equal(perBatch(rate, 400), 2500);
    assert.equal(rate.reserve(2500, 1_000_000), 0);
    assert.equal(rate.reserve(1, 400), 1);
    clock.t += 1000;
    assert.equal(rate.reserve(2500, 1_000_000), 0, '5,000 records in one second (bucket plus refill)');
  });

  it('Pub/Sub, ~2 KB records: 500 records/s, fewer than the old 1,000', () => {
    const { rate } = rateAt(PUBSUB_LIMITS);
    assert.equal(perBatch(rate, 2000), 500);
  });

  it('a single entry over one second of bytes still goes, once the bucket is full', () => {
    const { rate, clock } = rateAt(PUBSUB_LIMITS);
    assert.equal(rate.reserve(1, 3_000_000), 0, 'the need is capped at the bucket size');
    const wait = rate.reserve(1, 3_000_000);
    assert.equal(wait, 1000, 'the next waits for a full bucket, not for 3 s');
    clock.t += wait;
    assert.equal(rate.reserve(1, 3_000_000), 0);
    // Also when throttled down to the floor: one second's worth is what the bucket holds.
    for (let i = 0; i < 20; i++) {
      clock.t += 100;
      rate.onThrottle();
    }
    assert.equal(rate.current.bytesPerSecond, 1_000);
    clock.t += 1000;
    assert.equal(rate.reserve(1, 3_000_000), 0);
    assert.equal(rate.batchCap().bytes, 1_000);
  });

  it('a batch goes only when both buckets allow it, and takes no tokens otherwise', () => {
    const { rate } = rateAt(KINESIS_LIMITS);
    assert.equal(rate.reserve(1, MiB), 0, 'drains the byte bucket, 999 records left');
    assert.ok(rate.reserve(10, 10) > 0, 'records are there, bytes are not');
    assert.equal(rate.reserve(999, 0), 0, 'the refused reserve took none of the 999 records');
    assert.ok(rate.reserve(1, 0) > 0);
  });

  it('a throttle halves both rates (once per 100 ms); successes recover both, never above the limits', () => {
    const { rate, clock } = rateAt(KINESIS_LIMITS);
    rate.onThrottle();
    assert.deepEqual(rate.current, { recordsPerSecond: 500, bytesPerSecond: MiB / 2 });
    assert.deepEqual(rate.batchCap(), { records: 500, bytes: MiB / 2 });
    rate.onThrottle();
    assert.equal(rate.current.recordsPerSecond, 500, 'the same congestion event');
    clock.t += 100;
    rate.onThrottle();
    assert.deepEqual(rate.current, { recordsPerSecond: 250, bytesPerSecond: MiB / 4 });
    rate.onSuccess();
    assert.deepEqual(rate.current, { recordsPerSecond: 350, bytesPerSecond: MiB * 0.35 });
    for (let i = 0; i < 20; i++) rate.onSuccess();
    assert.deepEqual(rate.current, { recordsPerSecond: 1000, bytesPerSecond: MiB });
  });

  it('a throttle also trims what the buckets hold to the new rate', () => {
    const { rate } = rateAt(KINESIS_LIMITS);
    rate.onThrottle();
    // Full buckets held 1,000 records and 1 MiB; now one second is 500 records and 512 KiB.
    assert.equal(rate.reserve(500, 0), 0);
    assert.ok(rate.reserve(1, 0) > 0);
    const b = rateAt(KINESIS_LIMITS).rate;
    b.onThrottle();
    assert.equal(b.reserve(0, MiB / 2), 0);
    assert.ok(b.reserve(0, 1) > 0);
  });

  it('the floor keeps a slowed-down sink sending: 1 record/s at Kinesis', () => {
    const { rate, clock } = rateAt(KINESIS_LIMITS);
    for (let i = 0; i < 20; i++) {
      clock.t += 100;
      rate.onThrottle();
    }
    assert.equal(rate.current.recordsPerSecond, 1);
    assert.deepEqual(rate.batchCap().records, 1);
    clock.t += 1000;
    assert.equal(rate.reserve(1, 500), 0);
    assert.equal(rate.reserve(1, 500), 1000);
  });
});
