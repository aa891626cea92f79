/**
 * The Amazon S3 sink against moto: objects read back, gunzipped and compared with the store
 * (every record exactly once across objects, byte for byte, keys as specified); stable batch
 * boundaries across a holder that dies mid-upload; filters; Verify; classification of S3's
 * answers; `/api/v1/sinks` with an `s3_sink` body (201 and one audited change, or a 400 naming the
 * field and nothing saved).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import type { S3Client } from '@aws-sdk/client-s3';
import { startMoto, useAwsEndpoint, MOTO_ACCOUNT, type Moto } from './helpers/moto.js';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';
import { checkObjects, createBucket, parseKey, readObjects, s3Client, storedRecords } from './helpers/s3.js';
import { createFixture, engines, type StoreFixture } from './helpers/stores.js';
import { makeRecord } from './helpers/records.js';
import { until } from './helpers/fake-sink.js';
import { createControlFixture, type ControlFixture } from './helpers/control.js';
import type { AuditStore } from '../src/store/store.js';
import type { AuditLogSinkSpec } from '../src/sinks/spec.js';
import type { EncodedEntry, SinkAdapter } from '../src/delivery/adapter.js';
import { createSink, sinkStatus } from '../src/control/sinks-service.js';
import { verifySink } from '../src/control/sink-verify.js';
import { DeliveryEngine } from '../src/delivery/engine.js';
import { sinkRegistry, createAdapter } from '../src/sinks/index.js';
import { readExternalId } from '../src/delivery/external-id.js';
import { classifyS3, diagnoseS3 } from '../src/sinks/s3/classify.js';
import { hourPath, objectKey, padSeq, parseObjectKeyTail } from '../src/sinks/s3/keys.js';
import { gzipBatch } from '../src/sinks/s3/object.js';
import { buildApp } from '../src/api/app.js';
import { resolveConfig } from '../src/config.js';

const ACCOUNT = 'acct-s3';
const BUCKET = 'audit-bucket';

const s3Spec = (name: string, prefix = `logs/${name}`, over: Partial<NonNullable<AuditLogSinkSpec['s3Sink']>> = {}): AuditLogSinkSpec => ({
  name,
  enabled: true,
  s3Sink: { bucket: BUCKET, prefix, region: 'us-east-1', awsAccountId: MOTO_ACCOUNT, roleName: 'writer', ...over },
});

describe('S3 keys, objects and classification (pure)', () => {
  it('pads sequences so that string order is chain order, and dates the key by the first emit time in UTC', () => {
    const seqs = [1, 9, 10, 99, 100, 12345, 2 ** 40];
    const keys = seqs.map((s) => objectKey('p', 'a', '2026-03-04T05:06:07Z', s, s));
    assert.deepEqual([...keys].sort(), keys);
    assert.equal(padSeq(42).length, 20);
    assert.equal(objectKey('logs/x', 'acct', '2026-03-04T23:59:59+02:00', 3, 17), `logs/x/acct/2026/03/04/21/${padSeq(3)}-${padSeq(17)}.jsonl.gz`);
    assert.equal(hourPath('not a time'), '1970/01/01/00');
  });

  it('reads back what a key names (the consumer lists keys): account and sequences; anything else is no object of the sink', () => {
    for (const [first, last] of [
      [1, 1],
      [9, 10],
      [12345, 99999],
      [2 ** 40, 2 ** 40 + 7],
    ] as const) {
      const key = objectKey('logs/x', 'acct-1', '2026-03-04T05:06:07Z', first, last);
      assert.deepEqual(parseObjectKeyTail(key.slice('logs/x/'.length)), { account: 'acct-1', first, last });
    }
    for (const tail of [
      'acct/2026/03/04/05/1-2.jsonl.gz',
      `acct/2026/03/04/${padSeq(1)}-${padSeq(2)}.jsonl.gz`,
      `acct/2026/03/04/05/${padSeq(1)}-${padSeq(2)}.jsonl`,
      '_auditstream-verify/x.jsonl.gz',
    ])
      assert.equal(parseObjectKeyTail(tail), undefined, tail);
  });

  it('gzips deterministically: the same records give the same bytes', async () => {
    const entries: EncodedEntry[] = [1, 2, 3].map((seq) => ({ seq, logId: `l${seq}`, partitionKey: 'a', data: Buffer.from(`{"n":${seq}}\n`) }));
    const a = await gzipBatch(entries);
    await new Promise((r) => setTimeout(r, 1100)); // a gzip header with a time would differ now
    const b = await gzipBatch(entries.map((e) => ({ ...e, data: Buffer.from(e.data) })));
    assert.ok(a.equals(b));
    assert.equal(gunzipSync(a).toString(), '{"n":1}\n{"n":2}\n{"n":3}\n');
  });

  it('classifies S3 answers: SlowDown/503 throttle, 5xx and network retry, AccessDenied/NoSuchBucket/region fatal', () => {
    const err = (name: string, status: number, fault: 'client' | 'server' = status >= 500 ? 'server' : 'client') =>
      Object.assign(new Error(`${name} message`), { name, Code: name, $fault: fault, $metadata: { httpStatusCode: status } });
    const kind = (e: unknown) => classifyS3({ error: e }).kind;
    assert.equal(classifyS3({ value: {} }).kind, 'ok');
    assert.equal(kind(err('SlowDown', 503)), 'throttle');
    assert.equal(kind(err('ServiceUnavailable', 503)), 'throttle');
    assert.equal(kind(err('InternalError', 500)), 'retry');
    assert.equal(kind(err('RequestTimeout', 400)), 'retry');
    assert.equal(kind(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })), 'retry');
    assert.equal(kind(err('ExpiredToken', 400)), 'retry');
    for (const [name, status, cause] of [
      ['AccessDenied', 403, 'permission_denied'],
      ['NoSuchBucket', 404, 'destination_not_found'],
      ['PermanentRedirect', 301, 'wrong_region'],
      ['AuthorizationHeaderMalformed', 400, 'wrong_region'],
    ] as const) {
      const outcome = { error: err(name, status) };
      const v = classifyS3(outcome);
      assert.equal(v.kind, 'fatal', name);
      assert.match((v as { reason: string }).reason, new RegExp(name));
      const d = diagnoseS3(outcome, v);
      assert.equal(d.ok ? 'ok' : d.cause, cause, name);
    }
    const role = Object.assign(new Error('cannot assume role arn:aws:iam::1:role/x: AccessDenied'), {
      name: 'RoleAssumptionError',
      cause: err('AccessDenied', 403),
    });
    assert.equal(kind(role), 'fatal');
    const d = diagnoseS3({ error: role }, classifyS3({ error: role }));
    assert.equal(d.ok ? 'ok' : d.cause, 'role_not_assumable');
  });
});

for (const engine0 of engines()) {
  describe(`S3 sink on moto (${engine0})`, () => {
    let moto: Moto;
    let fx: StoreFixture;
    let store: AuditStore;
    let s3: S3Client;
    const engines: DeliveryEngine[] = [];
    const newEngine = (over: Partial<ConstructorParameters<typeof DeliveryEngine>[0]> = {}) => {
      const e = new DeliveryEngine({
        sinks: sinkRegistry,
        store,
        batchWindowMs: 150,
        idlePollMs: 100,
        scanIntervalMs: 100,
        leaseTtlMs: 3000,
        backoff: { baseMs: 30, maxMs: 200 },
        fatalBackoff: { baseMs: 50, maxMs: 200 },
        ...over,
      });
      engines.push(e);
      return e;
    };

    before(async () => {
      moto = await startMoto();
      useAwsEndpoint(moto.url);
      s3 = s3Client(moto.url);
      await createBucket(s3, BUCKET);
      fx = await createFixture(engine0);
      store = await fx.open();
    });
    after(async () => {
      for (const e of engines) await e.stop(1000);
      await store?.close();
      await fx?.destroy();
      s3?.destroy();
      await moto?.stop();
    });

    const ingest = async (account: string, n: number, over: Parameters<typeof makeRecord>[0] = {}) => {
      const records = Array.from({ length: n }, () => makeRecord(over));
      await store.append({ accountId: account, records, ingestedBy: null });
      for (const e of engines) e.notify(account);
    };

    it('writes gzipped JSONL objects: every record once across objects, byte for byte, keys in chain order', async () => {
      const engine = newEngine();
      await store.transaction((tx) => createSink(tx, ACCOUNT, s3Spec('main')));
      engine.start();
      engine.sinksChanged(ACCOUNT);
      for (let round = 0; round < 4; round++) {
        await ingest(ACCOUNT, 40 + round * 7);
        await new Promise((r) => setTimeout(r, 250));
      }
      const expected = await storedRecords(store, ACCOUNT);
      await until(
        async () => (await readObjects(s3, BUCKET, `logs/main/${ACCOUNT}/`)).reduce((n, o) => n + o.lines.length, 0) >= expected.length,
        'all records in S3',
      );
      const objects = await readObjects(s3, BUCKET, `logs/main/${ACCOUNT}/`);
      const n = checkObjects(objects, expected);
      assert.ok(n >= 2, `several batch windows, several objects (got ${n})`);
      for (const o of objects) assert.equal(parseKey(o.key).prefix, 'logs/main');
      // Within one hour's path (these records' emit times), listing order is chain order.
      const firsts = objects.map((o) => parseKey(o.key).first);
      assert.deepEqual(
        firsts,
        [...firsts].sort((a, b) => a - b),
      );
      await engine.stop(1000);
    });

    it('a holder that dies mid-upload: the next one resends the same range to the same key, no record in two objects', async () => {
      const account = 'acct-crash';
      await store.transaction((tx) => createSink(tx, account, s3Spec('crash')));
      const externalId = (await readExternalId(store.sql, account)) ?? '';
      // Holder A: its first upload reaches S3, then the answer never comes back (the process "dies"
      // holding the batch: its stop aborts the send, nothing is committed).
      const puts: { key: string; body: Buffer }[] = [];
      let hang = true;
      const wrap = (a: SinkAdapter): SinkAdapter => ({
        ...a,
        kind: a.kind,
        limits: a.limits,
        encode: a.encode.bind(a),
        classify: a.classify.bind(a),
        close: a.close.bind(a),
        async send(entries, signal) {
          const r = (await a.send(entries, signal)) as { key: string };
          puts.push({ key: r.key, body: await gzipBatch(entries) });
          if (hang) await new Promise((_, reject) => signal?.addEventListener('abort', () => reject(new Error('aborted by stop'))));
          return r;
        },
      });
      const a = newEngine({
        createAdapter: (row) => wrap(createAdapter(row.spec, { accountId: row.accountId, sinkName: row.name, externalId })),
      });
      a.start();
      a.sinksChanged(account);
      await ingest(account, 30);
      await until(() => puts.length >= 1, 'A uploaded its first object');
      // More records arrive while A hangs: an unplanned resend would batch them with the first ones.
      await ingest(account, 25);
      await a.stop(200);
      hang = false;
      const b = newEngine({
        createAdapter: (row) => wrap(createAdapter(row.spec, { accountId: row.accountId, sinkName: row.name, externalId })),
      });
      b.start();
      b.sinksChanged(account);
      const expected = await storedRecords(store, account);
      await until(
        async () => (await readObjects(s3, BUCKET, `logs/crash/${account}/`)).reduce((n, o) => n + o.lines.length, 0) >= expected.length,
        'B delivered the rest',
      );
      await until(async () => (await sinkStatus(store.sql, account, 'crash')).cursorSeq === expected[expected.length - 1]!.seq, 'cursor at the head');
      const objects = await readObjects(s3, BUCKET, `logs/crash/${account}/`);
      checkObjects(objects, expected);
      assert.equal(puts[1]!.key, puts[0]!.key, 'the resend names the same key');
      assert.ok(puts[1]!.body.equals(puts[0]!.body), 'with the same bytes');
      assert.equal(parseKey(puts[0]!.key).last, 30, 'the planned batch was the first 30 records only');
      await b.stop(1000);
    });

    it('filters apply: only matching records, each once, the rest counted as filtered', async () => {
      const account = 'acct-filter';
      const engine = newEngine();
      await store.transaction((tx) => createSink(tx, account, { ...s3Spec('errors'), filter: { status: 'ERROR' } }));
      engine.start();
      engine.sinksChanged(account);
      await ingest(account, 20);
      await ingest(account, 7, { status: 'ERROR' });
      await ingest(account, 20);
      await ingest(account, 5, { status: 'ERROR' });
      const expected = (await storedRecords(store, account)).filter((r) => (JSON.parse(r.json) as { status: string }).status === 'ERROR');
      assert.equal(expected.length, 12);
      await until(async () => (await sinkStatus(store.sql, account, 'errors')).cursorSeq === 52, 'cursor past every record');
      checkObjects(await readObjects(s3, BUCKET, `logs/errors/${account}/`), expected);
      assert.equal((await sinkStatus(store.sql, account, 'errors')).filteredCount, 40);
      await engine.stop(1000);
    });

    it('Verify writes and deletes a test object (nothing left, nothing in the chain); a missing bucket is destination_not_found', async () => {
      const ok = await verifySink(store, 'acct-verify', s3Spec('v', 'verify/p'));
      assert.deepEqual({ ok: ok.ok }, { ok: true }, JSON.stringify(ok));
      assert.deepEqual(await readObjects(s3, BUCKET, 'verify/'), [], 'the test object is deleted');
      assert.deepEqual(await storedRecords(store, 'acct-verify'), []);
      const missing = await verifySink(store, 'acct-verify', s3Spec('v', 'verify/p', { bucket: 'no-such-bucket-here' }));
      assert.equal(missing.ok ? 'ok' : missing.cause, 'destination_not_found', JSON.stringify(missing));
    });

    it('a missing bucket stops delivery with the cause in the status', async () => {
      const account = 'acct-nobucket';
      const engine = newEngine();
      await store.transaction((tx) => createSink(tx, account, s3Spec('gone', 'x', { bucket: 'missing-bucket' })));
      engine.start();
      engine.sinksChanged(account);
      await ingest(account, 3);
      await until(async () => (await sinkStatus(store.sql, account, 'gone')).health === 'error', 'error health');
      const st = await sinkStatus(store.sql, account, 'gone');
      assert.equal(st.errorKind, 'user_configuration');
      assert.match(st.errorMessage ?? '', /bucket not found: NoSuchBucket/);
      await engine.stop(1000);
    });
  });
}

describe('S3 sink through a fault proxy: SlowDown, an outage, AssumeRole with the ExternalId', () => {
  let moto: Moto;
  let proxy: FaultProxy;
  let fx: StoreFixture;
  let store: AuditStore;
  let s3: S3Client;
  let engine: DeliveryEngine;
  before(async () => {
    moto = await startMoto();
    proxy = await startFaultProxy(moto.url);
    useAwsEndpoint(proxy.url);
    s3 = s3Client(moto.url);
    await createBucket(s3, BUCKET);
    fx = await createFixture('sqlite');
    store = await fx.open();
    engine = new DeliveryEngine({
      sinks: sinkRegistry,
      store,
      batchWindowMs: 100,
      idlePollMs: 100,
      scanIntervalMs: 100,
      leaseTtlMs: 3000,
      errorAfterAttempts: 2,
      backoff: { baseMs: 30, maxMs: 150 },
      fatalBackoff: { baseMs: 50, maxMs: 150 },
    });
    engine.start();
  });
  after(async () => {
    await engine?.stop(1000);
    await store?.close();
    await fx?.destroy();
    s3?.destroy();
    await proxy?.close();
    await moto?.stop();
  });

  it('throttled and cut off, it slows down, retries, shows the outage, and still writes every record exactly once', async () => {
    const account = 'acct-faults';
    await store.transaction((tx) => createSink(tx, account, s3Spec('faulty')));
    engine.sinksChanged(account);
    proxy.setMode({ kind: 'throttle-calls', share: 1 });
    for (let i = 0; i < 4; i++) {
      await store.append({ accountId: account, records: Array.from({ length: 30 }, () => makeRecord()), ingestedBy: null });
      engine.notify(account);
      await new Promise((r) => setTimeout(r, 150));
    }
    await until(() => proxy.stats.throttledCalls >= 3, 'SlowDown answers', 20_000);
    proxy.setMode({ kind: 'down' });
    await store.append({ accountId: account, records: Array.from({ length: 30 }, () => makeRecord()), ingestedBy: null });
    engine.notify(account);
    await until(async () => (await sinkStatus(store.sql, account, 'faulty')).health === 'error', 'the outage in the status', 20_000);
    assert.equal((await sinkStatus(store.sql, account, 'faulty')).errorKind, 'internal');
    proxy.setMode({ kind: 'pass' });
    const expected = await storedRecords(store, account);
    await until(async () => (await sinkStatus(store.sql, account, 'faulty')).cursorSeq === expected.length, 'caught up', 20_000);
    assert.equal((await sinkStatus(store.sql, account, 'faulty')).health, 'ok');
    checkObjects(await readObjects(s3, BUCKET, `logs/faulty/${account}/`), expected);
    const externalId = await readExternalId(store.sql, account);
    const assumed = proxy.assumeRoleCalls();
    assert.ok(assumed.length >= 1);
    for (const c of assumed) {
      assert.equal(c['ExternalId'], externalId);
      assert.equal(c['RoleArn'], `arn:aws:iam::${MOTO_ACCOUNT}:role/writer`);
    }
  });
});

describe('/api/v1/sinks with an s3_sink body', () => {
  let fx: StoreFixture;
  let store: AuditStore;
  let t: ControlFixture;
  let app: FastifyInstance;
  before(async () => {
    fx = await createFixture('sqlite');
    store = await fx.open();
    t = await createControlFixture(store, 'owner-s3@example.com');
    app = await buildApp({ store, config: resolveConfig({}), auth: t.control.apiAuth, register: (a) => t.control.registerRoutes(a) });
  });
  after(async () => {
    await app?.close();
    await store?.close();
    await fx?.destroy();
  });
  const api = async (method: 'GET' | 'POST', url: string, payload?: unknown) => {
    const res = await app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${t.owner.apiKey}` },
      ...(payload !== undefined ? { payload: payload as object } : {}),
    });
    return { status: res.statusCode, body: res.json() as Record<string, unknown> };
  };
  const changes = async () => (await t.records(t.owner.accountId)).filter((r) => r.operation === 'UpdateAccount' && r.status === 'OK').length;
  const good = { bucket: 'my-audit-logs', prefix: 'temporal/audit/', region: 'eu-west-1', aws_account_id: '210987654321', role_name: 'auditstream-writer' };

  it('creates an S3 sink with a filter: 201, the prefix stored without its trailing "/", one UpdateAccount record', async () => {
    const before = await changes();
    const res = await api('POST', '/api/v1/sinks', { spec: { name: 'lake', s3_sink: good, filter: { status: 'ERROR' } } });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(res.body['kind'], 's3');
    const read = await api('GET', '/api/v1/sinks/lake');
    const spec = read.body['spec'] as { s3_sink: Record<string, string>; filter: unknown };
    assert.deepEqual(spec.s3_sink, { ...good, prefix: 'temporal/audit' });
    assert.deepEqual(spec.filter, { status: 'ERROR' });
    assert.equal(await changes(), before + 1);
    const rec = (await t.records(t.owner.accountId)).filter((r) => r.operation === 'UpdateAccount').pop()!;
    assert.equal(rec.details['sink_destination'], 's3://my-audit-logs/temporal/audit/');
  });

  it('bad input is a 400 naming the field; nothing saved, no change audited', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ bucket: 'My_Bucket' }, /spec\.s3_sink\.bucket "My_Bucket" is not a valid S3 bucket name/],
      [{ bucket: 'ab' }, /spec\.s3_sink\.bucket .* 3-63 characters/],
      [{ bucket: '192.168.1.1' }, /spec\.s3_sink\.bucket .* IP address/],
      [{ bucket: 'a..b' }, /spec\.s3_sink\.bucket .* adjacent periods/],
      [{ bucket: 'xn--bucket' }, /spec\.s3_sink\.bucket .* xn--/],
      [{ bucket: '' }, /spec\.s3_sink\.bucket is required/],
      [{ prefix: '/abs' }, /spec\.s3_sink\.prefix must not start with "\/"/],
      [{ prefix: 'a/../b' }, /spec\.s3_sink\.prefix must not contain "\." or "\.\." segments/],
      [{ prefix: 'a\u0001b' }, /spec\.s3_sink\.prefix must not contain control characters/],
      [{ prefix: 'a//b' }, /spec\.s3_sink\.prefix must not contain empty segments/],
      [{ prefix: 'a/*' }, /spec\.s3_sink\.prefix may hold only/],
      [{ prefix: 'p'.repeat(901) }, /spec\.s3_sink\.prefix must be at most 900 bytes/],
      [{ prefix: '' }, /spec\.s3_sink\.prefix is required/],
      [{ region: 'mars-1' }, /spec\.s3_sink\.region "mars-1" is not an AWS region/],
      [{ aws_account_id: '12345' }, /spec\.s3_sink\.aws_account_id "12345" must be the 12-digit/],
      [{ role_name: 'arn:aws:iam::210987654321:role/x' }, /spec\.s3_sink\.role_name must be the role's name/],
      [{ role_name: 'bad role' }, /spec\.s3_sink\.role_name "bad role" is not a valid IAM role name/],
    ];
    const before = await changes();
    for (const [over, re] of cases) {
      const body = { spec: { name: 'bad', s3_sink: { ...good, ...over } } };
      const res = await api('POST', '/api/v1/sinks', body);
      assert.equal(res.status, 400, `${JSON.stringify(over)}: ${JSON.stringify(res.body)}`);
      const err = res.body['error'] as { code: string; message: string };
      assert.equal(err.code, 'AS_ERR_INVALID_ARGUMENT');
      assert.match(err.message, re);
      assert.ok(!err.message.includes('\n'));
    }
    assert.equal((await api('GET', '/api/v1/sinks/bad')).status, 404, 'nothing saved');
    assert.equal(await changes(), before, 'no change audited');
  });
});
