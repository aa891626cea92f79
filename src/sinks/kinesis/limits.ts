/**
 * Kinesis Data Streams limits auditstream batches within.
 * Source: https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html and
 * https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html
 * - PutRecords: at most 500 records per call, at most 5 MiB per call including partition keys.
 * - One record: data blob plus partition key at most 1 MiB.
 * - One shard takes at most 1,000 records/s and 1 MiB/s of writes ("Each shard can support writes
 *   up to 1,000 records per second, up to a maximum data write total of 1 MiB per second",
 *   PutRecords API reference; "A shard supports 1 MB/s and 1000 records per second for writes",
 *   https://docs.aws.amazon.com/streams/latest/dev/working-with-streams.html), whichever comes
 *   first. auditstream's partition key is the account id, so an account's records all land on
 *   one shard, in order: per account on real Kinesis whatever the stream's shard count, 1,000
 *   records/s for records up to ~1 KiB, 1 MiB/s of larger ones. The bytes are counted as
 *   `entrySize` (data + partition key): the docs do not say whether the key counts towards the
 *   write rate, and counting it is the safe side. (Bursts above either limit are throttled with
 *   ProvisionedThroughputExceededException; the engine slows down and resends.)
 * - Partition keys are 1-256 Unicode characters.
 */
import type { SinkLimits } from '../../delivery/adapter.js';

export const KINESIS_LIMITS: SinkLimits = Object.freeze({
  maxBatchRecords: 500,
  maxBatchBytes: 5 * 1024 * 1024,
  maxRecordBytes: 1024 * 1024,
  recordsPerSecond: 1000,
  bytesPerSecond: 1024 * 1024,
});

export const MAX_PARTITION_KEY_CHARS = 256;

/**
 * Limits with KPL aggregation (aggregate.ts). An entry is one audit record; `maxRecordBytes` and
 * the byte limits count what it adds to an aggregated record (`packedRecordBytes`), and room is
 * left for each aggregated record's fixed `overhead` (magic, partition key table, MD5, partition
 * key): one entry alone still fits Kinesis' 1 MiB record, and a call's aggregated records stay
 * within 5 MiB and 500 (each pack but the last is filled to over 1 MiB minus its next entry, so a
 * 5 MiB call makes at most about 11 of them).
 * `recordsPerSecond` is Kinesis records: the adapter's `units` tells the engine how many
 * aggregated records a batch makes. `maxBatchRecords` bounds the audit records of one call (a
 * second's worth at the unaggregated limit; memory per batch stays what it was).
 */
export function aggregatedLimits(overhead: number): SinkLimits {
  return Object.freeze({
    maxBatchRecords: 1000,
    maxBatchBytes: KINESIS_LIMITS.maxBatchBytes - KINESIS_LIMITS.maxBatchRecords * overhead,
    maxRecordBytes: KINESIS_LIMITS.maxRecordBytes - overhead,
    recordsPerSecond: KINESIS_LIMITS.recordsPerSecond,
    bytesPerSecond: KINESIS_LIMITS.bytesPerSecond,
  });
}
