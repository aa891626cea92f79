/**
 * Batching within an adapter's limits, and the resend set after a partial failure. Pure, so the
 * rules are unit-tested without a destination.
 */
import type { EncodedEntry, SinkLimits } from './adapter.js';

/**
 * Bytes an entry counts for against `maxRecordBytes`, `maxBatchBytes` and `bytesPerSecond`: what
 * the adapter says (`sizeBytes`), else its data plus its partition key, as Kinesis counts them
 * ("the data blob, the partition key" — PutRecords API reference).
 */
export function entrySize(e: EncodedEntry): number {
  return e.sizeBytes ?? e.data.length + Buffer.byteLength(e.partitionKey, 'utf8');
}

/** Whether an entry can ever be sent (else it is dead-lettered, never sent). */
export function fitsRecordLimit(e: EncodedEntry, limits: SinkLimits): boolean {
  return entrySize(e) <= limits.maxRecordBytes;
}

/**
 * The entries to send again after the destination failed `failed` (indexes into `sent`):
 * for each partition key, everything from its first failed entry onward — not only the failed
 * entries — so every later record of the batch comes again after a resent one and the latest
 * copies stand in chain order (docs/decisions/0018-ordering-with-partial-failure.md). The later
 * entries that had succeeded were already delivered once before the failed one: a consumer
 * reading one partition sees them twice, the first time early, and orders by the latest copy
 * (docs/decisions/0023-consumer-reorders-resends.md). Keeps `sent`'s order.
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
