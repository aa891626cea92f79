/**
 * Real destinations for the delivery engine's fault tests, one rig per sink kind, so the same
 * tests run on every kind (test/delivery-faults.test.ts):
 * - `kinesis`: moto_server behind the fault proxy (fault-proxy.ts);
 * - `pubsub`: the Pub/Sub emulator behind a TCP proxy (`down`: connections refused) and a gRPC
 *   proxy (throttling as RESOURCE_EXHAUSTED, delay), read back through a subscription with
 *   message ordering per destination topic;
 * - `webhook`: an HTTPS server started here (certificate from a throwaway CA, tls.ts) that
 *   injects the same faults itself.
 * - `s3`: a versioned bucket on moto behind the same fault proxy as Kinesis (`throttle-*`: PutObject
 *   answered 503 SlowDown, the first call after the fault is set and every third after it for
 *   `throttle-some`). A resend or a replay writes the same key again (stable batches,
 *   docs/decisions/0022-deterministic-object-batches.md), so only the bucket's versions show
 *   every write: what arrived is every version under the prefix, gunzipped, in the order the
 *   proxy saw moto take them. Its engines use a short batch window and, so that a backlog is
 *   more than one object (a kill can land mid-stream), at most 250 records per object.
 * A rig names each destination by a short string (`dest`): a stream, or a path of the receiver.
 * Faults are the same words for every kind: `down` (every connection reset), `throttle-some` (a
 * share of the calls or entries refused as throttled, the webhook's first call among them), `throttle-all` (every call refused as
 * throttled; the webhook answers 429 with `Retry-After: 1`), `delay` (each send held 300 ms
 * before the destination takes it), `pass`.
 */
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { AuditStore } from '../../src/store/store.js';
import type { AuditLogSinkSpec } from '../../src/sinks/spec.js';
import { gunzipSync } from 'node:zlib';
import { GetObjectCommand, ListObjectVersionsCommand, PutBucketVersioningCommand, type S3Client } from '@aws-sdk/client-s3';
import type { DeliveryEngine, EngineOptions } from '../../src/delivery/engine.js';
import { createAdapter } from '../../src/sinks/index.js';
import { createBucket, parseKey, s3Client } from './s3.js';
import { configureSecretBox, SecretBox } from '../../src/sinks/secret-box.js';
import { setPrivateNetworksAllowed } from '../../src/sinks/settings.js';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';
import { awsEnvFor, createStream, kinesisClient, MOTO_ACCOUNT, readStream, startMoto, useAwsEndpoint, type Moto } from './moto.js';
import { createFixture, type StoreFixture } from './stores.js';
import { makeTestTls, type TestTls } from './tls.js';
import type { Message, PubSub, Subscription } from '@google-cloud/pubsub';
import {
  createOrderedTopic,
  emulatorClient,
  startPublishFaultProxy,
  startPubSubEmulator,
  startTcpProxy,
  type PublishFaultProxy,
  type PubSubEmulator,
  type TcpProxy,
} from './pubsub-emulator.js';

export type RigFault = 'pass' | 'down' | 'throttle-some' | 'throttle-all' | 'delay';

export interface DeliveryRig {
  readonly kind: (typeof RIG_KINDS)[number];
  /** Options of this kind's in-process engines (S3: a short batch window, small objects). */
  readonly engineOptions?: Partial<EngineOptions>;
  /** Most records one send carries here, when the rig lowers the kind's limit. */
  readonly maxBatchRecords?: number;
  /** A SQLite store for in-process engines (a test may open others on other engines). */
  readonly store: AuditStore;
  /** Creates the destination `dest` (a stream; nothing for a receiver path). */
  create(dest: string): Promise<void>;
  /** The spec of a sink named `name` writing to `dest`. */
  spec(name: string, dest: string): AuditLogSinkSpec;
  /** What `dest` has taken, in order (duplicates kept); `key` where the destination has one (Kinesis partition key). */
  read(dest: string): Promise<{ logId: string; key?: string }[]>;
  fault(mode: RigFault): void;
  /** Throttle answers given so far (calls and entries). */
  throttled(): number;
  /** Send calls that reached the destination (past any fault) at or after `t` (ms since the epoch). */
  sendsSince(t: number): number;
  /** Environment of a delivery child (test/helpers/delivery-child.ts) reaching this rig's destinations, through its faults. */
  childEnv(): Record<string, string>;
  /** What an outage looks like in a sink's error message. */
  readonly outage: RegExp;
  stop(engines: DeliveryEngine[]): Promise<void>;
}

