/**
 * moto_server for the Kinesis tests: started on a loopback ephemeral port, waited for, stopped.
 * The AWS SDK is pointed at it the standard way (AWS_ENDPOINT_URL, dummy credentials,
 * AWS_REGION), so auditstream's code runs exactly as against AWS.
 *
 * What moto proves and what it cannot (docs/decisions/0020-what-the-emulators-prove.md): it enforces the PutRecords limits
 * but never throttles (test/helpers/fault-proxy.ts injects that) and checks no IAM unless auth is
 * switched on (`enforceIam()`, moto's /moto-api/reset-auth): then a wrong ExternalId is
 * AccessDenied, but resource-scoped Kinesis policies are denied wrongly, so the role's policy in
 * that test uses `Resource: "*"`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { AuditStore } from '../../src/store/store.js';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';
import { createFixture } from './stores.js';

export interface Moto {
  url: string;
  port: number;
  /** Turns IAM enforcement on (every later request needs valid credentials) or off. */
  enforceIam(on: boolean): Promise<void>;
  stop(): Promise<void>;
}

/** The account moto puts resources in. */
export const MOTO_ACCOUNT = '123456789012';
export const TEST_REGION = 'us-east-1';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** The environment of a child process (serve, consume) whose AWS SDK talks to moto (or a proxy) at `url`. */
export function awsEnvFor(url: string): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: url,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_REGION: TEST_REGION,
    // The SDK's notice about Node 20 support is noise in test output.
    AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE: '1',
  };
}

/** Dummy credentials and region for the SDK, the endpoint pointed at `url` (moto or a proxy). */
export function useAwsEndpoint(url: string): void {
  Object.assign(process.env, awsEnvFor(url));
  delete process.env['AWS_PROFILE'];
}

export async function startMoto(): Promise<Moto> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const child: ChildProcess = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 20_000;
    let up = false;
    while (Date.now() < deadline && child.exitCode === null) {
      try {
        const r = await fetch(`${url}/moto-api/`);
        if (r.ok) {
          up = true;
          break;
        }
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    if (!up) {
      child.kill('SIGKILL');
      await exited;
      if (attempt < 2) continue; // the port may have been taken between probe and bind
      throw new Error(`moto_server did not start: ${stderr}`);
    }
    return {
      url,
      port,
      async enforceIam(on) {
        const r = await fetch(`${url}/moto-api/reset-auth`, { method: 'POST', body: on ? '0' : '1e12' });
        if (!r.ok) throw new Error(`moto reset-auth failed: ${r.status}`);
      },
      async stop() {
        if (child.exitCode !== null) return;
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(t);
      },
    };
  }
}

/** A Kinesis client for test set-up and read-back (talks to `url` directly, not through a proxy). */
export function kinesisClient(url: string): KinesisClient {
  return new KinesisClient({
    endpoint: url,
    region: TEST_REGION,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    requestHandler: new NodeHttpHandler(),
  });
}

/** Creates a one-shard stream and returns its ARN. */
export async function createStream(client: KinesisClient, name: string): Promise<string> {
  await client.send(new CreateStreamCommand({ StreamName: name, ShardCount: 1 }));
  const d = await client.send(new DescribeStreamSummaryCommand({ StreamName: name }));
  return d.StreamDescriptionSummary!.StreamARN!;
}

export interface StreamRecord {
  partitionKey: string;
  json: Record<string, unknown>;
  logId: string;
}

/** Every record in the stream, shard by shard, in stream order. */
export async function readStream(client: KinesisClient, name: string): Promise<StreamRecord[]> {
  const shards = await client.send(new ListShardsCommand({ StreamName: name }));
  const out: StreamRecord[] = [];
  for (const s of shards.Shards ?? []) {
    let it = (await client.send(new GetShardIteratorCommand({ StreamName: name, ShardId: s.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }))).ShardIterator;
    for (;;) {
      const page = await client.send(new GetRecordsCommand({ ShardIterator: it!, Limit: 10_000 }));
      for (const r of page.Records ?? []) {
        const json = JSON.parse(Buffer.from(r.Data!).toString('utf8')) as Record<string, unknown>;
        out.push({ partitionKey: r.PartitionKey!, json, logId: String(json['log_id']) });
      }
      if (!page.Records?.length || !page.NextShardIterator) break;
      it = page.NextShardIterator;
    }
  }
  return out;
}

/** Whether `expected` occurs in `received` in order (duplicates from at-least-once allowed in between). */
export function isSubsequence(expected: readonly string[], received: readonly string[]): boolean {
  let i = 0;
  for (const r of received) if (i < expected.length && r === expected[i]) i++;
  return i === expected.length;
}

/** What the Kinesis engine suites run against; see `startKinesisRig`. */
export interface KinesisRig {
  moto: Moto;
  /** Every SDK call of the code under test goes through it (`AWS_ENDPOINT_URL`). */
  proxy: FaultProxy;
  /** Straight to moto, for the test's own setup and reads, never faulted. */
  kinesis: KinesisClient;
  /** A fresh SQLite store. */
  store: AuditStore;
  /** Stops these engines first (they use the store and the proxy), then all the rig started. */
  stop(engines: readonly { stop(graceMs: number): Promise<unknown> }[]): Promise<void>;
}

/** moto behind a fault proxy, the SDK pointed at the proxy, and a fresh SQLite store. */
export async function startKinesisRig(): Promise<KinesisRig> {
  const moto = await startMoto();
  const proxy = await startFaultProxy(moto.url);
  useAwsEndpoint(proxy.url);
  const kinesis = kinesisClient(moto.url);
  const fx = await createFixture('sqlite');
  const store = await fx.open();
  return {
    moto,
    proxy,
    kinesis,
    store,
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
