/**
 * End to end through the real pieces: records appended to the store (SQLite) flow through the
 * delivery engine and the registered Pub/Sub driver (src/sinks/index.ts) to the real Pub/Sub
 * emulator, in chain order, byte for byte, including across an outage made by a TCP proxy in
 * front of the emulator (refused, then blackholed), never by restarting it. The process's
 * PUBSUB_EMULATOR_HOST points at the proxy: the same switch a deployment uses.
 *
 * Delivery is at least once: a batch whose answer was lost is published again, so the test
 * dedupes by `log_id` (as consumers are told to) and checks the order of first arrivals.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Message, PubSub, Subscription } from '@google-cloud/pubsub';
import { createFixture, type StoreFixture } from './helpers/stores.js';
import { makeRecord } from './helpers/records.js';
import { until } from './helpers/fake-sink.js';
import { createOrderedTopic, emulatorClient, startPubSubEmulator, startTcpProxy, type PubSubEmulator, type TcpProxy } from './helpers/pubsub-emulator.js';
import type { AuditStore } from '../src/store/store.js';
import { DeliveryEngine } from '../src/delivery/engine.js';
import { sinkRegistry } from '../src/sinks/index.js';
import { createSink, sinkStatus, verifySink } from '../src/control/sinks-service.js';
import type { AuditLogSinkSpec } from '../src/sinks/spec.js';

const PROJECT = 'auditstream-e2e';
const ACCOUNT = 'acct-e2e';
const pubSubSpec = (topicName: string, name = 'main'): AuditLogSinkSpec => ({
  name,
  enabled: true,
  pubSubSink: { serviceAccountId: 'audit-publisher@customer-proj.iam.gserviceaccount.com', topicName, gcpProjectId: PROJECT },
});

let emulator: PubSubEmulator;
let proxy: TcpProxy;
let admin: PubSub;
let fx: StoreFixture;
let store: AuditStore;

before(async () => {
  emulator = await startPubSubEmulator();
  proxy = await startTcpProxy(emulator.host);
  process.env.PUBSUB_EMULATOR_HOST = proxy.host;
  admin = emulatorClient(emulator, PROJECT);
  fx = await createFixture('sqlite');
  store = await fx.open();
});

after(async () => {
  await store?.close();
  await fx?.destroy();
  await admin?.close();
  await proxy?.close();
  await emulator?.stop();
});

/** Collects every delivered message (acked) until stopped. */
function collect(sub: Subscription): { messages: Message[]; stop(): Promise<void> } {
  const messages: Message[] = [];
  sub.on('message', (m: Message) => {
    messages.push(m);
    m.ack();
  });
  sub.on('error', () => {});
  return { messages, stop: () => sub.close() };
}

const firstArrivals = (ms: Message[]): Message[] => {
  const seen = new Set<string>();
  return ms.filter((m) => !seen.has(m.attributes.log_id!) && !!seen.add(m.attributes.log_id!));
};

describe('records → engine → Pub/Sub emulator', () => {
  test('in chain order, byte for byte, through a refused and a blackholed outage', async () => {
    const sub = await createOrderedTopic(admin, 'audit-e2e', 'audit-e2e-sub');
    await store.append({ accountId: ACCOUNT, records: [makeRecord()], ingestedBy: null }); // history: not delivered
    await store.transaction((tx) => createSink(tx, ACCOUNT, pubSubSpec('audit-e2e')));
    const engine = new DeliveryEngine({
      sinks: sinkRegistry,
      store,
      flushIntervalMs: 50,
      idlePollMs: 100,
      scanIntervalMs: 100,
      leaseTtlMs: 3_000,
      backoff: { baseMs: 50, maxMs: 400 },
      fatalBackoff: { baseMs: 50, maxMs: 400 },
      pageSize: 1_000,
      onSent: (_sink, _verdict, entries) => {
        largestBatch = Math.max(largestBatch, entries);
      },
    });
    let largestBatch = 0;
    const got = collect(sub);
    engine.start();
    const appendMany = async (batches: number, size: number) => {
      for (let i = 0; i < batches; i++) {
        await store.append({ accountId: ACCOUNT, records: Array.from({ length: size }, () => makeRecord()), ingestedBy: null });
        engine.notify(ACCOUNT);
      }
    };
    try {
      await appendMany(5, 300); // 1,500 records: more than one full Publish of 1,000
      await until(() => firstArrivals(got.messages).length >= 1_500, 'first 1,500', 30_000);

      await proxy.setMode('refuse');
      await appendMany(2, 100);
      await until(async () => (await sinkStatus(store.sql, ACCOUNT, 'main')).health === 'error', 'error health while refused', 15_000);
      const during = await sinkStatus(store.sql, ACCOUNT, 'main');
      assert.match(during.errorMessage ?? '', /UNAVAILABLE/);

      await proxy.setMode('blackhole');
      await appendMany(1, 100);
      await new Promise((r) => setTimeout(r, 1_500));
      await proxy.setMode('pass');
      await until(() => firstArrivals(got.messages).length >= 1_800, 'all 1,800 after the outage', 45_000);
      await until(async () => (await sinkStatus(store.sql, ACCOUNT, 'main')).health === 'ok', 'ok health again', 15_000);
    } finally {
      await engine.stop(2_000);
      await got.stop();
    }

    const delivered = firstArrivals(got.messages);
    const stored = await store.readChain(ACCOUNT, 2, 2_000);
    assert.equal(stored.length, 1_800);
    assert.deepEqual(
      delivered.map((m) => Number(m.attributes.sequence)),
      stored.map((r) => r.seq),
      'chain order, nothing missing, history skipped',
    );
    delivered.forEach((m, i) => {
      const r = stored[i]!;
      assert.ok(m.data.equals(Buffer.from(r.recordJson, 'utf8')), `seq ${r.seq}: data is the stored JSON`);
      assert.equal(m.attributes.log_id, r.columns.logId);
      assert.equal(m.attributes.account_id, ACCOUNT);
      assert.equal(m.orderingKey, ACCOUNT);
    });
    assert.ok(largestBatch > 0 && largestBatch <= 1_000, `largest Publish had ${largestBatch} messages`);
  });

  test('verifySink through the registered driver: one test record on success; topic not found named', async () => {
    const sub = await createOrderedTopic(admin, 'audit-verify', 'audit-verify-sub');
    const ok = await verifySink(store, ACCOUNT, pubSubSpec('audit-verify', 'v'));
    assert.equal(ok.ok, true, JSON.stringify(ok));
    const got = collect(sub);
    await until(() => got.messages.length >= 1, 'the verify record');
    await got.stop();
    const record = JSON.parse(got.messages[0]!.data.toString('utf8')) as { operation: string; category: string; log_id: string };
    assert.equal(record.operation, 'VerifyAuditLogSink');
    assert.equal(record.category, 'LOG_CATEGORY_SYSTEM');
    assert.equal(record.log_id, ok.logId);

    const missing = await verifySink(store, ACCOUNT, pubSubSpec('audit-missing', 'v2'));
    assert.equal(missing.ok, false);
    assert.equal(!missing.ok && missing.cause, 'destination_not_found');
  });
});
