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
import { KINESIS_LIMITS, MAX_PARTITION_KEY_CHARS, aggregatedLimits } from './limits.js';
import { aggregateOverheadBytes, encodeAggregate, packedRecordBytes, planAggregates } from './aggregate.js';

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
  // KPL aggregation (spec.aggregate, off by default): entries are audit records, packed at send
  // time into aggregated Kinesis records (aggregate.ts). The engine's rate and batch limits then
  // count what Kinesis counts through `units`; each entry's size is what it adds to a pack.
  const aggregate = spec.aggregate === true;
  const overhead = aggregateOverheadBytes(key);
  /** Which entries each aggregated record of a send carried, for `classify` (keyed by the array sent). */
  const packsOf = new WeakMap<readonly EncodedEntry[], Array<[number, number]>>();
  const plan = (entries: readonly EncodedEntry[]) =>
    planAggregates(
      entries.map((e) => e.data.length),
      key,
    );
  return {
    kind: 'kinesis',
    limits: aggregate ? aggregatedLimits(overhead) : KINESIS_LIMITS,
    encode(_accountId: string, seq: number, logId: string, recordJson: string): EncodedEntry {
      const data = Buffer.from(recordJson, 'utf8');
      return aggregate ? { seq, logId, partitionKey: key, data, sizeBytes: packedRecordBytes(data.length) } : { seq, logId, partitionKey: key, data };
    },
    ...(aggregate
      ? {
          units(entries: readonly EncodedEntry[]) {
            const packs = plan(entries);
            let bytes = packs.length * overhead;
            for (const e of entries) bytes += packedRecordBytes(e.data.length);
            return { records: packs.length, bytes };
          },
        }
      : {}),
    async send(entries: EncodedEntry[], signal?: AbortSignal): Promise<unknown> {
      // Credentials first, so a role problem surfaces as RoleAssumptionError, not a signing error.
      await creds.get(signal);
      client ??= new KinesisClient({
        region: spec.region,
        credentials: () => creds.get(),
        maxAttempts: 1,
        requestHandler: new NodeHttpHandler({ connectionTimeout: opts.connectionTimeoutMs ?? 5000, requestTimeout: opts.requestTimeoutMs ?? 30_000 }),
      });
      let records: Array<{ Data: Uint8Array; PartitionKey: string }>;
      if (aggregate) {
        const packs = plan(entries);
        packsOf.set(entries, packs);
        records = packs.map(([from, to]) => ({
          Data: encodeAggregate(
            key,
            entries.slice(from, to).map((e) => e.data),
          ),
          PartitionKey: key,
        }));
      } else {
        records = entries.map((e) => ({ Data: e.data, PartitionKey: e.partitionKey }));
      }
      try {
        return await client.send(new PutRecordsCommand({ StreamARN: spec.destinationUri, Records: records }), signal ? { abortSignal: signal } : {});
      } catch (err) {
        if (/ExpiredToken/.test((err as { name?: string }).name ?? '')) creds.invalidate();
        throw err;
      }
    },
    classify(result: SendOutcome, entries: EncodedEntry[]): Verdict {
      const packs = packsOf.get(entries);
      if (!packs) return classifyPutRecords(result, entries);
      return expandPacks(
        classifyPutRecords(
          result,
          packs.map(([from]) => entries[from]!),
        ),
        packs,
      );
    },
    async close(): Promise<void> {
      client?.destroy();
      creds.close();
    },
  };
}

/**
 * A verdict about aggregated records as one about the audit records they carried: a failed
 * aggregated record fails every entry in it (the engine then resends from the first of them).
 */
export function expandPacks(v: Verdict, packs: ReadonlyArray<readonly [number, number]>): Verdict {
  if (v.kind === 'ok' || v.kind === 'fatal' || !v.only) return v;
  const only: number[] = [];
  for (const p of v.only) {
    const pack = packs[p];
    if (pack) for (let i = pack[0]; i < pack[1]; i++) only.push(i);
  }
  return { ...v, only };
}
