/**
 * S3 on moto for the S3 sink tests: a client pointed at moto (path-style, as moto needs), bucket
 * creation, and reading a prefix back — every object's key and gunzipped lines, in key order.
 */
import { gunzipSync } from 'node:zlib';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { awsEnvFor, startMoto, TEST_REGION, type Moto } from './moto.js';
import { startServe, stopServe, type ServeHandle } from './cli.js';
import type { AuditStore } from '../../src/store/store.js';

export function s3Client(url: string): S3Client {
  return new S3Client({
    endpoint: url,
    region: TEST_REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    requestHandler: new NodeHttpHandler(),
  });
}

export async function createBucket(client: S3Client, name: string): Promise<void> {
  await client.send(new CreateBucketCommand({ Bucket: name }));
}

export interface StoredObject {
  key: string;
  body: Buffer;
  /** The gunzipped body's lines (without the newline). */
  lines: string[];
}

/** Every object under `prefix`, in key order (ListObjectsV2's order). */
export async function readObjects(client: S3Client, bucket: string, prefix: string): Promise<StoredObject[]> {
  const out: StoredObject[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }));
    for (const o of page.Contents ?? []) {
      const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key! }));
      const body = Buffer.from(await got.Body!.transformToByteArray());
      const text = gunzipSync(body).toString('utf8');
      out.push({ key: o.Key!, body, lines: text.split('\n').filter((l, i, a) => l !== '' || i < a.length - 1) });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

/** An account's stored record texts, in chain order, with their seqs. */
export async function storedRecords(store: AuditStore, accountId: string): Promise<{ seq: number; json: string }[]> {
  const out: { seq: number; json: string }[] = [];
  for (let from = 1; ;) {
    const page = await store.readChainBodies(accountId, from, 1000);
    for (const r of page) out.push({ seq: r.seq, json: r.recordJson });
    if (page.length < 1000) return out;
    from = page[page.length - 1]!.seq + 1;
  }
}

const KEY = /^(.+)\/([^/]+)\/(\d{4})\/(\d{2})\/(\d{2})\/(\d{2})\/(\d{20})-(\d{20})\.jsonl\.gz$/;

/** A batch object's key, parsed; throws when the key does not have the sink's form. */
export function parseKey(key: string): { prefix: string; account: string; hour: string; first: number; last: number } {
  const m = KEY.exec(key);
  if (!m) throw new Error(`not a batch object key: ${key}`);
  return { prefix: m[1]!, account: m[2]!, hour: `${m[3]}-${m[4]}-${m[5]}T${m[6]}`, first: Number(m[7]), last: Number(m[8]) };
}

/**
 * Checks what a sink wrote for one account against `expected` (stored records, chain order):
 * every record exactly once across objects, byte for byte, objects in seq order = chain order,
 * each key naming its first and last record's seq and the first record's emit hour. Returns the
 * number of objects.
 */
export function checkObjects(objects: StoredObject[], expected: { seq: number; json: string }[]): number {
  const seqByJson = new Map(expected.map((e) => [e.json, e.seq]));
  const seqOf = (line: string): number => seqByJson.get(line) ?? -1;
  const lines: string[] = [];
  let lastSeq = 0;
  // Chain order is the order of the seqs in the keys. Key order agrees within one hour's path; across
  // hours only when emit times grow with the chain (they are the clients' to set).
  const bySeq = [...objects].sort((a, b) => parseKey(a.key).first - parseKey(b.key).first);
  for (const o of bySeq) {
    const k = parseKey(o.key);
    const seqs = o.lines.map(seqOf);
    if (seqs[0] !== k.first || seqs[seqs.length - 1] !== k.last) throw new Error(`${o.key} holds seqs ${seqs[0]}..${seqs[seqs.length - 1]}`);
    if (k.first <= lastSeq) throw new Error(`${o.key} overlaps the object before it (last seq ${lastSeq})`);
    lastSeq = k.last;
    const emit = (JSON.parse(o.lines[0]!) as { emit_time: string }).emit_time;
    if (!emit.startsWith(k.hour.slice(0, 13))) throw new Error(`${o.key}: hour path ${k.hour} is not the first record's emit time ${emit}`);
    lines.push(...o.lines);
  }
  if (lines.length !== expected.length || lines.some((l, i) => l !== expected[i]!.json)) {
    const missing = expected.filter((e) => !lines.includes(e.json)).length;
    throw new Error(`objects hold ${lines.length} records, the store ${expected.length} (${missing} missing, or order/bytes differ)`);
  }
  return objects.length;
}

/** `auditstream serve` with its AWS SDK on a fresh moto that has `bucket`, in a fresh directory (the S3 e2e suites). */
export interface S3ServeRig {
  dir: string;
  moto: Moto;
  s3: S3Client;
  serve: ServeHandle;
  /** serve's environment (to start it again after a kill). */
  env: Record<string, string>;
  /** The first-start account and its API key (data/initial-admin.json). */
  account: string;
  apiKey: string;
  /** Stops serve (if running) and moto, removes the directory. */
  stop(): Promise<void>;
}

export async function startS3ServeRig(label: string, bucket: string, extraEnv: Record<string, string> = {}): Promise<S3ServeRig> {
  const dir = mkdtempSync(join(tmpdir(), `auditstream-${label}-`));
  const moto = await startMoto();
  const s3 = s3Client(moto.url);
  await createBucket(s3, bucket);
  const env = {
    ...awsEnvFor(moto.url),
    DATABASE_URL: join(dir, 'audit.db'),
    AUDITSTREAM_DATA_DIR: join(dir, 'data'),
    AUDITSTREAM_BATCH_WINDOW_MS: '200',
    ...extraEnv,
  };
  const serve = await startServe(env, dir);
  const initial = JSON.parse(readFileSync(join(dir, 'data', 'initial-admin.json'), 'utf8')) as { api_key: string; account_id: string };
  const rig: S3ServeRig = {
    dir,
    moto,
    s3,
    serve,
    env,
    account: initial.account_id,
    apiKey: initial.api_key,
    async stop() {
      await stopServe(rig.serve);
      s3.destroy();
      await moto.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return rig;
}
