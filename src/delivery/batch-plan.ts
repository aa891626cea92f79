/**
 * Planning a sink's next batch from what its worker read but the destination has not yet
 * acknowledged: how many records go, within the adapter's batch limits and one second's worth at
 * the sink's current rate (so that `AdaptiveRate.reserve` can grant the batch whole). Pure but for
 * the rate it reads.
 */
import type { EncodedEntry, SinkAdapter, SinkLimits } from './adapter.js';
import type { AdaptiveRate } from './rate.js';
import type { ChainBody } from '../store/store.js';
import { entrySize, fitsRecordLimit } from './batcher.js';

/** A record read from the chain and encoded for the destination, waiting to be sent. */
export interface Pending {
  seq: number;
  logId: string;
  storedAt: number;
  /** When the worker read it: with `storedAt`, what the flush interval counts from. */
  seenAt: number;
  entry: EncodedEntry;
}

/** Encodes one chain record for `adapter`. */
export function encodePending(adapter: SinkAdapter, accountId: string, r: ChainBody, now: number): Pending {
  return { seq: r.seq, logId: r.logId, storedAt: r.storedAt, seenAt: now, entry: adapter.encode(accountId, r.seq, r.logId, r.recordJson) };
}

/** Most records and bytes one batch carries: the adapter's batch limits, and one second's worth at the current rate. */
export function batchBounds(limits: SinkLimits, rate: AdaptiveRate): { maxCount: number; maxBytes: number } {
  const cap = rate.batchCap();
  return { maxCount: Math.max(1, Math.min(limits.maxBatchRecords, cap.records)), maxBytes: Math.min(limits.maxBatchBytes, cap.bytes) };
}

/**
 * How many pending records the next batch covers (oversized ones ride along as dead letters), and
 * whether that is a full batch (more is waiting, or the count bound is reached) that goes now
 * rather than at the flush interval.
 */
export function planBatch(pending: readonly Pending[], limits: SinkLimits, rate: AdaptiveRate): { take: number; full: boolean } {
  const { maxCount, maxBytes } = batchBounds(limits, rate);
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

/**
 * The leading records of `records` that fit one batch (a replay's batch; records over the
 * destination's limit are not skipped here but dead-lettered by the send).
 */
export function takeBatch(adapter: SinkAdapter, accountId: string, records: readonly ChainBody[], rate: AdaptiveRate, now: number): Pending[] {
  const { maxCount, maxBytes } = batchBounds(adapter.limits, rate);
  const out: Pending[] = [];
  let bytes = 0;
  for (const r of records) {
    const p = encodePending(adapter, accountId, r, now);
    const size = entrySize(p.entry);
    if (out.length >= maxCount || (out.length > 0 && bytes + size > maxBytes)) break;
    out.push(p);
    bytes += size;
  }
  return out;
}