export const RIG_KINDS = ['kinesis', 'pubsub', 'webhook', 's3'] as const;

export function startRig(kind: (typeof RIG_KINDS)[number]): Promise<DeliveryRig> {
  return kind === 'kinesis' ? kinesisRig() : kind === 'pubsub' ? pubSubRig() : kind === 'webhook' ? webhookRig() : s3Rig();
}

const PROJECT = 'auditstream-faults';

async function pubSubRig(): Promise<DeliveryRig> {
  const emulator: PubSubEmulator = await startPubSubEmulator();
  const faults: PublishFaultProxy = await startPublishFaultProxy(emulator.host);
  const tcp: TcpProxy = await startTcpProxy(faults.host);
  // The adapters reach the emulator through both proxies; the admin client and the readers directly.
  process.env['PUBSUB_EMULATOR_HOST'] = tcp.host;
  const admin: PubSub = emulatorClient(emulator, PROJECT);
  const got = new Map<string, { logId: string; key: string }[]>();
  const subs: Subscription[] = [];
  const fx: StoreFixture = await createFixture('sqlite');
  const store = await fx.open();
  return {
    kind: 'pubsub',
    store,
    async create(dest) {
      const sub = await createOrderedTopic(admin, dest, `${dest}-sub`);
      const list: { logId: string; key: string }[] = [];
      got.set(dest, list);
      sub.on('message', (m: Message) => {
        list.push({ logId: m.attributes['log_id']!, key: m.orderingKey ?? '' });
        m.ack();
      });
      sub.on('error', () => {});
      subs.push(sub);
    },
    spec: (name, dest) => ({
      name,
      enabled: true,
      pubSubSink: { serviceAccountId: 'audit-publisher@customer-proj.iam.gserviceaccount.com', topicName: dest, gcpProjectId: PROJECT },
    }),
    // Pub/Sub pushes to the subscriber: what the destination took is what arrived once arrivals
    // have stopped for a while (acknowledged by the publish is not yet received).
    async read(dest) {
      const list = got.get(dest) ?? [];
      for (let seen = -1, end = Date.now() + 15_000; seen !== list.length && Date.now() < end;) {
        seen = list.length;
        await new Promise((r) => setTimeout(r, 400));
      }
      return [...list];
    },
    fault(mode) {
      if (mode === 'down') return void tcp.setMode('refuse');
      void tcp.setMode('pass');
      faults.setMode(mode === 'pass' ? 'pass' : mode);
    },
    throttled: () => faults.throttled,
    sendsSince: (t) => faults.forwardedAt.filter((a) => a >= t).length,
    childEnv: () => ({ PUBSUB_EMULATOR_HOST: tcp.host }),
    outage: /UNAVAILABLE/,
    async stop(engines) {
      for (const e of engines) await e.stop(1000);
      await store.close();
      await fx.destroy();
      for (const s of subs) await s.close().catch(() => {});
      await admin.close();
      await tcp.close();
      await faults.close();
      await emulator.stop();
    },
  };
}

