/**
 * Delivery throughput beside a plain PutRecords / Publish loop with the same SDK in the same run:
 * interleaved rounds on fresh streams/topics, medians.
 */
import { KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import * as grpc from '@grpc/grpc-js';
import { v1 } from '@google-cloud/pubsub';
import type { AuditStore } from '../../src/store/store.js';
import { DeliveryEngine } from '../../src/delivery/engine.js';
import { sinkRegistry } from '../../src/sinks/index.js';
import { createStream, kinesisClient, MOTO_ACCOUNT, TEST_REGION, type Moto } from '../../test/helpers/moto.js';
import { emulatorClient, type PubSubEmulator } from '../../test/helpers/pubsub-emulator.js';
import type { SinkKind, ThroughputRound, ThroughputRow } from './results.js';
import { kinesisSpec, median, PROJECT, progress, pubsubSpec } from './util.js';
import { describeRateLimits, timedStore, uncappedAdapterFactory, type SendTiming, type StoreTiming } from './instrument.js';
import { backlogStore } from './backlog.js';

/**
 * Starts an engine and times it, from `engine.start()`, until the sink of `accountId` has had `n`
 * records acknowledged (`onSent` ok). The throughput runs give each engine a store of its own
 * with that one sink, so nothing else competes.
 */
async function engineDrain(
  store: AuditStore,
  accountId: string,
  n: number,
  uncapped = false,
  timing?: SendTiming,
  storeTiming?: StoreTiming,
): Promise<{ seconds: number; t0: number }> {
  const sinkId = (await store.sql.get<{ id: string }>('SELECT id FROM audit_log_sinks WHERE account_id = ?', [accountId]))!.id;
  let ok = 0;
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => (done = r));
  const engine = new DeliveryEngine({
    sinks: sinkRegistry,
    store: storeTiming ? timedStore(store, storeTiming) : store,
    ...(uncapped ? { createAdapter: uncappedAdapterFactory(timing) } : {}),
    onSent: (s, verdict, entries) => {
      if (s === sinkId && verdict === 'ok') ok += entries;
      if (ok >= n) done();
    },
  });
  const t0 = performance.now();
  engine.start();
  engine.notify(accountId);
  await finished;
  const s = (performance.now() - t0) / 1000;
  await engine.stop(5000);
  return { seconds: s, t0 };
}

/** Plain PutRecords loop: same SDK client settings as the adapter, 500 per call, sequential. */
async function kinesisBaseline(url: string, stream: string, samples: string[], n: number): Promise<number> {
  const client = new KinesisClient({
    region: TEST_REGION,
    endpoint: url,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({ connectionTimeout: 5000, requestTimeout: 30_000 }),
  });
  const t0 = performance.now();
  let i = 0;
  while (i < n) {
    const k = Math.min(500, n - i);
    const Records = Array.from({ length: k }, (_, j) => ({ Data: Buffer.from(samples[(i + j) % samples.length]!, 'utf8'), PartitionKey: 'acct-baseline' }));
    const out = await client.send(new PutRecordsCommand({ StreamARN: `arn:aws:kinesis:${TEST_REGION}:${MOTO_ACCOUNT}:stream/${stream}`, Records }));
    if (out.FailedRecordCount) throw new Error(`baseline PutRecords failed ${out.FailedRecordCount}`);
    i += k;
  }
  const s = (performance.now() - t0) / 1000;
  client.destroy();
  return n / s;
}

/** Plain Publish loop with the generated client, as the adapter calls it: 1,000 per request, sequential. */
async function pubsubBaseline(emulator: PubSubEmulator, topic: string, samples: string[], n: number): Promise<number> {
  const publisher = new v1.PublisherClient({
    servicePath: '127.0.0.1',
    port: emulator.port,
    sslCreds: grpc.credentials.createInsecure(),
    universeDomain: 'googleapis.com',
  });
  await publisher.initialize();
  const topicPath = `projects/${PROJECT}/topics/${topic}`;
  const t0 = performance.now();
  let i = 0;
  while (i < n) {
    const k = Math.min(1000, n - i);
    const messages = Array.from({ length: k }, (_, j) => ({
      data: Buffer.from(samples[(i + j) % samples.length]!, 'utf8'),
      attributes: { log_id: `b${i + j}`, account_id: 'acct-baseline', sequence: String(i + j + 1) },
      orderingKey: 'acct-baseline',
    }));
    await publisher.publish({ topic: topicPath, messages }, { isBundling: false, retry: null } as never);
    i += k;
  }
  const s = (performance.now() - t0) / 1000;
  await publisher.close();
  return n / s;
}

/**
 * Throughput of one sink kind: `rounds` rounds, each a plain client loop and the engine (rate cap
 * lifted) on fresh streams/topics with the same `n` records (the round's stored JSON), the order
 * alternating per round; then the engine as shipped (capped) once on `cappedN` records.
 */
