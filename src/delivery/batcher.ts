/**
 * Batching within an adapter's limits, and the resend set after a partial failure. Pure, so the
 * rules are unit-tested without a destination.
 */
import type { EncodedEntry, SinkLimits } from './adapter.js';

/**
 * Bytes an entry counts for against `maxRecordBytes` / `maxBatchBytes`: its data plus its
 * partition key, as Kinesis counts them ("the data blob, the partition key" — PutRecords API
 * reference). Counting the key for every provider is conservative.
 */
export function entrySize(e: EncodedEntry): number {
  return e.data.length + Buffer.byteLength(e.partitionKey, 'utf8');
}

/** Whether an entry can ever be sent (else it is dead-lettered, never sent). */
export function fitsRecordLimit(e: EncodedEntry, limits: SinkLimits): boolean {
  return entrySize(e) <= limits.maxRecordBytes;
}

/**
 * How many of `entries` (in order, each within the record limit) the next batch takes: as many
 * as fit in `maxBatchRecords`, `countCap` (the adaptive rate's one-second share) and
 * `maxBatchBytes`; always at least one.
 */
export function takeBatch(entries: readonly EncodedEntry[], limits: SinkLimits, countCap = Infinity): number {
  const maxCount = Math.max(1, Math.min(limits.maxBatchRecords, countCap));
  let bytes = 0;
  let n = 0;
  for (const e of entries) {
    if (n >= maxCount) break;
    const size = entrySize(e);
    if (n > 0 && bytes + size > limits.maxBatchBytes) break;
    bytes += size;
    n++;
  }
  return n;
}

/** Whether `entries` already fill a batch (so it goes now rather than waiting for the flush interval). */
export function isFull(entries: readonly EncodedEntry[], limits: SinkLimits, countCap = Infinity): boolean {
  const n = takeBatch(entries, limits, countCap);
  return n < entries.length || n >= Math.min(limits.maxBatchRecords, countCap);
}

/**
 * The entries to send again after the destination failed `failed` (indexes into `sent`):
 * for each partition key, everything from its first failed entry onward — not only the failed
 * entries — so a consumer reading one partition never sees a later record before an earlier one
 * (DECISIONS.md "Ordering with partial failure"). Keeps `sent`'s order.
 */
export function resendFrom(sent: readonly EncodedEntry[], failed: readonly number[]): EncodedEntry[] {
  const firstFailed = new Map<string, number>();
  for (const i of failed) {
    const e = sent[i];
    if (!e) continue;
    const prev = firstFailed.get(e.partitionKey);
    if (prev === undefined || i < prev) firstFailed.set(e.partitionKey, i);
  }
  return sent.filter((e, i) => {
    const from = firstFailed.get(e.partitionKey);
    return from !== undefined && i >= from;
  });
}