async function kinesisRig(): Promise<DeliveryRig> {
  const moto: Moto = await startMoto();
  const proxy: FaultProxy = await startFaultProxy(moto.url);
  useAwsEndpoint(proxy.url);
  const kinesis: KinesisClient = kinesisClient(moto.url);
  const fx: StoreFixture = await createFixture('sqlite');
  const store = await fx.open();
  return {
    kind: 'kinesis',
    store,
    create: async (dest) => void (await createStream(kinesis, dest)),
    spec: (name, dest) => ({
      name,
      enabled: true,
      kinesisSink: { roleName: 'auditstream-writer', destinationUri: `arn:aws:kinesis:us-east-1:${MOTO_ACCOUNT}:stream/${dest}`, region: 'us-east-1' },
    }),
    read: async (dest) => (await readStream(kinesis, dest)).map((r) => ({ logId: r.logId, key: r.partitionKey })),
    fault(mode) {
      if (mode === 'throttle-some') proxy.setMode({ kind: 'throttle-entries', share: 0.3 });
      else if (mode === 'throttle-all') proxy.setMode({ kind: 'throttle-calls', share: 1 });
      else if (mode === 'delay') proxy.setMode({ kind: 'delay', ms: 300 });
      else proxy.setMode({ kind: mode });
    },
    throttled: () => proxy.stats.throttledCalls + proxy.stats.throttledEntries,
    sendsSince: (t) => proxy.calls.filter((c) => c.action.endsWith('PutRecords') && c.forwardedAt !== undefined && c.forwardedAt >= t).length,
    childEnv: () => awsEnvFor(proxy.url),
    outage: /unreachable|ECONNRESET|socket/i,
    async stop(engines) {
      for (const e of engines) await e.stop(1000);
      await store.close();
      await fx.destroy();
      kinesis.destroy();
      await proxy.close();
      await moto.stop();
    },
  };
}

