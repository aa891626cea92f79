/**
 * An S3 sink's objects as a source (`--s3-uri s3://bucket/prefix`). The sink writes one gzipped
 * JSONL object per batch under `<prefix>/<account>/<YYYY>/<MM>/<DD>/<HH>/<first>-<last>.jsonl.gz`
 * (src/sinks/s3/keys.ts), each record in exactly one object, an account's objects one after
 * another. So per account this source lists the keys, orders them by the sequences in their names
 * (listing order agrees only within an hour's path: `emit_time` is the clients'), and reads the
 * objects after the last one committed, gunzipping them into one record per line. The position of
 * an account (its "shard") is the last key whose records are committed; a crash reads that
 * account again from the object after it (the records of a half-committed batch come again and are
 * deduped by log_id). Verify's test objects (`_auditstream-verify/`) and other keys are ignored.
 *
 * Credentials and region: the SDK's default chain (AWS_REGION, profiles, ...); requests follow the
 * bucket's region. With `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` set (moto, S3-compatible
 * stores) buckets are addressed path-style, as the sink does.
 */
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { GetObjectCommand, ListObjectsV2Command, S3Client, type ListObjectsV2CommandOutput } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { s3EndpointOverride } from '../../config.js';
import { parseObjectKeyTail, VERIFY_DIR } from '../../sinks/s3/keys.js';
import { ConsumerSetupError, type ShardPosition, type Source, type SourceBatch, type SourceRecord } from '../types.js';

const gunzipAsync = promisify(gunzip);

export interface S3SourceOptions {
  /** `s3://bucket/prefix`. */
  uri: string;
  /** Most records per batch (whole objects: a batch holds at least one). Default 10,000. */
  maxRecords?: number;
  /** How long `next` waits when no new object is there. Default 1 s. */
  waitMs?: number;
}

interface PendingObject {
  account: string;
  key: string;
  first: number;
  last: number;
  modifiedMs: number;
}

/** `s3://bucket/prefix` → bucket and prefix (without a trailing "/"); a one-line error otherwise. */
export function parseS3Uri(uri: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(uri);
  if (!m) throw new ConsumerSetupError(`--s3-uri ${uri} is not s3://BUCKET/PREFIX`);
  const prefix = (m[2] ?? '').replace(/\/+$/, '');
  if (prefix.startsWith('/') || prefix.split('/').includes('..'))
    throw new ConsumerSetupError(`--s3-uri ${uri}: the prefix must not start with "/" or hold ".."`);
  return { bucket: m[1]!, prefix };
}

export class S3Source implements Source {
  readonly description: string;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly client: S3Client;
  private readonly maxRecords: number;
  private readonly waitMs: number;
  /** Last seq taken per account (committed or in a batch handed out). */
  private readonly taken = new Map<string, number>();
  private queue: PendingObject[] = [];
  private readonly lastModified = new Map<string, number>();

  constructor(opts: S3SourceOptions) {
    const { bucket, prefix } = parseS3Uri(opts.uri);
    this.bucket = bucket;
    this.prefix = prefix;
    this.description = `s3 s3://${bucket}/${prefix}`;
    this.maxRecords = opts.maxRecords ?? 10_000;
    this.waitMs = opts.waitMs ?? 1000;
    this.client = new S3Client({
      followRegionRedirects: true,
      requestHandler: new NodeHttpHandler({ connectionTimeout: 5000, requestTimeout: 60_000 }),
      ...(s3EndpointOverride() ? { forcePathStyle: true } : {}),
    });
  }

  private dir(): string {
    return this.prefix ? `${this.prefix}/` : '';
  }

  async open(positions: Map<string, ShardPosition>): Promise<void> {
    for (const [account, p] of positions) {
      const k = p.sequence ? parseObjectKeyTail(p.sequence.slice(this.dir().length)) : undefined;
      if (k) this.taken.set(account, k.last);
    }
    try {
      await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.dir(), MaxKeys: 1 }));
    } catch (err) {
      await this.close();
      const e = err as { name?: string; message?: string };
      throw new ConsumerSetupError(`cannot list s3://${this.bucket}/${this.prefix}: ${e.name ?? 'Error'}: ${e.message ?? String(err)}`);
    }
  }

  /** Every object after what was taken, per account, in sequence order. */
  private async scan(signal: AbortSignal): Promise<PendingObject[]> {
    const accounts: string[] = [];
    for await (const page of this.list({ Prefix: this.dir(), Delimiter: '/' }, signal)) {
      for (const p of page.CommonPrefixes ?? []) {
        const account = p.Prefix!.slice(this.dir().length).replace(/\/$/, '');
        if (account && account !== VERIFY_DIR) accounts.push(account);
      }
    }
    const found: PendingObject[] = [];
    for (const account of accounts) {
      const after = this.taken.get(account) ?? 0;
      const mine: PendingObject[] = [];
      for await (const page of this.list({ Prefix: `${this.dir()}${account}/` }, signal)) {
        for (const o of page.Contents ?? []) {
          const k = parseObjectKeyTail(o.Key!.slice(this.dir().length));
          if (!k || k.account !== account || k.first <= after) continue;
          mine.push({ account, key: o.Key!, first: k.first, last: k.last, modifiedMs: o.LastModified?.getTime() ?? Date.now() });
        }
      }
      mine.sort((a, b) => a.first - b.first);
      found.push(...mine);
    }
    return found;
  }

  private async *list(input: { Prefix: string; Delimiter?: string }, signal: AbortSignal): AsyncGenerator<ListObjectsV2CommandOutput> {
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, ...input, ...(token ? { ContinuationToken: token } : {}) }), {
        abortSignal: signal,
      });
      yield page;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async next(signal: AbortSignal): Promise<SourceBatch | null> {
    if (this.queue.length === 0) {
      this.queue = await this.scan(signal).catch((err: unknown) => {
        if (signal.aborted) return [];
        throw err;
      });
      if (this.queue.length === 0) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(done, this.waitMs);
          function done() {
            clearTimeout(t);
            resolve();
          }
          signal.addEventListener('abort', done, { once: true });
        });
        return { records: [], positions: [] };
      }
    }
    const records: SourceRecord[] = [];
    const positions = new Map<string, ShardPosition>();
    while (this.queue.length > 0 && (records.length === 0 || records.length < this.maxRecords)) {
      const o = this.queue.shift()!;
      const got = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: o.key }), { abortSignal: signal });
      const text = (await gunzipAsync(Buffer.from(await got.Body!.transformToByteArray()))).toString('utf8');
      let i = 0;
      for (const line of text.split('\n')) {
        if (line === '') continue;
        records.push({ account: o.account, data: Buffer.from(line, 'utf8'), shard: o.account, sequence: o.key, subSequence: i++ });
      }
      this.taken.set(o.account, o.last);
      this.lastModified.set(o.account, o.modifiedMs);
      positions.set(o.account, { shard: o.account, sequence: o.key, finished: false });
    }
    return { records, positions: [...positions.values()] };
  }

  lag(): Map<string, number> {
    return new Map([...this.lastModified].map(([a, ms]) => [a, Math.max(0, Date.now() - ms)]));
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
