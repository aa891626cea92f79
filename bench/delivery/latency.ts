/** End-to-end latency: append acknowledged → readable in the stream, at a steady append rate. */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { AuditStore } from '../../src/store/store.js';
import { DeliveryEngine } from '../../src/delivery/engine.js';
import { sinkRegistry } from '../../src/sinks/index.js';
import { createSink } from '../../src/control/sinks-service.js';
import { makeRecord } from '../../test/helpers/records.js';
import { createStream, kinesisClient, type Moto } from '../../test/helpers/moto.js';
import type { PubSubEmulator } from '../../test/helpers/pubsub-emulator.js';
import type { LatencyRow, SinkKind } from './results.js';
import { kinesisSpec, pct, progress, pubsubSpec, sleep } from './util.js';
import { waitHeld } from './instrument.js';
import { kinesisConsumer, pubsubConsumer, type Consumer } from './consumers.js';

export async function latencyRun(store: AuditStore, kind: SinkKind, rate: number, accounts: number, flushMs: number, seconds: number, moto: Moto | undefined, emulator: PubSubEmulator | undefined, runId: number): Promise<LatencyRow> {
  const accountIds = Array.from({ length: accounts }, (_, i) => `lat-${runId}-${kind}-${rate}-${flushMs}-a${i}`);
  const name = `lat-${runId}-${kind}-${rate}-${flushMs}`;
  const acked = new Map<string, number>();
  const arrived = new Map<string, number>();
  const onArrive = (id: string, at: number) => {
    if (!arrived.has(id)) arrived.set(id, at);
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
    for (const [i, a] of accountIds.entries()) await store.transaction((tx) => createSink(tx, a, kinesisSpec(streams[i]!)));
    const each = streams.map((s) => kinesisConsumer(k, s, onArrive));
    consumer = { stop: async () => void (await Promise.all(each.map((c) => c.stop()))) };
  } else {
    consumer = await pubsubConsumer(emulator!, name, onArrive);
    for (const a of accountIds) await store.transaction((tx) => createSink(tx, a, pubsubSpec(name)));
  }
  const engine = new DeliveryEngine({ sinks: sinkRegistry, store, flushIntervalMs: flushMs });
  engine.start();
  await waitHeld(engine, accounts);
  // Warm-up: one record per account through (credentials, connections), not counted.
  const warm = accountIds.map(() => makeRecord());
  for (let i = 0; i < accounts; i++) {
    await store.append({ accountId: accountIds[i]!, records: [warm[i]!], ingestedBy: null });
    engine.notify(accountIds[i]!);
  }
  for (const end = Date.now() + 15_000; !warm.every((w) => arrived.has(w.log_id)) && Date.now() < end; ) await sleep(10);
  arrived.clear();

  // Steady appends: every 10 ms, append what is due so far (rate × elapsed).
  const t0 = Date.now();
  let sent = 0;
  const total = Math.round(rate * seconds);
  const inflight = new Set<Promise<void>>();
  while (sent < total) {
    const due = Math.min(total, Math.floor(((Date.now() - t0) / 1000) * rate));
    if (due > sent) {
      const per: ReturnType<typeof makeRecord>[][] = accountIds.map(() => []);
      for (let i = sent; i < due; i++) per[i % accounts]!.push(makeRecord());
      sent = due;
      per.forEach((records, i) => {
        if (!records.length) return;
        const accountId = accountIds[i]!;
        const p = store.append({ accountId, records, ingestedBy: null }).then(() => {
          const at = Date.now();
          for (const r of records) acked.set(r.log_id, at);
          engine.notify(accountId);
        });
        inflight.add(p);
        void p.finally(() => inflight.delete(p));
      });
    }
    await sleep(10);
  }
  await Promise.all(inflight);
  for (const end = Date.now() + 20_000; arrived.size < acked.size && Date.now() < end; ) await sleep(50);
  await engine.stop(5000);
  await consumer.stop();
  kclient?.destroy();
  const lat: number[] = [];
  for (const [id, at] of acked) {
    const a = arrived.get(id);
    if (a !== undefined) lat.push(Math.max(0, a - at));
  }
  lat.sort((a, b) => a - b);
  const row: LatencyRow = { sink: kind, rate, accounts, flushMs, seconds, appended: acked.size, received: lat.length, p50Ms: pct(lat, 50), p99Ms: pct(lat, 99), maxMs: lat.at(-1) ?? NaN };
  progress(`latency ${kind} ${rate}/s over ${accounts} account(s) flush ${flushMs} ms: p50 ${row.p50Ms} p99 ${row.p99Ms} max ${row.maxMs} (${row.received}/${row.appended})`);
  return row;
}
