/**
 * The Amazon S3 adapter: one gzipped JSONL object per batch (object.ts), PutObject with
 * credentials of the customer's role (AssumeRole + ExternalId, src/sinks/aws/credentials.ts),
 * under the key keys.ts builds from the batch's first and last sequence. The engine keeps each
 * batch's boundaries stable (S3_LIMITS.stableBatches), so a resend writes the same key with the same
 * bytes. Only limits, encode, send, probe and classify live here.
 *
 * The SDK's own retries are off (`maxAttempts: 1`) so that SlowDown reaches the engine's adaptive
 * rate. With an endpoint override (moto, S3-compatible stores; `s3EndpointOverride`, config.ts)
 * buckets are addressed path-style.
 */
import { randomBytes } from 'node:crypto';
import { DeleteObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { AdapterDeps, EncodedEntry, SinkAdapter } from '../../delivery/adapter.js';
import { s3EndpointOverride } from '../../config.js';
import { AssumedRoleCredentials, sessionNameFor } from '../aws/credentials.js';
import type { S3SinkSpec } from './spec.js';
import { S3_LIMITS } from './limits.js';
import { objectKey, VERIFY_DIR } from './keys.js';
import { emitTimeOf, gzipBatch } from './object.js';
import { classifyS3 } from './classify.js';

export { diagnoseS3 } from './classify.js';

/** The role auditstream assumes for a sink: `arn:aws:iam::<account>:role/<name>`. */
export function s3RoleArn(spec: Pick<S3SinkSpec, 'awsAccountId' | 'roleName'>): string {
  return `arn:aws:iam::${spec.awsAccountId}:role/${spec.roleName}`;
}

export interface S3AdapterOptions {
  connectionTimeoutMs?: number;
  requestTimeoutMs?: number;
}

/** What a PutObject of a batch answered, with the key it wrote (tests and logs read it). */
export interface S3PutResult {
  key: string;
  bytes: number;
}

export function createS3Adapter(spec: S3SinkSpec, deps: AdapterDeps, opts: S3AdapterOptions = {}): SinkAdapter {
  const creds = new AssumedRoleCredentials({
    roleArn: s3RoleArn(spec),
    externalId: deps.externalId,
    sessionName: sessionNameFor(deps.sinkName),
    region: spec.region,
  });
  let client: S3Client | undefined;
  const s3 = async (signal?: AbortSignal): Promise<S3Client> => {
    // Credentials first, so a role problem surfaces as RoleAssumptionError, not a signing error.
    await creds.get(signal);
    client ??= new S3Client({
      region: spec.region,
      credentials: () => creds.get(),
      maxAttempts: 1,
      requestHandler: new NodeHttpHandler({ connectionTimeout: opts.connectionTimeoutMs ?? 5000, requestTimeout: opts.requestTimeoutMs ?? 60_000 }),
      ...(s3EndpointOverride() ? { forcePathStyle: true } : {}),
    });
    return client;
  };
  const put = async (key: string, body: Buffer, signal?: AbortSignal): Promise<void> => {
    const c = await s3(signal);
    try {
      await c.send(
        new PutObjectCommand({ Bucket: spec.bucket, Key: key, Body: body, ContentType: 'application/x-ndjson', ContentEncoding: 'gzip' }),
        signal ? { abortSignal: signal } : {},
      );
    } catch (err) {
      if (/ExpiredToken/.test((err as { name?: string }).name ?? '')) creds.invalidate();
      throw err;
    }
  };
  return {
    kind: 's3',
    limits: S3_LIMITS,
    encode(_accountId: string, seq: number, logId: string, recordJson: string): EncodedEntry {
      const data = Buffer.from(`${recordJson}\n`, 'utf8');
      return { seq, logId, partitionKey: deps.accountId, data, sizeBytes: data.length };
    },
    async send(entries: EncodedEntry[], signal?: AbortSignal): Promise<S3PutResult> {
      const first = entries[0]!;
      const key = objectKey(spec.prefix, deps.accountId, emitTimeOf(first), first.seq, entries[entries.length - 1]!.seq);
      const body = await gzipBatch(entries);
      await put(key, body, signal);
      return { key, bytes: body.length };
    },
    async probe(entry: EncodedEntry, signal?: AbortSignal): Promise<S3PutResult> {
      // Not part of the chain: its own directory under the prefix, deleted again at once.
      const key = `${spec.prefix}/${VERIFY_DIR}/${deps.accountId}-${entry.logId}-${randomBytes(4).toString('hex')}.jsonl.gz`;
      const body = await gzipBatch([entry]);
      await put(key, body, signal);
      await (await s3(signal)).send(new DeleteObjectCommand({ Bucket: spec.bucket, Key: key }), signal ? { abortSignal: signal } : {});
      return { key, bytes: body.length };
    },
    classify: classifyS3,
    async close(): Promise<void> {
      client?.destroy();
      creds.close();
    },
  };
}
