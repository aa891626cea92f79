/**
 * KPL aggregation (the Kinesis Producer Library's documented format): a Kinesis record whose
 * data is the magic 0xF3899AC2, a protobuf `AggregatedRecord` and the MD5 of that protobuf holds
 * several user records. Decoded here with a minimal protobuf reader rather than a dependency:
 *
 *   message AggregatedRecord { repeated string partition_key_table = 1;
 *     repeated string explicit_hash_key_table = 2; repeated Record records = 3; }
 *   message Record { required uint64 partition_key_index = 1; optional uint64
 *     explicit_hash_key_index = 2; required bytes data = 3; repeated Tag tags = 4; }
 *
 * Data without the magic, or whose checksum does not match, is one plain record (what the KPL's
 * own deaggregators do).
 */
import { createHash } from 'node:crypto';

const MAGIC = Buffer.from([0xf3, 0x89, 0x9a, 0xc2]);

export interface UserRecord {
  partitionKey: string;
  data: Buffer;
}

/** The user records inside one Kinesis record's data (one, itself, when not aggregated). */
export function deaggregate(data: Buffer, partitionKey: string): UserRecord[] {
  if (data.length < MAGIC.length + 16 || !data.subarray(0, 4).equals(MAGIC)) return [{ partitionKey, data }];
  const body = data.subarray(4, data.length - 16);
  if (
    !createHash('md5')
      .update(body)
      .digest()
      .equals(data.subarray(data.length - 16))
  )
    return [{ partitionKey, data }];
  try {
    return decodeAggregated(body);
  } catch {
    return [{ partitionKey, data }];
  }
}

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  get done(): boolean {
    return this.pos >= this.buf.length;
  }
  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw new Error('truncated varint');
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
    }
    throw new Error('varint too long');
  }
  bytes(): Buffer {
    const len = this.varint();
    if (this.pos + len > this.buf.length) throw new Error('truncated field');
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
}

function decodeAggregated(body: Buffer): UserRecord[] {
  const keys: string[] = [];
  const raw: { keyIndex: number; data: Buffer }[] = [];
  const r = new Reader(body);
  while (!r.done) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 1 && wire === 2) keys.push(r.bytes().toString('utf8'));
    else if (field === 3 && wire === 2) raw.push(decodeRecord(r.bytes()));
    else r.skip(wire);
  }
  return raw.map((rec) => {
    const key = keys[rec.keyIndex];
    if (key === undefined) throw new Error('partition key index out of range');
    return { partitionKey: key, data: rec.data };
  });
}

function decodeRecord(buf: Buffer): { keyIndex: number; data: Buffer } {
  const r = new Reader(buf);
  let keyIndex = -1;
  let data: Buffer | undefined;
  while (!r.done) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 1 && wire === 0) keyIndex = r.varint();
    else if (field === 3 && wire === 2) data = r.bytes();
    else r.skip(wire);
  }
  if (keyIndex < 0 || !data) throw new Error('aggregated record lacks a required field');
  return { keyIndex, data };
}

/** Builds an aggregated record (the inverse, for tests and benchmarks). */
export function aggregate(records: UserRecord[]): Buffer {
  const keys = [...new Set(records.map((r) => r.partitionKey))];
  const parts: Buffer[] = [];
  for (const k of keys) parts.push(field(1, Buffer.from(k, 'utf8')));
  for (const rec of records) {
    const inner = Buffer.concat([varint(1 << 3), varint(keys.indexOf(rec.partitionKey)), field(3, rec.data)]);
    parts.push(field(3, inner));
  }
  const body = Buffer.concat(parts);
  return Buffer.concat([MAGIC, body, createHash('md5').update(body).digest()]);
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

function field(num: number, bytes: Buffer): Buffer {
  return Buffer.concat([varint((num << 3) | 2), varint(bytes.length), bytes]);
}
