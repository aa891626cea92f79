/**
 * The Pub/Sub adapter against the real Pub/Sub emulator (gcloud beta emulators pubsub), started
 * here and stopped with its Java child at the end. PUBSUB_EMULATOR_HOST is handed to the adapter
 * through its `env`, the same variable production reads.
 *
 * What the emulator cannot prove (docs/decisions/0020): it ignores credentials (impersonation is in
 * pubsub-impersonation.test.ts against stand-ins), never throttles (RESOURCE_EXHAUSTED comes from
 * a gRPC proxy here, so only our handling of that status is proven, not the service's wording),
 * and does not check the 10 MB request limit or one ordering key per request (see
 * pubsub-classify.test.ts for the service's recorded answers).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import type { PubSub, Subscription } from '@google-cloud/pubsub';
import type { EncodedEntry } from '../src/delivery/adapter.js';
import { createPubSubAdapter, verifyPubSub, type PubSubAdapter } from '../src/sinks/pubsub/index.js';
import { makeRecord } from './helpers/records.js';
import {
  createOrderedTopic,
  emulatorClient,
  receive,
  startPubSubEmulator,
  startPublishFaultProxy,
  startTcpProxy,
  type PubSubEmulator,
} from './helpers/pubsub-emulator.js';

const PROJECT = 'auditstream-test';
const SA = 'audit-publisher@customer-proj.iam.gserviceaccount.com';

let emulator: PubSubEmulator;
let admin: PubSub;
let topicSeq = 0;

before(async () => {
  emulator = await startPubSubEmulator();
  admin = emulatorClient(emulator, PROJECT);
});

after(async () => {
  await admin?.close();
  await emulator?.stop();
});

/** A fresh topic + ordered subscription, and an adapter pointed at `host` (default: the emulator). */
async function fixture(host?: string, timeoutMs?: number): Promise<{ adapter: PubSubAdapter; sub: Subscription; topicName: string }> {
  const topicName = `audit-logs-${++topicSeq}`;
  const sub = await createOrderedTopic(admin, topicName, `${topicName}-sub`);
  const adapter = createPubSubAdapter(
    { serviceAccountId: SA, topicName, gcpProjectId: PROJECT },
    { accountId: 'acct-a' },
    { env: { PUBSUB_EMULATOR_HOST: host ?? emulator.host }, ...(timeoutMs ? { timeoutMs } : {}) },
  );
  return { adapter, sub, topicName };
}

/** Stored-record JSON texts, one with non-ASCII text so byte equality means something. */
function recordJsons(n: number): { logId: string; json: string }[] {
  return Array.from({ length: n }, (_, i) => {
    const r = makeRecord(i === 0 ? { user_email: 'zoë@example.com' } : {});
    return { logId: r.log_id, json: JSON.stringify(r) };
  });
}

function encodeAll(adapter: PubSubAdapter, accountId: string, firstSeq: number, recs: { logId: string; json: string }[]): EncodedEntry[] {
  return recs.map((r, i) => adapter.encode(accountId, firstSeq + i, r.logId, r.json));
}

async function sendAndClassify(adapter: PubSubAdapter, entries: EncodedEntry[]) {
  try {
    const value = await adapter.send(entries);
    return { outcome: { value }, verdict: adapter.classify({ value }, entries) };
  } catch (error) {
    return { outcome: { error }, verdict: adapter.classify({ error }, entries) };
  }
}

