/**
 * End-to-end latency: append acknowledged → readable in the stream, at a steady append rate; for
 * the engine, and for the floor of that path in the same run, read back by the same consumer. The
 * floor is an ordered sender that does nothing else: per account one PutRecords / Publish call in
 * flight (two in flight could land out of order), each sent the moment the previous one is answered
 * and carrying every record acknowledged since (up to 500 / 1,000 a call). (A call per append
 * with no bound on calls in flight, as an earlier floor did, overloads moto: hundreds of calls a
 * second queued for seconds, which made the floor slower than the engine it is meant to bound.)
 */
import { PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { v1 } from '@google-cloud/pubsub';
import * as grpc from '@grpc/grpc-js';
import type { AuditStore } from '../../src/store/store.js';
import { DeliveryEngine } from '../../src/delivery/engine.js';
import { sinkRegistry } from '../../src/sinks/index.js';
import { KINESIS_LIMITS } from '../../src/sinks/kinesis/limits.js';
import { PUBSUB_LIMITS } from '../../src/sinks/pubsub/limits.js';
import { createSink } from '../../src/control/sinks-service.js';
import { makeRecord } from '../../test/helpers/records.js';
import { createStream, kinesisClient, type Moto } from '../../test/helpers/moto.js';
import type { PubSubEmulator } from '../../test/helpers/pubsub-emulator.js';
import type { LatencyRow, SinkKind } from './results.js';
import { kinesisSpec, pct, progress, pubsubSpec, PROJECT, sleep } from './util.js';
import { MOTO_ACCOUNT, TEST_REGION } from '../../test/helpers/moto.js';
import { waitHeld } from './instrument.js';
import { kinesisConsumer, pubsubConsumer, type Consumer } from './consumers.js';

/** `engine`: the delivery engine (optionally with KPL aggregation); `floor`: direct calls, one in flight per account. */
export type LatencyMode = 'engine' | 'floor' | 'aggregate';

/** flushMs undefined: the engine's default. */
export async function latencyRun(
  store: AuditStore,
  kind: SinkKind,
  rate: number,
  accounts: number,
  flushMs: number | undefined,
  seconds: number,
  moto: Moto | undefined,
  emulator: PubSubEmulator | undefined,
  runId: number,
  mode: LatencyMode = 'engine',
): Promise<LatencyRow> {
  const accountIds = Array.from({ length: accounts }, (_, i) => `lat-${runId}-${kind}-${rate}-${mode}-a${i}`);
  const name = `lat-${runId}-${kind}-${rate}-${mode}`;
  const acked = new Map<string, number>();
  const arrived = new Map<string, number>();
  /** First arrival order of each account's records, to check chain order. */
  const order: string[] = [];
  const onArrive = (id: string, at: number) => {
    if (!arrived.has(id)) {
      arrived.set(id, at);
      order.push(id);
    }
  };
  let consumer: Consumer;
  let kclient: KinesisClient | undefined;
  if (kind === 'kinesis') {
    // One stream per account, as each customer has its own: one account per shard, and moto's
    // shards slow down as they fill (O(n) per put), so several accounts in one shard would
    // measure moto rather than the engine.
    const k = (kclient = kinesisClient(moto!.url));
    const streams = accountIds.map((_, i) => `${name}-s${i}`);
    for (const s of streams) await createStream(k, s);
    if (mode !== 'floor')
      for (const [i, a] of accountIds.entries()) {
        const spec = kinesisSpec(streams[i]!);
        if (mode === 'aggregate') spec.kinesisSink!.aggregate = true;
        await store.transaction((tx) => createSink(tx, a, spec));
      }
    const each = streams.map((s) => kinesisConsumer(k, s, onArrive));
    consumer = { stop: async () => void (await Promise.all(each.map((c) => c.stop()))) };
  } else {
    consumer = await pubsubConsumer(emulator!, name, onArrive);
    if (mode !== 'floor') for (const a of accountIds) await store.transaction((tx) => createSink(tx, a, pubsubSpec(name)));
  }
  const engine =
    mode === 'floor' ? undefined : new DeliveryEngine({ sinks: sinkRegistry, store, ...(flushMs !== undefined ? { flushIntervalMs: flushMs } : {}) });
  engine?.start();
  if (engine) await waitHeld(engine, accounts);
  // The floor's Pub/Sub client (Kinesis uses kclient): direct calls, one in flight per account (drain below).
  const publisher =
    mode === 'floor' && kind === 'pubsub'
      ? new v1.PublisherClient({
          servicePath: '127.0.0.1',
          port: emulator!.port,
          sslCreds: grpc.credentials.createInsecure(),
          universeDomain: 'googleapis.com',
        })
      : undefined;
  await publisher?.initialize();
  const direct = async (accountId: string, i: number, records: ReturnType<typeof makeRecord>[]): Promise<void> => {
    if (kind === 'kinesis') {
      const out = await kclient!.send(
        new PutRecordsCommand({
          StreamARN: `arn:aws:kinesis:${TEST_REGION}:${MOTO_ACCOUNT}:stream/${name}-s${i}`,
          Records: records.map((r) => ({ Data: Buffer.from(JSON.stringify(r)), PartitionKey: accountId })),
        }),
      );
      if (out.FailedRecordCount) throw new Error(`floor PutRecords failed ${out.FailedRecordCount}`);
    } else {
      const messages = records.map((r) => ({
        data: Buffer.from(JSON.stringify(r)),
        attributes: { log_id: r.log_id, account_id: accountId },
        orderingKey: accountId,
      }));
      await publisher!.publish({ topic: `projects/${PROJECT}/topics/${name}`, messages }, { isBundling: false, retry: null } as never);
    }
  };
  // Per account: records acknowledged and not yet sent, and the call in flight (at most one).
  const queued = accountIds.map(() => [] as ReturnType<typeof makeRecord>[]);
  const sending: (Promise<void> | undefined)[] = accountIds.map(() => undefined);
  const maxPerCall = (kind === 'kinesis' ? KINESIS_LIMITS : PUBSUB_LIMITS).maxBatchRecords;
  const drain = (accountId: string, i: number): Promise<void> => {
    if (sending[i]) return sending[i]!;
    // Never a run over an empty queue: it would end before `sending[i]` is set, and stay there.
    if (queued[i]!.length === 0) return Promise.resolve();
    const run = (async () => {
      try {
        while (queued[i]!.length > 0) await direct(accountId, i, queued[i]!.splice(0, maxPerCall));
      } finally {
        sending[i] = undefined;
      }
    })();
    return (sending[i] = run);
  };
  const afterAppend = async (accountId: string, i: number, records: ReturnType<typeof makeRecord>[]): Promise<void> => {
    if (engine) {
      engine.notify(accountId);
      return;
    }
    queued[i]!.push(...records);
    await drain(accountId, i);
  };
  // Warm-up: one record per account through (credentials, connections), not counted.
  const warm = accountIds.map(() => makeRecord());
  for (let i = 0; i < accounts; i++) {
    await store.append({ accountId: accountIds[i]!, records: [warm[i]!], ingestedBy: null });
    await afterAppend(accountIds[i]!, i, [warm[i]!]);
  }
  for (const end = Date.now() + 15_000; !warm.every((w) => arrived.has(w.log_id)) && Date.now() < end;) await sleep(10);
  arrived.clear();
  order.length = 0;

  // Steady appends: every 10 ms, append what is due so far (rate × elapsed).
  const t0 = Date.now();
  let sent = 0;
  const total = Math.round(rate * seconds);
  const inflight = new Set<Promise<void>>();
  /** The first failed append or floor call: the run fails with it once everything in flight ended. */
  let failure: unknown;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((Date.now() - t0) / 1000) * rate));
    if (due > sent) {
      const per: ReturnType<typeof makeRecord>[][] = accountIds.map(() => []);
      for (let i = sent; i < due; i++) per[i % accounts]!.push(makeRecord());
      sent = due;
      per.forEach((records, i) => {
        if (!records.length) return;
        const accountId = accountIds[i]!;
        const p = store.append({ accountId, records, ingestedBy: null }).then(async () => {
          const at = Date.now();
          for (const r of records) acked.set(r.log_id, at);
          await afterAppend(accountId, i, records);
        });
        inflight.add(p);
        void p.catch((err: unknown) => (failure ??= err)).finally(() => inflight.delete(p));
      });
    }
    await sleep(10);
  }
  await Promise.allSettled(inflight);
  if (failure === undefined) for (const end = Date.now() + 20_000; arrived.size < acked.size && Date.now() < end;) await sleep(50);
  await engine?.stop(5000);
  await consumer.stop();
  kclient?.destroy();
  await publisher?.close();
  if (failure !== undefined) throw failure instanceof Error ? failure : new Error(String(failure));
  // Chain order per account, against the order the consumer first saw each record.
  const chainIndex = new Map<string, { account: string; seq: number }>();
  for (const a of accountIds) {
    for (let from = 1; ;) {
      const page = await store.readChainBodies(a, from, 5000);
      for (const b of page) chainIndex.set(b.logId, { account: a, seq: b.seq });
      if (page.length < 5000) break;
      from = page.at(-1)!.seq + 1;
    }
  }
  const lastSeen = new Map<string, number>();
  let inOrder = true;
  for (const id of order) {
    const at = chainIndex.get(id);
    if (!at) continue;
    if (at.seq < (lastSeen.get(at.account) ?? 0)) inOrder = false;
    lastSeen.set(at.account, at.seq);
  }
  const lat: number[] = [];
  for (const [id, at] of acked) {
    const a = arrived.get(id);
    if (a !== undefined) lat.push(Math.max(0, a - at));
  }
  lat.sort((a, b) => a - b);
  const row: LatencyRow = {
    sink: kind,
    mode,
    inOrder,
    rate,
    accounts,
    flushMs: flushMs ?? NaN,
    seconds,
    appended: acked.size,
    received: lat.length,
    p50Ms: pct(lat, 50),
    p99Ms: pct(lat, 99),
    maxMs: lat.at(-1) ?? NaN,
  };
  progress(
    `latency ${mode} ${kind} ${rate}/s over ${accounts} account(s) flush ${flushMs ?? 'default'} ms${inOrder ? ', in order' : ', OUT OF ORDER'}: p50 ${row.p50Ms} p99 ${row.p99Ms} max ${row.maxMs} (${row.received}/${row.appended})`,
  );
  return row;
}
