/**
 * The real Pub/Sub emulator for tests, plus two small proxies to put in front of it.
 *
 * - `startPubSubEmulator()` runs `gcloud beta emulators pubsub start` on a free loopback port
 *   (Java; ~3–10 s to start), waits until it answers HTTP, and `stop()` ends the whole process
 *   group — gcloud's Python *and* the Java child it spawns — so nothing is left running. The
 *   emulator keeps everything in memory and forgets it on restart, so tests never restart it:
 *   outages are simulated with the proxies instead (docs/decisions/0020).
 * - `startTcpProxy()` forwards bytes and can be switched to `refuse` (the port is closed and open
 *   connections are reset: the client sees UNAVAILABLE) or `blackhole` (connections are accepted
 *   and open ones kept, but nothing goes through: calls hang until their deadline).
 * - `startPublishFaultProxy()` is gRPC-aware: it answers the next N Publish calls with a status of
 *   the test's choosing (e.g. RESOURCE_EXHAUSTED, which the emulator never sends) and forwards
 *   the rest to the emulator unchanged.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, Socket, type AddressInfo, type Server } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { PubSub, type Message, type Subscription } from '@google-cloud/pubsub';

export interface PubSubEmulator {
  /** `127.0.0.1:PORT`, the value for PUBSUB_EMULATOR_HOST. */
  host: string;
  port: number;
  /** Everything the emulator printed so far (for failure messages). */
  output(): string;
  /** Stops gcloud and its Java child (the whole process group); idempotent. */
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (bound, read, released). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) killGroup(child, 'SIGKILL');
});
// A test run cancelled by a signal must not leave Java behind: kill, then die of the signal.
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    for (const child of live) killGroup(child, 'SIGKILL');
    process.kill(process.pid, sig);
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    /* already gone */
  }
}

/** Starts the emulator; rejects (after stopping it) if it does not answer within `startTimeoutMs`. */
export async function startPubSubEmulator(opts: { startTimeoutMs?: number } = {}): Promise<PubSubEmulator> {
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  let out = '';
  // detached: its own process group, so stop() reaches the Java grandchild too.
  const child = spawn('gcloud', ['beta', 'emulators', 'pubsub', 'start', `--host-port=${host}`, '--quiet'], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CLOUDSDK_CORE_DISABLE_PROMPTS: '1' },
  });
  live.add(child);
  const append = (b: Buffer): void => {
    out = (out + b.toString('utf8')).slice(-20_000);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.once('error', (err) => append(Buffer.from(`spawn failed: ${err.message}\n`)));

  const stop = async (): Promise<void> => {
    if (!live.has(child)) return;
    live.delete(child);
    killGroup(child, 'SIGTERM');
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
    // gcloud may exit before Java does; make sure the group is gone.
    killGroup(child, 'SIGKILL');
  };

  const deadline = Date.now() + (opts.startTimeoutMs ?? 30_000);
  let exitCode: number | null | undefined;
  void exited.then((c) => (exitCode = c));
  while (Date.now() < deadline) {
    if (exitCode !== undefined) break;
    try {
      const res = await fetch(`http://${host}/`, { signal: AbortSignal.timeout(1_000) });
      if (res.ok) return { host, port, output: () => out, stop };
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  await stop();
  throw new Error(`Pub/Sub emulator did not start on ${host} (is google-cloud-cli-pubsub-emulator installed?)\n${out}`);
}

/** An admin client for the emulator (apiEndpoint, not the environment, so tests stay explicit). */
export function emulatorClient(emulator: { host: string }, projectId: string): PubSub {
  // universeDomain stated so google-gax never probes the GCE metadata server for it.
  return new PubSub({ projectId, apiEndpoint: emulator.host, emulatorMode: true, universeDomain: 'googleapis.com' });
}

/** Creates a topic and a subscription with message ordering enabled. */
export async function createOrderedTopic(pubsub: PubSub, topicName: string, subscriptionName: string): Promise<Subscription> {
  const [topic] = await pubsub.createTopic(topicName);
  const [sub] = await topic.createSubscription(subscriptionName, { enableMessageOrdering: true, ackDeadlineSeconds: 60 });
  return sub;
}

/**
 * Receives `count` messages with the official streaming subscriber, acking each, in the order
 * they were delivered. Rejects on timeout with how many arrived.
 */
export async function receive(sub: Subscription, count: number, timeoutMs = 20_000): Promise<Message[]> {
  const got: Message[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`received ${got.length} of ${count} messages`)), timeoutMs);
      sub.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      sub.on('message', (m: Message) => {
        got.push(m);
        m.ack();
        if (got.length >= count) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  } finally {
    sub.removeAllListeners('message');
    sub.removeAllListeners('error');
    await sub.close();
  }
  return got;
}

export type ProxyMode = 'pass' | 'refuse' | 'blackhole';

export interface TcpProxy {
  /** `127.0.0.1:PORT` */
  host: string;
  port: number;
  readonly mode: ProxyMode;
  /** Connections accepted so far. */
  readonly accepted: number;
  setMode(mode: ProxyMode): Promise<void>;
  close(): Promise<void>;
}

/** A TCP proxy to `target` (`host:port`) on a free loopback port, switchable at run time. */
export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const [targetHost, targetPort] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const port = await freePort();
  let mode: ProxyMode = 'pass';
  let accepted = 0;
  const pairs = new Set<{ client: Socket; upstream: Socket }>();
  let server: Server | undefined;

  const onConnection = (client: Socket): void => {
    accepted++;
    const upstream = new Socket();
    const pair = { client, upstream };
    pairs.add(pair);
    const drop = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    upstream.connect(targetPort, targetHost);
    // Blackhole pauses reading on both sides: bytes wait in the kernel, none is lost, so a
    // connection that survives the blackhole is still a valid HTTP/2 stream afterwards.
    client.on('data', (b) => upstream.write(b));
    upstream.on('data', (b) => client.write(b));
    if (mode === 'blackhole') {
      client.pause();
      upstream.pause();
    }
  };

  const listen = async (): Promise<void> => {
    server = createServer(onConnection);
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(port, '127.0.0.1', () => resolve());
    });
  };
  const unlisten = async (): Promise<void> => {
    const s = server;
    server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  await listen();

  return {
    host: `127.0.0.1:${port}`,
    port,
    get mode() {
      return mode;
    },
    get accepted() {
      return accepted;
    },
    async setMode(next: ProxyMode): Promise<void> {
      if (next === mode) return;
      const prev = mode;
      mode = next;
      if (next === 'refuse') {
        for (const p of pairs) {
          p.client.resetAndDestroy();
          p.upstream.destroy();
        }
        pairs.clear();
        await unlisten();
      } else if (prev === 'refuse') {
        await listen();
      }
      for (const p of pairs) {
        if (next === 'pass') {
          p.client.resume();
          p.upstream.resume();
        } else if (next === 'blackhole') {
          p.client.pause();
          p.upstream.pause();
        }
      }
    },
    async close(): Promise<void> {
      for (const p of pairs) {
        p.client.destroy();
        p.upstream.destroy();
      }
      pairs.clear();
      await unlisten();
    },
  };
}

