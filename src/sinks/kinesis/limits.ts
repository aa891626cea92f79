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
