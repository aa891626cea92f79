/**
 * Kinesis delivery end to end against moto_server, through a fault proxy: the real adapter (STS
 * AssumeRole with the account's ExternalId, PutRecords over HTTP/1.1), the engine, the store.
 * Every fault test asserts that every record arrived, by log_id, in order per account.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CreateAccessKeyCommand, CreateRoleCommand, CreateUserCommand, IAMClient, PutRolePolicyCommand, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { makeRecord } from './helpers/records.js';
import { until } from './helpers/fake-sink.js';
import { createStream, isSubsequence, MOTO_ACCOUNT, readStream, startKinesisRig, type KinesisRig, type Moto } from './helpers/moto.js';
import type { FaultProxy } from './helpers/fault-proxy.js';
import type { AuditStore } from '../src/store/store.js';
import { DeliveryEngine, type EngineOptions } from '../src/delivery/engine.js';
import { awaitSinkDeleted, createSink, deleteSink, ensureExternalId, sinkStatus, verifySink } from '../src/control/sinks-service.js';
import type { AuditLogSinkSpec } from '../src/sinks/spec.js';
import { createAdapter, sinkRegistry } from '../src/sinks/index.js';
import { validateEmitted } from '../src/record/schema.js';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { Verdict } from '../src/delivery/adapter.js';

const spec = (name: string, stream: string, roleName = 'auditstream-writer'): AuditLogSinkSpec => ({
  name,
  enabled: true,
  kinesisSink: { roleName, destinationUri: `arn:aws:kinesis:us-east-1:${MOTO_ACCOUNT}:stream/${stream}`, region: 'us-east-1' },
});

describe('kinesis delivery against moto', () => {
  let moto: Moto;
  let proxy: FaultProxy;
  let kinesis: KinesisClient;
  let rig: KinesisRig;
  let store: AuditStore;
  const engines: DeliveryEngine[] = [];

  before(async () => {
    rig = await startKinesisRig();
    ({ moto, proxy, kinesis, store } = rig);
  });
  after(() => rig.stop(engines));

  const startEngine = (opts: Partial<EngineOptions> = {}) => {
    const e = new DeliveryEngine({
      sinks: sinkRegistry,
      store,
      flushIntervalMs: 50,
      idlePollMs: 200,
      scanIntervalMs: 100,
      leaseTtlMs: 5000,
      backoff: { baseMs: 50, maxMs: 400 },
      fatalBackoff: { baseMs: 100, maxMs: 500 },
      ...opts,
    });
    engines.push(e);
    e.start();
    return e;
  };
  const appendN = async (accountId: string, n: number): Promise<string[]> => {
    const records = Array.from({ length: n }, () => makeRecord());
    for (let i = 0; i < records.length; i += 200) await store.append({ accountId, records: records.slice(i, i + 200), ingestedBy: null });
    return records.map((r) => r.log_id);
  };
  const logIds = async (stream: string) => (await readStream(kinesis, stream)).map((r) => r.logId);

  it('verify writes one VerifyAuditLogSink record to that stream only, not to the chain', async () => {
    await createStream(kinesis, 'verify-ok');
    await createStream(kinesis, 'verify-other');
    const before = await store.count();
    const res = await verifySink(store, 'acct-verify', spec('v', 'verify-ok'));
    assert.deepEqual({ ok: res.ok }, { ok: true });
    const got = await readStream(kinesis, 'verify-ok');
    assert.equal(got.length, 1);
    assert.equal(got[0]!.json['operation'], 'VerifyAuditLogSink');
    assert.equal(got[0]!.json['category'], 'LOG_CATEGORY_SYSTEM');
    assert.equal(got[0]!.logId, res.logId);
    assert.equal(got[0]!.partitionKey, 'acct-verify');
    assert.deepEqual(validateEmitted(got[0]!.json), { ok: true });
    assert.equal((await readStream(kinesis, 'verify-other')).length, 0);
    assert.equal(await store.count(), before, 'not stored in the chain');
  });

  it('verify names the cause: stream not found, wrong region, endpoint unreachable', async () => {
    const missing = await verifySink(store, 'acct-verify', spec('v', 'no-such-stream'));
    assert.equal(missing.ok, false);
    assert.equal(!missing.ok && missing.cause, 'destination_not_found');
    const wrongRegion = await verifySink(store, 'acct-verify', {
      ...spec('v', 'verify-ok'),
      kinesisSink: { ...spec('v', 'verify-ok').kinesisSink!, region: 'eu-west-1' },
    });
    assert.equal(!wrongRegion.ok && wrongRegion.cause, 'wrong_region');
    assert.match(!wrongRegion.ok ? wrongRegion.message : '', /eu-west-1.*us-east-1/);
    proxy.setMode({ kind: 'down' });
    try {
      const down = await verifySink(store, 'acct-verify-down', spec('v', 'verify-ok'));
      assert.equal(!down.ok && down.cause, 'endpoint_unreachable', JSON.stringify(down));
    } finally {
      proxy.setMode({ kind: 'pass' });
    }
  });

  it('assumes the role with the account ExternalId: recorded, and enforced by moto IAM', async () => {
    const iam = new IAMClient({ endpoint: moto.url, region: 'us-east-1' });
    await createStream(kinesis, 'iam-stream');
    const externalId = await store.transaction((tx) => ensureExternalId(tx, 'acct-iam'));
    await iam.send(new CreateUserCommand({ UserName: 'auditstream' }));
    const key = (await iam.send(new CreateAccessKeyCommand({ UserName: 'auditstream' }))).AccessKey!;
    await iam.send(
      new PutUserPolicyCommand({
        UserName: 'auditstream',
        PolicyName: 'assume',
        PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: '*' }] }),
      }),
    );
    await iam.send(
      new CreateRoleCommand({
        RoleName: 'iam-writer',
        AssumeRolePolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: { AWS: `arn:aws:iam::${MOTO_ACCOUNT}:user/auditstream` },
              Action: 'sts:AssumeRole',
              Condition: { StringEquals: { 'sts:ExternalId': externalId } },
            },
          ],
        }),
      }),
    );
    // moto denies resource-scoped Kinesis statements wrongly under enforcement: "*" here, and
    // least privilege is asserted on the CloudFormation template itself.
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: 'iam-writer',
        PolicyName: 'w',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: ['kinesis:PutRecords', 'kinesis:PutRecord'], Resource: '*' }],
        }),
      }),
    );
    iam.destroy();
    const saved = { id: process.env['AWS_ACCESS_KEY_ID'], secret: process.env['AWS_SECRET_ACCESS_KEY'] };
    process.env['AWS_ACCESS_KEY_ID'] = key.AccessKeyId!;
    process.env['AWS_SECRET_ACCESS_KEY'] = key.SecretAccessKey!;
    const callsBefore = proxy.assumeRoleCalls().length;
    await moto.enforceIam(true);
    try {
      const ok = await verifySink(store, 'acct-iam', spec('main', 'iam-stream', 'iam-writer'));
      assert.equal(ok.ok, true, JSON.stringify(ok));
      // Another account has another ExternalId: the same role refuses it.
      const other = await verifySink(store, 'acct-iam-other', spec('main', 'iam-stream', 'iam-writer'));
      assert.equal(!other.ok && other.cause, 'role_not_assumable', JSON.stringify(other));
    } finally {
      await moto.enforceIam(false);
      process.env['AWS_ACCESS_KEY_ID'] = saved.id;
      process.env['AWS_SECRET_ACCESS_KEY'] = saved.secret;
    }
    const calls = proxy.assumeRoleCalls().slice(callsBefore);
    assert.ok(calls.length >= 2);
    assert.equal(calls[0]!['ExternalId'], externalId);
    assert.equal(calls[0]!['RoleArn'], `arn:aws:iam::${MOTO_ACCOUNT}:role/iam-writer`);
    assert.equal(calls[0]!['RoleSessionName'], 'auditstream-main');
    assert.notEqual(calls.at(-1)!['ExternalId'], externalId);
    assert.equal((await readStream(kinesis, 'iam-stream')).length, 1);
  });

  it('delivers every record of two accounts, in order, exactly once, keyed by account', async () => {
    await createStream(kinesis, 'steady-a');
    await createStream(kinesis, 'steady-b');
    await store.transaction((tx) => createSink(tx, 'acct-a', spec('main', 'steady-a')));
    await store.transaction((tx) => createSink(tx, 'acct-b', spec('main', 'steady-b')));
    const engine = startEngine();
    const a = await appendN('acct-a', 1200);
    const b = await appendN('acct-b', 300);
    engine.notify('acct-a');
    engine.notify('acct-b');
    await until(
      async () => (await readStream(kinesis, 'steady-a')).length >= 1200 && (await readStream(kinesis, 'steady-b')).length >= 300,
      'delivery',
      20_000,
      200,
    );
    const gotA = await readStream(kinesis, 'steady-a');
    assert.deepEqual(
      gotA.map((r) => r.logId),
      a,
    );
    assert.ok(gotA.every((r) => r.partitionKey === 'acct-a'));
    assert.deepEqual(await logIds('steady-b'), b);
    await until(async () => (await sinkStatus(store.sql, 'acct-a', 'main')).backlog === 0, 'status caught up');
    await engine.stop();
  });

  it('survives the destination being down for a while, shows the error, and catches up', async () => {
    await createStream(kinesis, 'outage');
    await store.transaction((tx) => createSink(tx, 'acct-outage', spec('main', 'outage')));
    const engine = startEngine();
    const first = await appendN('acct-outage', 100);
    engine.notify('acct-outage');
    await until(async () => (await readStream(kinesis, 'outage')).length === 100, 'before the outage');
    proxy.setMode({ kind: 'down' });
    const during = await appendN('acct-outage', 300);
    engine.notify('acct-outage');
    await until(async () => (await sinkStatus(store.sql, 'acct-outage', 'main')).health === 'error', 'error status', 10_000);
    const st = await sinkStatus(store.sql, 'acct-outage', 'main');
    assert.match(st.errorMessage!, /unreachable|ECONNRESET|socket/i);
    assert.equal(st.backlog, 300);
    proxy.setMode({ kind: 'pass' });
    await until(async () => (await sinkStatus(store.sql, 'acct-outage', 'main')).backlog === 0, 'caught up', 15_000);
    assert.equal((await sinkStatus(store.sql, 'acct-outage', 'main')).health, 'ok');
    const got = await logIds('outage');
    assert.ok(isSubsequence([...first, ...during], got), 'every record, in order');
    assert.equal(new Set(got).size, 400);
    await engine.stop();
  });

  it('slows down under throttling (per entry and per call) and recovers, keeping order', async () => {
    await createStream(kinesis, 'throttled');
    await store.transaction((tx) => createSink(tx, 'acct-throttled', spec('main', 'throttled')));
    const verdicts: Verdict['kind'][] = [];
    const engine = startEngine({ onSent: (_s, v) => verdicts.push(v) });
    proxy.setMode({ kind: 'throttle-entries', share: 0.3 });
    const ids = await appendN('acct-throttled', 900);
    engine.notify('acct-throttled');
    await until(() => proxy.stats.throttledEntries > 50, 'entry throttling', 10_000);
    // Every call throttled until a few were: deterministic, so a loaded machine (fewer calls in
    // the window) cannot make it flaky.
    proxy.setMode({ kind: 'throttle-calls', share: 1 });
    ids.push(...(await appendN('acct-throttled', 600)));
    engine.notify('acct-throttled');
    await until(() => proxy.stats.throttledCalls > 3, 'call throttling', 20_000);
    proxy.setMode({ kind: 'pass' });
    await until(async () => (await sinkStatus(store.sql, 'acct-throttled', 'main')).backlog === 0, 'caught up', 20_000);
    const got = await logIds('throttled');
    assert.ok(isSubsequence(ids, got), 'every record, in order (resent from the first failed entry)');
    assert.equal(new Set(got).size, 1500);
    assert.ok(verdicts.filter((v) => v === 'throttle').length >= 4);
    assert.equal(verdicts.at(-1), 'ok');
    assert.equal((await sinkStatus(store.sql, 'acct-throttled', 'main')).health, 'ok');
    await engine.stop();
  });

  it('dead-letters a record over the destination limit and delivers the rest', async () => {
    await createStream(kinesis, 'dead');
    await store.transaction((tx) => createSink(tx, 'acct-dead', spec('main', 'dead')));
    // Ingest allows 256 KiB and Kinesis 1 MiB, so the limit is lowered for the test.
    const engine = startEngine({
      createAdapter: (row, externalId) => {
        const real = createAdapter(row.spec, { accountId: row.accountId, sinkName: row.name, externalId });
        return {
          ...real,
          kind: real.kind,
          limits: { ...real.limits, maxRecordBytes: 4000 },
          encode: real.encode,
          send: real.send,
          classify: real.classify,
          close: real.close,
        };
      },
    });
    const small1 = makeRecord();
    const big = makeRecord({ details: { blob: 'y'.repeat(10_000) } });
    const small2 = makeRecord();
    await store.append({ accountId: 'acct-dead', records: [small1, big, small2], ingestedBy: null });
    engine.notify('acct-dead');
    await until(async () => (await sinkStatus(store.sql, 'acct-dead', 'main')).cursorSeq === 3, 'past the dead letter');
    assert.deepEqual(await logIds('dead'), [small1.log_id, small2.log_id]);
    const st = await sinkStatus(store.sql, 'acct-dead', 'main');
    assert.equal(st.deadLetters, 1);
    assert.equal(st.health, 'ok');
    await engine.stop();
  });

  it('after deleteSink + awaitSinkDeleted return, nothing more reaches the stream', async () => {
    await createStream(kinesis, 'deleted');
    await store.transaction((tx) => createSink(tx, 'acct-del', spec('main', 'deleted')));
    const engine = startEngine();
    proxy.setMode({ kind: 'delay', ms: 300 });
    let appending = true;
    const writer = (async () => {
      while (appending) {
        await appendN('acct-del', 20);
        engine.notify('acct-del');
        await new Promise((r) => setTimeout(r, 30));
      }
    })();
    try {
      await until(() => proxy.calls.some((c) => c.action.endsWith('PutRecords') && c.forwardedAt), 'sends under way', 10_000);
      await new Promise((r) => setTimeout(r, 150)); // very likely mid-send now
      const deletion = await store.transaction((tx) => deleteSink(tx, 'acct-del', 'main', ''));
      assert.equal(await awaitSinkDeleted(store, deletion, { engine, leaseTtlMs: 5000 }), true);
      const done = Date.now();
      const count = (await readStream(kinesis, 'deleted')).length;
      await new Promise((r) => setTimeout(r, 800));
      assert.equal((await readStream(kinesis, 'deleted')).length, count, 'no record arrived after the delete returned');
      const late = proxy.calls.filter((c) => c.action.endsWith('PutRecords') && c.forwardedAt !== undefined && c.forwardedAt > done);
      assert.deepEqual(late, []);
      assert.ok(count > 0);
    } finally {
      appending = false;
      await writer;
      proxy.setMode({ kind: 'pass' });
      await engine.stop();
    }
  });
});