/**
 * Faults for every later Publish: `throttle-all` answers each with RESOURCE_EXHAUSTED (what the
 * service sends when a publisher exceeds its quota), `throttle-some` the first and every third
 * after it, `delay` holds each 300 ms before forwarding it.
 */
export type PublishFaultMode = 'pass' | 'throttle-some' | 'throttle-all' | 'delay';

export interface PublishFaultProxy {
  host: string;
  /** Publish calls seen (failed or forwarded). */
  readonly publishCalls: number;
  /** Calls answered RESOURCE_EXHAUSTED by a throttle mode. */
  readonly throttled: number;
  /** When each forwarded Publish reached the emulator (ms since the epoch). */
  readonly forwardedAt: readonly number[];
  /** Answers the next `n` Publish calls with `code`/`details` instead of forwarding them. */
  failNext(n: number, code: grpc.status, details: string): void;
  setMode(mode: PublishFaultMode): void;
  close(): Promise<void>;
}

const PUBLISH_PATH = '/google.pubsub.v1.Publisher/Publish';
const raw = (b: Buffer): Buffer => b;

/**
 * A plaintext gRPC server that forwards Publish to `target` byte for byte (request and response
 * are passed through undecoded) unless told to fail the next calls.
 */
export async function startPublishFaultProxy(target: string): Promise<PublishFaultProxy> {
  const upstream = new grpc.Client(target, grpc.credentials.createInsecure());
  let calls = 0;
  let failures: { n: number; code: grpc.status; details: string } = { n: 0, code: grpc.status.OK, details: '' };
  let mode: PublishFaultMode = 'pass';
  let sinceSet = 0;
  let throttled = 0;
  const forwardedAt: number[] = [];
  const server = new grpc.Server();
  server.addService(
    {
      Publish: {
        path: PUBLISH_PATH,
        requestStream: false,
        responseStream: false,
        requestSerialize: raw,
        requestDeserialize: raw,
        responseSerialize: raw,
        responseDeserialize: raw,
      },
    },
    {
      Publish: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        calls++;
        if (failures.n > 0) {
          failures.n--;
          callback({ code: failures.code, details: failures.details, metadata: new grpc.Metadata() });
          return;
        }
        const n = sinceSet++;
        if (mode === 'throttle-all' || (mode === 'throttle-some' && n % 3 === 0)) {
          throttled++;
          callback({ code: grpc.status.RESOURCE_EXHAUSTED, details: 'quota exceeded (fault proxy)', metadata: new grpc.Metadata() });
          return;
        }
        const forward = (): void => {
          if (call.cancelled) return;
          forwardedAt.push(Date.now());
          upstream.makeUnaryRequest(PUBLISH_PATH, raw, raw, call.request, (err, value) => {
            if (err) callback(err);
            else callback(null, value);
          });
        };
        if (mode === 'delay') setTimeout(forward, 300);
        else forward();
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    host: `127.0.0.1:${port}`,
    get publishCalls() {
      return calls;
    },
    get throttled() {
      return throttled;
    },
    forwardedAt,
    failNext(n, code, details) {
      failures = { n, code, details };
    },
    setMode(m) {
      mode = m;
      sinceSet = 0;
    },
    async close() {
      upstream.close();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    },
  };
}