async function webhookRig(): Promise<DeliveryRig> {
  const key = randomBytes(32);
  configureSecretBox(new SecretBox(key));
  // The receiver is on loopback, which the SSRF guard refuses unless private networks are allowed.
  setPrivateNetworksAllowed(true);
  const tls: TestTls = makeTestTls();
  const taken = new Map<string, string[]>();
  /** When each request whose records were taken was answered. */
  const acceptedAt: number[] = [];
  let mode: RigFault = 'pass';
  let throttled = 0;
  /** Requests since the fault was last set: `throttle-some` refuses the first and every third after it. */
  let sinceSet = 0;
  const server: Server = createServer({ key: tls.keyPem, cert: tls.certPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const n = sinceSet++;
      const answer = (): void => {
        if (mode === 'down') return void req.socket.destroy();
        if (mode === 'throttle-all' || (mode === 'throttle-some' && n % 3 === 0)) {
          throttled++;
          return void res.writeHead(429, { 'retry-after': mode === 'throttle-all' ? '1' : '0' }).end('slow down');
        }
        if (res.destroyed || req.socket.destroyed) return;
        const dest = (req.url ?? '/').slice(1);
        const records = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { log_id: string }[];
        taken.set(dest, [...(taken.get(dest) ?? []), ...records.map((r) => r.log_id)]);
        acceptedAt.push(Date.now());
        res.writeHead(200).end('ok');
      };
      if (mode === 'delay') setTimeout(answer, 300);
      else answer();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const fx: StoreFixture = await createFixture('sqlite');
  const store = await fx.open();
  return {
    kind: 'webhook',
    store,
    create: async () => {},
    spec: (name, dest) => ({ name, enabled: true, webhookSink: { url: `https://localhost:${port}/${dest}`, format: 'json', headers: [], caPem: tls.caPem } }),
    read: async (dest) => (taken.get(dest) ?? []).map((logId) => ({ logId })),
    fault(m) {
      mode = m;
      sinceSet = 0;
    },
    throttled: () => throttled,
    sendsSince: (t) => acceptedAt.filter((a) => a >= t).length,
    childEnv: () => ({ CHILD_SECRETS_KEY: key.toString('hex'), CHILD_ALLOW_PRIVATE_NETWORKS: '1' }),
    outage: /socket hang up|ECONNRESET|socket/i,
    async stop(engines) {
      for (const e of engines) await e.stop(1000);
      await store.close();
      await fx.destroy();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      tls.cleanup();
      setPrivateNetworksAllowed(false);
    },
  };
}

const BUCKET = 'audit-faults';
const S3_WINDOW_MS = 150;
const S3_BATCH_RECORDS = 250;

async function s3Rig(): Promise<DeliveryRig> {
  const moto: Moto = await startMoto();
  let sinceSet = 0;
  let mode: RigFault = 'pass';
  // Deterministic `throttle-some`: the first PutObject after the fault is set, and every third after it.
  const proxy: FaultProxy = await startFaultProxy(moto.url, () => (mode === 'throttle-some' ? (sinceSet++ % 3 === 0 ? 0 : 0.99) : Math.random()));
  useAwsEndpoint(proxy.url);
  const s3: S3Client = s3Client(moto.url);
  await createBucket(s3, BUCKET);
  await s3.send(new PutBucketVersioningCommand({ Bucket: BUCKET, VersioningConfiguration: { Status: 'Enabled' } }));
  const fx: StoreFixture = await createFixture('sqlite');
  const store = await fx.open();
  /** Bodies of the versions read so far (a version never changes). */
  const bodies = new Map<string, string[]>();
  return {
    kind: 's3',
    store,
    engineOptions: {
      batchWindowMs: S3_WINDOW_MS,
      createAdapter: (row, externalId) => {
        const real = createAdapter(row.spec, { accountId: row.accountId, sinkName: row.name, externalId });
        return { ...real, limits: { ...real.limits, maxBatchRecords: S3_BATCH_RECORDS } };
      },
    },
    maxBatchRecords: S3_BATCH_RECORDS,
    create: async () => {},
    spec: (name, dest) => ({
      name,
      enabled: true,
      s3Sink: { bucket: BUCKET, prefix: dest, region: 'us-east-1', awsAccountId: MOTO_ACCOUNT, roleName: 'writer' },
    }),
    async read(dest) {
      const versions: { key: string; versionId: string }[] = [];
      let keyMarker: string | undefined;
      let versionMarker: string | undefined;
      do {
        const page = await s3.send(
          new ListObjectVersionsCommand({
            Bucket: BUCKET,
            Prefix: `${dest}/`,
            ...(keyMarker ? { KeyMarker: keyMarker } : {}),
            ...(versionMarker ? { VersionIdMarker: versionMarker } : {}),
          }),
        );
        for (const v of page.Versions ?? []) versions.push({ key: v.Key!, versionId: v.VersionId! });
        keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
        versionMarker = page.IsTruncated ? page.NextVersionIdMarker : undefined;
      } while (keyMarker);
      // Arrival order: the order in which moto answered the PutObject that made each version.
      const arrived = new Map<string, number>();
      proxy.calls.forEach((c, i) => {
        if (c.action === 'S3.PutObject' && c.status === 200 && c.versionId) arrived.set(c.versionId, i);
      });
      versions.sort((a, b) => (arrived.get(a.versionId) ?? Infinity) - (arrived.get(b.versionId) ?? Infinity) || parseKey(a.key).first - parseKey(b.key).first);
      const out: { logId: string }[] = [];
      for (const v of versions) {
        let lines = bodies.get(v.versionId);
        if (!lines) {
          const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: v.key, VersionId: v.versionId }));
          lines = gunzipSync(Buffer.from(await got.Body!.transformToByteArray()))
            .toString('utf8')
            .split('\n')
            .filter((l) => l !== '');
          bodies.set(v.versionId, lines);
        }
        for (const l of lines) out.push({ logId: (JSON.parse(l) as { log_id: string }).log_id });
      }
      return out;
    },
    fault(m) {
      mode = m;
      sinceSet = 0;
      if (m === 'throttle-some') proxy.setMode({ kind: 'throttle-calls', share: 0.3 });
      else if (m === 'throttle-all') proxy.setMode({ kind: 'throttle-calls', share: 1 });
      else if (m === 'delay') proxy.setMode({ kind: 'delay', ms: 300 });
      else proxy.setMode({ kind: m });
    },
    throttled: () => proxy.stats.throttledCalls,
    sendsSince: (t) => proxy.calls.filter((c) => c.action === 'S3.PutObject' && c.forwardedAt !== undefined && c.forwardedAt >= t).length,
    childEnv: () => ({ ...awsEnvFor(proxy.url), CHILD_BATCH_WINDOW_MS: String(S3_WINDOW_MS), CHILD_MAX_BATCH_RECORDS: String(S3_BATCH_RECORDS) }),
    outage: /unreachable|ECONNRESET|socket/i,
    async stop(engines) {
      for (const e of engines) await e.stop(1000);
      await store.close();
      await fx.destroy();
      s3.destroy();
      await proxy.close();
      await moto.stop();
    },
  };
}
