/**
 * KPL record aggregation: many audit records packed into one Kinesis record, in the format the
 * Kinesis Producer Library writes and the KCL and `aws-kinesis-agg` read
 * (https://github.com/awslabs/amazon-kinesis-producer/blob/master/aggregation-format.md):
 *
 *   0xF3 0x89 0x9A 0xC2  ‖  protobuf AggregatedRecord  ‖  MD5(AggregatedRecord bytes), 16 bytes
 *
 *   message AggregatedRecord {
 *     repeated string partition_key_table     = 1;
 *     repeated string explicit_hash_key_table = 2;
 *     repeated Record records                 = 3;
 *   }
 *   message Record {
 *     required uint64 partition_key_index     = 1;
 *     optional uint64 explicit_hash_key_index = 2;
 *     required bytes  data                    = 3;
 *     repeated Tag    tags                    = 4;
 *   }
 *
 * Why: a shard takes 1,000 records/s but 1 MiB/s, so ~450-byte audit records hit the count
 * limit at less than half the byte limit. Packed, one account (one partition key, one shard)
 * carries up to the byte limit. Every audit record of an aggregated record has the same partition
 * key (the account's), kept in chain order. The protobuf is written by hand: four field kinds,
 * no dependency.
 */
import { createHash } from 'node:crypto';

export const KPL_MAGIC = Buffer.from([0xf3, 0x89, 0x9a, 0xc2]);
const MD5_BYTES = 16;
/** Kinesis' limit on one record: data blob plus partition key. */
export const KINESIS_MAX_RECORD_BYTES = 1024 * 1024;

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

function writeVarint(buf: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    buf[at++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[at++] = n;
  return at;
}

/** Bytes one inner `Record` (partition_key_index 0, data) takes, field tag and length included. */
export function packedRecordBytes(dataBytes: number): number {
  const inner = 2 + 1 + varintLength(dataBytes) + dataBytes;
  return 1 + varintLength(inner) + inner;
}

/**
 * The fixed cost of one aggregated record around its inner records: magic, the partition key
 * table (one key), the MD5 trailer, and the partition key Kinesis counts beside the data.
 */
export function aggregateOverheadBytes(partitionKey: string): number {
  const pk = Buffer.byteLength(partitionKey, 'utf8');
  return KPL_MAGIC.length + 1 + varintLength(pk) + pk + MD5_BYTES + pk;
}

/**
 * Splits data blobs (in order) into consecutive groups, each packed into one aggregated record
 * of at most `maxBytes` (data + partition key, as Kinesis counts it). Returns each group's
 * `[start, end)`. A single blob too large for `maxBytes` still gets its own group (the caller
 * keeps such entries out: see the adapter's `maxRecordBytes`).
 */
export function planAggregates(dataBytes: readonly number[], partitionKey: string, maxBytes = KINESIS_MAX_RECORD_BYTES): Array<[number, number]> {
  const overhead = aggregateOverheadBytes(partitionKey);
  const groups: Array<[number, number]> = [];
  let start = 0;
  let size = overhead;
  for (let i = 0; i < dataBytes.length; i++) {
    const add = packedRecordBytes(dataBytes[i]!);
    if (i > start && size + add > maxBytes) {
      groups.push([start, i]);
      start = i;
      size = overhead;
    }
    size += add;
  }
  if (dataBytes.length > start) groups.push([start, dataBytes.length]);
  return groups;
}

/** One aggregated record's data blob: magic, AggregatedRecord with `partitionKey` and `datas`, MD5. */
export function encodeAggregate(partitionKey: string, datas: readonly Buffer[]): Buffer {
  const pk = Buffer.from(partitionKey, 'utf8');
  let protoLen = 1 + varintLength(pk.length) + pk.length;
  for (const d of datas) protoLen += packedRecordBytes(d.length);
  const out = Buffer.allocUnsafe(KPL_MAGIC.length + protoLen + MD5_BYTES);
  KPL_MAGIC.copy(out, 0);
  let at = KPL_MAGIC.length;
  // partition_key_table (field 1, length-delimited)
  out[at++] = 0x0a;
  at = writeVarint(out, at, pk.length);
  at += pk.copy(out, at);
  for (const d of datas) {
    const inner = 2 + 1 + varintLength(d.length) + d.length;
    // records (field 3, length-delimited)
    out[at++] = 0x1a;
    at = writeVarint(out, at, inner);
    // partition_key_index (field 1, varint) = 0
    out[at++] = 0x08;
    out[at++] = 0x00;
    // data (field 3, length-delimited)
    out[at++] = 0x1a;
    at = writeVarint(out, at, d.length);
    at += d.copy(out, at);
  }
  const proto = out.subarray(KPL_MAGIC.length, at);
  createHash('md5').update(proto).digest().copy(out, at);
  return out;
}
