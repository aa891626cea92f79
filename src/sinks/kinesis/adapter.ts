/**
 * The Kinesis Data Streams adapter: PutRecords into the customer's stream with credentials of the
 * customer's role (credentials.ts). Only limits, encode, send and classify live here; batching,
 * retry, rate and the cursor are the engine's (src/delivery).
 *
 * The SDK's own retries are off (`maxAttempts: 1`) so that throttling reaches the engine's
 * adaptive rate instead of being retried blindly. The HTTP/1.1 `NodeHttpHandler` is used
 * explicitly: it is what every AWS endpoint and moto speak.
 */
import { createHash } from 'node:crypto';
import { KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { EncodedEntry, SinkAdapter, Verdict } from '../../delivery/adapter.js';
import type { AdapterDeps, SendOutcome } from '../../delivery/adapter.js';
import type { KinesisSinkSpec } from '../spec.js';
import { parseStreamArn, roleArnFor } from './arn.js';
import { AssumedRoleCredentials, sessionNameFor } from './credentials.js';
import { classifyPutRecords } from './classify.js';
import { KINESIS_LIMITS, MAX_PARTITION_KEY_CHARS } from './limits.js';

export { diagnoseKinesis } from './classify.js';

/** Partition key: the account id (one shard per account, in order); hashed if over Kinesis' 256 characters. */
export function partitionKeyFor(accountId: string): string {
  return accountId.length <= MAX_PARTITION_KEY_CHARS ? accountId : createHash('sha256').update(accountId).digest('hex');
}

export interface KinesisAdapterOptions {
  /** Socket connect timeout. Default 5 s. */
  connectionTimeoutMs?: number;
  /** Socket inactivity timeout per request. Default 30 s. */
  requestTimeoutMs?: number;
}

export function createKinesisAdapter(spec: KinesisSinkSpec, deps: AdapterDeps, opts: KinesisAdapterOptions = {}): SinkAdapter {
  const parsed = parseStreamArn(spec.destinationUri);
  if (!parsed.ok) throw new TypeError(`kinesis sink ${deps.sinkName}: ${parsed.message}`);
  const stream = parsed.value;
  const creds = new AssumedRoleCredentials({
    roleArn: roleArnFor(stream, spec.roleName),
    externalId: deps.externalId,
    sessionName: sessionNameFor(deps.sinkName),
    region: spec.region,
  });
  let client: KinesisClient | undefined;
  const key = partitionKeyFor(deps.accountId);
  return {
    kind: 'kinesis',
    limits: KINESIS_LIMITS,
    encode(_accountId: string, seq: number, logId: string, recordJson: string): EncodedEntry {
      return { seq, logId, partitionKey: key, data: Buffer.from(recordJson, 'utf8') };
    },
    async send(entries: EncodedEntry[], signal?: AbortSignal): Promise<unknown> {
      // Credentials first, so a role problem surfaces as RoleAssumptionError, not a signing error.
      await creds.get(signal);
      client ??= new KinesisClient({
        region: spec.region,
        credentials: () => creds.get(),
        maxAttempts: 1,
        requestHandler: new NodeHttpHandler({ connectionTimeout: opts.connectionTimeoutMs ?? 5000, requestTimeout: opts.requestTimeoutMs ?? 30_000 }),
      });
      try {
        return await client.send(
          new PutRecordsCommand({ StreamARN: spec.destinationUri, Records: entries.map((e) => ({ Data: e.data, PartitionKey: e.partitionKey })) }),
          signal ? { abortSignal: signal } : {},
        );
      } catch (err) {
        if (/ExpiredToken/.test((err as { name?: string }).name ?? '')) creds.invalidate();
        throw err;
      }
    },
    classify(result: SendOutcome, entries: EncodedEntry[]): Verdict {
      return classifyPutRecords(result, entries);
    },
    async close(): Promise<void> {
      client?.destroy();
      creds.close();
    },
  };
}
