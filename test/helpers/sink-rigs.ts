/**
 * Real destinations for the delivery engine's fault tests, one rig per sink kind, so the same
 * tests run on every kind (test/delivery-faults.test.ts):
 * - `kinesis`: moto_server behind the fault proxy (fault-proxy.ts);
 * - `pubsub`: the Pub/Sub emulator behind a TCP proxy (`down`: connections refused) and a gRPC
 *   proxy (throttling as RESOURCE_EXHAUSTED, delay), read back through a subscription with
 *   message ordering per destination topic;
 * - `webhook`: an HTTPS server started here (certificate from a throwaway CA, tls.ts) that
 *   injects the same faults itself.
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
import type { DeliveryEngine } from '../../src/delivery/engine.js';
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
  readonly kind: 'kinesis' | 'pubsub' | 'webhook';
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

export const RIG_KINDS = ['kinesis', 'pubsub', 'webhook'] as const;

export function startRig(kind: (typeof RIG_KINDS)[number]): Promise<DeliveryRig> {
  return kind === 'kinesis' ? kinesisRig() : kind === 'pubsub' ? pubSubRig() : webhookRig();
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