export async function throughputRun(
  dir: string,
  kind: SinkKind,
  n: number,
  rounds: number,
  cappedN: number,
  moto: Moto | undefined,
  emulator: PubSubEmulator | undefined,
): Promise<ThroughputRow> {
  const admin = kind === 'pubsub' ? emulatorClient(emulator!, PROJECT) : undefined;
  const kclient = kind === 'kinesis' ? kinesisClient(moto!.url) : undefined;
  const mk = async (name: string) => {
    if (kclient) await createStream(kclient, name);
    else await admin!.createTopic(name);
  };
  const baseline = async (name: string, json: string[], count: number) => {
    await mk(name);
    return kind === 'kinesis' ? kinesisBaseline(moto!.url, name, json, count) : pubsubBaseline(emulator!, name, json, count);
  };
  const id = `tput-${Date.now().toString(36)}-${kind}`;

  // Warm-up, not timed: the plain loop and the engine each deliver a small backlog once (JIT,
  // connections, credentials).
  const warmN = Math.min(2000, n);
  {
    const w = await backlogStore(dir, kind, `${id}-warm-engine`, warmN, mk);
    await baseline(`${id}-warm-base`, w.json, warmN);
    await engineDrain(w.store, `${id}-warm-engine`, warmN, true);
    await w.dispose();
  }

  const out: ThroughputRound[] = [];
  let recordBytes = 0;
  for (let r = 1; r <= rounds; r++) {
    progress(`throughput ${kind} round ${r}/${rounds}: loading ${n} records`);
    const b = await backlogStore(dir, kind, `${id}-r${r}-engine`, n, mk);
    recordBytes += b.json.reduce((a, j) => a + Buffer.byteLength(j), 0) / n / rounds;
    const first: ThroughputRound['first'] = r % 2 === 1 ? 'baseline' : 'engine';
    let baselineRps = NaN;
    let engineSeconds = NaN;
    let engineT0 = NaN;
    const timing: SendTiming = { accountId: `${id}-r${r}-engine`, ms: 0, calls: 0 };
    const storeTiming: StoreTiming = { readMs: 0, txMs: 0, sqlMs: 0 };
    for (const side of first === 'baseline' ? ['baseline', 'engine'] : ['engine', 'baseline']) {
      if (side === 'baseline') baselineRps = await baseline(`${id}-r${r}-base`, b.json, n);
      else ({ seconds: engineSeconds, t0: engineT0 } = await engineDrain(b.store, `${id}-r${r}-engine`, n, true, timing, storeTiming));
    }
    await b.dispose();
    const engineRps = n / engineSeconds;
    const round: ThroughputRound = {
      round: r,
      first,
      baselineRps,
      engineRps,
      engineSeconds,
      sendSeconds: timing.ms / 1000,
      sendCalls: timing.calls,
      startupSeconds: ((timing.firstAt ?? NaN) - engineT0) / 1000,
      storeReadSeconds: storeTiming.readMs / 1000,
      storeTxSeconds: storeTiming.txMs / 1000,
      storeSqlSeconds: storeTiming.sqlMs / 1000,
      ratio: engineRps / baselineRps,
      outsideSendPct: (100 * (engineSeconds - timing.ms / 1000)) / engineSeconds,
    };
    out.push(round);
    progress(
      `throughput ${kind} round ${r}/${rounds} (${first} first): baseline ${baselineRps.toFixed(0)} rec/s, engine (cap lifted) ${engineRps.toFixed(0)} rec/s (${engineSeconds.toFixed(2)} s, ${round.sendSeconds.toFixed(2)} s in ${round.sendCalls} sends, ${round.outsideSendPct.toFixed(1)}% outside send, first send after ${(round.startupSeconds * 1000).toFixed(0)} ms; store: read ${round.storeReadSeconds.toFixed(2)} s, commit ${round.storeTxSeconds.toFixed(2)} s, other SQL ${round.storeSqlSeconds.toFixed(2)} s), ratio ${round.ratio.toFixed(2)}`,
    );
  }

  // The engine as shipped (the adapter's per-sink rate limits), once.
  progress(`throughput ${kind}: engine as shipped (capped), loading ${cappedN} records`);
  const c = await backlogStore(dir, kind, `${id}-capped-engine`, cappedN, mk);
  const { seconds: cappedSeconds } = await engineDrain(c.store, `${id}-capped-engine`, cappedN);
  await c.dispose();
  const cappedRps = cappedN / cappedSeconds;
  progress(`throughput ${kind}: engine as shipped ${cappedRps.toFixed(0)} rec/s (${cappedSeconds.toFixed(1)} s)`);

  kclient?.destroy();
  await admin?.close();
  const ratios = out.map((x) => x.ratio);
  const baselineMedianRps = median(out.map((x) => x.baselineRps));
  const engineMedianRps = median(out.map((x) => x.engineRps));
  return {
    sink: kind,
    recordsPerRound: n,
    recordBytes: Math.round(recordBytes),
    rounds: out,
    baselineMedianRps,
    engineMedianRps,
    ratioOfMedians: engineMedianRps / baselineMedianRps,
    ratioMin: Math.min(...ratios),
    ratioMax: Math.max(...ratios),
    outsideSendMedianPct: median(out.map((x) => x.outsideSendPct)),
    cappedLimits: describeRateLimits(kind === 'kinesis' ? kinesisSpec(`${id}-capped-engine`) : pubsubSpec(`${id}-capped-engine`)),
    cappedRecords: cappedN,
    cappedSeconds,
    cappedRps,
    cappedRatio: cappedRps / baselineMedianRps,
    baselineDesc:
      kind === 'kinesis'
        ? 'PutRecords, 500 per call, sequential, same SDK client settings (HTTP/1.1 NodeHttpHandler, maxAttempts 1)'
        : 'v1.PublisherClient Publish, 1,000 per request, sequential, isBundling false, retry null',
  };
}