describe('Pub/Sub adapter against the emulator', () => {
  test('one batch is one Publish: data byte-equal to the stored JSON, attributes, ordering key', async () => {
    const { adapter, sub } = await fixture();
    const recs = recordJsons(5);
    const entries = encodeAll(adapter, 'acct-a', 41, recs);
    const { verdict, outcome } = await sendAndClassify(adapter, entries);
    assert.deepEqual(verdict, { kind: 'ok' });
    assert.equal((outcome as { value: { messageIds: string[] } }).value.messageIds.length, 5);
    const got = await receive(sub, 5);
    assert.equal(got.length, 5);
    got.forEach((m, i) => {
      assert.ok(m.data.equals(Buffer.from(recs[i]!.json, 'utf8')), `message ${i} data is the stored JSON, byte for byte`);
      assert.deepEqual({ ...m.attributes }, { log_id: recs[i]!.logId, account_id: 'acct-a', sequence: String(41 + i) });
      assert.equal(m.orderingKey, 'acct-a');
    });
    await adapter.close();
  });

  test('order per ordering key holds across batches and interleaved accounts', async () => {
    const { adapter, sub } = await fixture();
    // Two accounts share the topic; each account's batches are sent in chain order.
    const a = recordJsons(60);
    const b = recordJsons(60);
    for (let i = 0; i < 60; i += 20) {
      for (const [acct, recs] of [
        ['acct-a', a],
        ['acct-b', b],
      ] as const) {
        const { verdict } = await sendAndClassify(adapter, encodeAll(adapter, acct, i + 1, recs.slice(i, i + 20)));
        assert.deepEqual(verdict, { kind: 'ok' });
      }
    }
    const got = await receive(sub, 120);
    for (const acct of ['acct-a', 'acct-b']) {
      const seqs = got.filter((m) => m.orderingKey === acct).map((m) => Number(m.attributes.sequence));
      assert.deepEqual(
        seqs,
        Array.from({ length: 60 }, (_, i) => i + 1),
        `${acct} arrives in chain order`,
      );
    }
    await adapter.close();
  });

  test('a full batch (the count limit the engine batches by) goes in one request; one more is refused', async () => {
    const { adapter, sub } = await fixture();
    const full = adapter.limits.maxBatchRecords;
    const recs = recordJsons(full + 1);
    const ok = await sendAndClassify(adapter, encodeAll(adapter, 'acct-a', 1, recs.slice(0, full)));
    assert.deepEqual(ok.verdict, { kind: 'ok' });
    const got = await receive(sub, full, 30_000);
    assert.deepEqual(
      got.map((m) => Number(m.attributes.sequence)),
      Array.from({ length: full }, (_, i) => i + 1),
    );
    // One over the limit: the emulator enforces the count (INVALID_ARGUMENT), and the verdict is
    // fatal — the records are fine, the batching is wrong — never a silent retry loop.
    const over = await sendAndClassify(adapter, encodeAll(adapter, 'acct-a', 1, recs));
    assert.equal(over.verdict.kind, 'fatal');
    assert.match((over.verdict as { reason: string }).reason, /INVALID_ARGUMENT: Too many messages to publish/);
    await adapter.close();
  });

  test('topic not found is fatal, and verify names the cause', async () => {
    const adapter = createPubSubAdapter(
      { serviceAccountId: SA, topicName: 'no-such-topic', gcpProjectId: PROJECT },
      { accountId: 'acct-a' },
      { env: { PUBSUB_EMULATOR_HOST: emulator.host } },
    );
    const [rec] = recordJsons(1);
    const { verdict } = await sendAndClassify(adapter, encodeAll(adapter, 'acct-a', 1, [rec!]));
    assert.equal(verdict.kind, 'fatal');
    assert.match((verdict as { reason: string }).reason, /topic projects\/auditstream-test\/topics\/no-such-topic not found \(NOT_FOUND: Topic not found\)/);
    await adapter.close();

    const v = await verifyPubSub(
      { serviceAccountId: SA, topicName: 'no-such-topic', gcpProjectId: PROJECT },
      { accountId: 'acct-a' },
      { logId: rec!.logId, recordJson: rec!.json },
      { env: { PUBSUB_EMULATOR_HOST: emulator.host } },
    );
    assert.equal(v.ok, false);
    assert.equal(!v.ok && v.cause, 'destination_not_found');
  });

  test('verify writes exactly one test record to the topic', async () => {
    const { sub, topicName, adapter } = await fixture();
    await adapter.close();
    const test = { logId: 'verify0000000000000000000000000a', recordJson: '{"operation":"VerifyAuditLogSink","category":"LOG_CATEGORY_SYSTEM"}' };
    const v = await verifyPubSub({ serviceAccountId: SA, topicName, gcpProjectId: PROJECT }, { accountId: 'acct-a' }, test, {
      env: { PUBSUB_EMULATOR_HOST: emulator.host },
    });
    assert.deepEqual(v, { ok: true });
    const [m] = await receive(sub, 1);
    assert.equal(m!.data.toString('utf8'), test.recordJson);
    assert.equal(m!.attributes.log_id, test.logId);
  });

  test('an invalid spec is refused by verify before anything is sent', async () => {
    const v = await verifyPubSub(
      { serviceAccountId: 'nobody', topicName: 'ab', gcpProjectId: 'X' },
      { accountId: 'acct-a' },
      {
        logId: 'x',
        recordJson: '{}',
      },
      { env: { PUBSUB_EMULATOR_HOST: emulator.host } },
    );
    assert.equal(v.ok, false);
    assert.equal(!v.ok && v.cause, 'invalid_spec');
  });

  test('a batch mixing ordering keys is refused before it is sent (the emulator would accept it)', async () => {
    const { adapter } = await fixture();
    const recs = recordJsons(2);
    const entries = [adapter.encode('acct-a', 1, recs[0]!.logId, recs[0]!.json), adapter.encode('acct-b', 1, recs[1]!.logId, recs[1]!.json)];
    const { verdict } = await sendAndClassify(adapter, entries);
    assert.equal(verdict.kind, 'fatal');
    await adapter.close();
  });

  test('outage through a TCP proxy: refused → retry, blackholed → retry at the deadline, then delivered in order', async () => {
    const proxy = await startTcpProxy(emulator.host);
    const { adapter, sub } = await fixture(proxy.host, 1_500);
    const recs = recordJsons(3);
    const batch = (i: number) => encodeAll(adapter, 'acct-a', i + 1, [recs[i]!]);
    try {
      assert.deepEqual((await sendAndClassify(adapter, batch(0))).verdict, { kind: 'ok' });

      await proxy.setMode('refuse');
      const refused = await sendAndClassify(adapter, batch(1));
      assert.equal(refused.verdict.kind, 'retry', JSON.stringify(refused.verdict));
      assert.match((refused.verdict as { reason: string }).reason, /UNAVAILABLE/);

      await proxy.setMode('blackhole');
      const started = Date.now();
      const hung = await sendAndClassify(adapter, batch(1));
      assert.equal(hung.verdict.kind, 'retry', JSON.stringify(hung.verdict));
      assert.match((hung.verdict as { reason: string }).reason, /DEADLINE_EXCEEDED|UNAVAILABLE/);
      assert.ok(Date.now() - started < 10_000, 'a blackholed call ends at its deadline');

      await proxy.setMode('pass');
      // The engine resends the same batch; the channel reconnects within its capped backoff.
      let verdict = (await sendAndClassify(adapter, batch(1))).verdict;
      for (let i = 0; verdict.kind !== 'ok' && i < 20; i++) {
        await new Promise((r) => setTimeout(r, 500));
        verdict = (await sendAndClassify(adapter, batch(1))).verdict;
      }
      assert.deepEqual(verdict, { kind: 'ok' });
      assert.deepEqual((await sendAndClassify(adapter, batch(2))).verdict, { kind: 'ok' });

      const got = await receive(sub, 3);
      assert.deepEqual(
        got.map((m) => m.attributes.sequence),
        ['1', '2', '3'],
      );
    } finally {
      await adapter.close();
      await proxy.close();
    }
  });

  test('the engine aborting a hung send (its deadline or lease) cancels the call: retry, quickly', async () => {
    const proxy = await startTcpProxy(emulator.host);
    const { adapter } = await fixture(proxy.host, 60_000);
    try {
      const [rec] = recordJsons(1);
      await proxy.setMode('blackhole');
      const entries = encodeAll(adapter, 'acct-a', 1, [rec!]);
      const started = Date.now();
      let outcome: { value?: unknown; error?: unknown };
      try {
        outcome = { value: await adapter.send(entries, AbortSignal.timeout(300)) };
      } catch (error) {
        outcome = { error };
      }
      assert.equal(adapter.classify(outcome, entries).kind, 'retry');
      assert.ok(Date.now() - started < 5_000, 'the abort ends the call, not the 60 s deadline');
    } finally {
      await adapter.close();
      await proxy.close();
    }
  });

  test('verify through a refusing endpoint says endpoint_unreachable', async () => {
    const proxy = await startTcpProxy(emulator.host);
    await proxy.setMode('refuse');
    try {
      const v = await verifyPubSub(
        { serviceAccountId: SA, topicName: 'whatever-topic', gcpProjectId: PROJECT },
        { accountId: 'a' },
        {
          logId: 'x',
          recordJson: '{}',
        },
        { env: { PUBSUB_EMULATOR_HOST: proxy.host }, timeoutMs: 2_000 },
      );
      assert.equal(v.ok, false);
      assert.equal(!v.ok && v.cause, 'endpoint_unreachable');
    } finally {
      await proxy.close();
    }
  });

  test('RESOURCE_EXHAUSTED from a gRPC proxy (the emulator never throttles) → throttle; the resend lands once', async () => {
    const proxy = await startPublishFaultProxy(emulator.host);
    const { adapter, sub } = await fixture(proxy.host);
    try {
      const recs = recordJsons(2);
      proxy.failNext(1, grpc.status.RESOURCE_EXHAUSTED, 'Request throttled due to user QPS limit reached.');
      const entries = encodeAll(adapter, 'acct-a', 1, recs);
      const first = await sendAndClassify(adapter, entries);
      assert.equal(first.verdict.kind, 'throttle');
      assert.equal(proxy.publishCalls, 1, 'no hidden client-side retry: the engine decides');
      assert.deepEqual((await sendAndClassify(adapter, entries)).verdict, { kind: 'ok' });
      const got = await receive(sub, 2);
      assert.deepEqual(
        got.map((m) => m.attributes.log_id),
        recs.map((r) => r.logId),
      );
    } finally {
      await adapter.close();
      await proxy.close();
    }
  });
});
