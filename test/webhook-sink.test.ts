/**
 * The HTTPS webhook sink against a real HTTPS server started here (certificate from a throwaway
 * CA): Standard Webhooks signatures checked by the receiver with its own implementation
 * (WebCrypto, not the sender's code), both formats, secret rotation (two signatures), Retry-After,
 * 413 splitting, a record too large for the receiver dead-lettered, a 4xx in the sink's health,
 * the SSRF guard on literals and on resolved names, secrets sealed at rest and never read back,
 * and `/api/v1/sinks` refusing bad input with a 400 naming the field, saving nothing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { randomBytes, webcrypto } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { createFixture, engines, type StoreFixture } from './helpers/stores.js';
import { makeRecord } from './helpers/records.js';
import { until } from './helpers/fake-sink.js';
import { makeTestTls, type TestTls } from './helpers/tls.js';
import { createControlFixture, type ControlFixture } from './helpers/control.js';
import type { AuditStore } from '../src/store/store.js';
import { DeliveryEngine } from '../src/delivery/engine.js';
import { sinkRegistry } from '../src/sinks/index.js';
import { configureSecretBox, SecretBox } from '../src/sinks/secret-box.js';
import { setPrivateNetworksAllowed } from '../src/sinks/settings.js';
import { forbiddenAddress } from '../src/sinks/webhook/network.js';
import { classifyWebhook, retryAfterMs } from '../src/sinks/webhook/classify.js';
import { createSink, deadLetters, sinkStatus, updateSink, verifySink } from '../src/control/sinks-service.js';
import { sinkByName } from '../src/delivery/sql/sink-by-name.js';
import { buildApp } from '../src/api/app.js';
import { resolveConfig } from '../src/config.js';
import type { AuditLogSinkSpec } from '../src/sinks/spec.js';
import type { EncodedEntry } from '../src/delivery/adapter.js';

interface Received {
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** The receiver's own Standard Webhooks check: WebCrypto HMAC, every `v1,` entry tried. */
async function signatureValid(secret: string, h: Received['headers'], body: Buffer): Promise<boolean> {
  const id = String(h['webhook-id']);
  const ts = String(h['webhook-timestamp']);
  const key = await webcrypto.subtle.importKey('raw', Buffer.from(secret.replace(/^whsec_/, ''), 'base64'), { name: 'HMAC', hash: 'SHA-256' }, false, [
    'verify',
  ]);
  const signed = Buffer.concat([Buffer.from(`${id}.${ts}.`), body]);
  for (const entry of String(h['webhook-signature'] ?? '').split(' ')) {
    const [version, sig] = entry.split(',');
    if (version === 'v1' && sig && (await webcrypto.subtle.verify('HMAC', key, Buffer.from(sig, 'base64'), signed))) return true;
  }
  return false;
}

/** The records a request carried, parsed by format. */
function recordsOf(r: Received): { log_id: string; operation: string }[] {
  const type = String(r.headers['content-type']);
  if (type === 'application/x-ndjson')
    return r.body
      .toString('utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l));
  return JSON.parse(r.body.toString('utf8'));
}

const engine0 = engines()[0]!;

describe('webhook sink', () => {
  let tls: TestTls;
  let server: Server;
  let port: number;
  const received: Received[] = [];
  /** What the receiver answers next (default 200). */
  let respond: (r: Received) => { status: number; headers?: Record<string, string> } = () => ({ status: 200 });
  let fx: StoreFixture;
  let store: AuditStore;
  let engine: DeliveryEngine;

  before(async () => {
    configureSecretBox(new SecretBox(randomBytes(32)));
    setPrivateNetworksAllowed(true);
    tls = makeTestTls();
    server = createServer({ key: tls.keyPem, cert: tls.certPem }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const r = { headers: req.headers, body: Buffer.concat(chunks) };
        const answer = respond(r);
        // -1: the connection drops before any answer (a network error for the sender).
        if (answer.status === -1) return req.socket.destroy();
        // -2: never answers (a hung receiver); the sender must give up on its own.
        if (answer.status === -2) return;
        if (answer.status >= 200 && answer.status < 300) received.push(r);
        res.writeHead(answer.status, answer.headers ?? {}).end(answer.status >= 400 ? `refused with ${answer.status}` : 'ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
    fx = await createFixture(engine0);
    store = await fx.open();
    engine = new DeliveryEngine({
      sinks: sinkRegistry,
      store,
      flushIntervalMs: 30,
      idlePollMs: 100,
      scanIntervalMs: 100,
      leaseTtlMs: 5000,
      backoff: { baseMs: 30, maxMs: 200 },
      fatalBackoff: { baseMs: 50, maxMs: 200 },
    });
    engine.start();
  });
  after(async () => {
    await engine?.stop(2000);
    await store?.close();
    await fx?.destroy();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    tls?.cleanup();
    setPrivateNetworksAllowed(false);
  });

  const spec = (name: string, over: Partial<NonNullable<AuditLogSinkSpec['webhookSink']>> = {}): AuditLogSinkSpec => ({
    name,
    enabled: true,
    webhookSink: { url: `https://localhost:${port}/${name}`, format: 'json', headers: [], caPem: tls.caPem, ...over },
  });
  const create = async (account: string, s: AuditLogSinkSpec) => {
    const v = await store.transaction((tx) => createSink(tx, account, s));
    engine.sinksChanged(account);
    return v;
  };
  const ingest = async (account: string, n: number, over: Parameters<typeof makeRecord>[0] = {}) => {
    const records = Array.from({ length: n }, () => makeRecord(over));
    await store.append({ accountId: account, records, ingestedBy: null });
    engine.notify(account);
    return records.map((r) => r.log_id);
  };
  /** What a sink's receiver accepted (each test sink sends its own `X-Sink` header). */
  const forPath = (sink: string) => received.filter((r) => r.headers['x-sink'] === sink);

  it('delivers signed JSON-array batches, records byte for byte and in order, with the extra headers; the secret is shown once', async () => {
    const v = await create('acct-w1', spec('w1', { headers: ['X-Sink: w1', 'Authorization: Splunk 0123-token'] }));
    const secret = v.shownOnce['signing_secret']!;
    assert.match(secret, /^whsec_[A-Za-z0-9+/]+=*$/);
    assert.equal(Buffer.from(secret.slice(6), 'base64').length, 32);
    const ids = await ingest('acct-w1', 25);
    await until(() => forPath('w1').flatMap(recordsOf).length >= 25, 'all 25 delivered');
    const got = forPath('w1');
    assert.deepEqual(
      got.flatMap(recordsOf).map((r) => r.log_id),
      ids,
      'every record once, in chain order',
    );
    for (const r of got) {
      assert.equal(r.headers['content-type'], 'application/json');
      assert.equal(r.headers['authorization'], 'Splunk 0123-token');
      assert.ok(await signatureValid(secret, r.headers, r.body), 'the receiver verifies the signature');
      assert.equal(await signatureValid(`whsec_${randomBytes(32).toString('base64')}`, r.headers, r.body), false, 'another secret does not verify');
      const tampered = Buffer.from(r.body);
      tampered[1] ^= 1;
      assert.equal(await signatureValid(secret, r.headers, tampered), false, 'a changed body does not verify');
    }
    // Stored body of each record = what was sent.
    const page = await store.query({ accountId: 'acct-w1' }, { limit: 100 } as never);
    const stored = new Map(page.items.map((i) => [JSON.parse(i.recordJson).log_id as string, i.recordJson]));
    const sent = Buffer.concat(got.map((r) => r.body)).toString('utf8');
    for (const id of ids) assert.ok(sent.includes(stored.get(id)!), `record ${id} sent as stored`);
  });

  it('secrets are sealed at rest and read back as "set"; an update with "set" keeps them; rotation signs with both secrets', async () => {
    const v = await create('acct-w2', spec('w2', { format: 'ndjson', headers: ['X-Sink: w2', 'DD-API-KEY: dd-secret-value-42'] }));
    const first = v.shownOnce['signing_secret']!;
    assert.deepEqual(v.spec.webhookSink!.headers, ['X-Sink: set', 'DD-API-KEY: set']);
    assert.deepEqual(v.spec.webhookSink!.signingSecrets, ['set']);
    const row = await sinkByName(store.sql, 'acct-w2', 'w2');
    const raw = JSON.stringify(row!.spec);
    assert.ok(!raw.includes('dd-secret-value-42') && !raw.includes(first.slice(6)), 'no secret in clear in the database');
    await ingest('acct-w2', 3);
    await until(() => forPath('w2').flatMap(recordsOf).length >= 3, 'ndjson delivered');
    const r0 = forPath('w2')[0]!;
    assert.equal(r0.headers['content-type'], 'application/x-ndjson');
    assert.equal(r0.headers['dd-api-key'], 'dd-secret-value-42');
    assert.ok(await signatureValid(first, r0.headers, r0.body));

    // Rotate: a new secret shown once; both sign until the next rotation.
    const rotated = await store.transaction((tx) =>
      updateSink(tx, 'acct-w2', { ...spec('w2', { format: 'ndjson', headers: ['X-Sink: set', 'DD-API-KEY: set'], rotateSigningSecret: true }) }, ''),
    );
    engine.sinksChanged('acct-w2');
    const second = rotated.shownOnce['signing_secret']!;
    assert.ok(second && second !== first);
    assert.deepEqual(rotated.spec.webhookSink!.signingSecrets, ['set', 'set']);
    const before = forPath('w2').length;
    await ingest('acct-w2', 2);
    await until(() => forPath('w2').length > before && forPath('w2').slice(before).flatMap(recordsOf).length >= 2, 'delivered after rotation');
    const r1 = forPath('w2')[before]!;
    assert.equal(String(r1.headers['webhook-signature']).split(' ').length, 2);
    assert.ok(await signatureValid(second, r1.headers, r1.body), 'new secret verifies');
    assert.ok(await signatureValid(first, r1.headers, r1.body), 'old secret still verifies during the rotation');
    assert.equal(r1.headers['dd-api-key'], 'dd-secret-value-42', '"set" kept the stored header value');
    // A plain update (no rotation) shows no secret.
    const plain = await store.transaction((tx) => updateSink(tx, 'acct-w2', spec('w2', { format: 'ndjson', headers: ['X-Sink: set', 'DD-API-KEY: set'] }), ''));
    assert.deepEqual(plain.shownOnce, {});
  });

  it('413 splits the batch until it fits, in order; a single record the receiver refuses as too large is dead-lettered', async () => {
    // The receiver takes at most 3 records per request, and never the one from huge@example.com.
    const tooLarge = (r: Received) => recordsOf(r).length > 3 || recordsOf(r).some((x) => (x as { user_email?: string }).user_email === 'huge@example.com');
    respond = (r) => (r.headers['x-sink'] === 'w3' && tooLarge(r) ? { status: 413 } : { status: 200 });
    await create('acct-w3', spec('w3', { headers: ['X-Sink: w3'] }));
    const ids = [...(await ingest('acct-w3', 5)), ...(await ingest('acct-w3', 1, { user_email: 'huge@example.com' })), ...(await ingest('acct-w3', 4))];
    await until(async () => (await sinkStatus(store.sql, 'acct-w3', 'w3')).backlog === 0, 'all acknowledged or dead-lettered', 15_000);
    const got = forPath('w3');
    assert.ok(
      got.every((r) => recordsOf(r).length <= 3),
      'no accepted request over the receiver limit',
    );
    const delivered = got.flatMap(recordsOf).map((r) => r.log_id);
    const huge = ids[5]!;
    const expected = ids.filter((id) => id !== huge);
    for (const id of expected) assert.ok(delivered.includes(id), `${id} delivered`);
    const firsts = expected.map((id) => delivered.indexOf(id));
    assert.deepEqual(
      firsts,
      [...firsts].sort((a, b) => a - b),
      'first deliveries in chain order',
    );
    assert.ok(!delivered.includes(huge));
    const dead = await deadLetters(store.sql, 'acct-w3', 'w3');
    assert.deepEqual(
      dead.map((d) => d.logId),
      [huge],
    );
    assert.match(dead[0]!.reason, /HTTP 413/);
    respond = () => ({ status: 200 });
  });

  it('Retry-After is honoured (throttle with its delay), 5xx and 429 retried, other 4xx stop with the status in health', async () => {
    const e: EncodedEntry[] = [0, 1, 2].map((i) => ({ seq: i + 1, logId: `l${i}`, partitionKey: 'a', data: Buffer.from('{}') }));
    const result = (parts: object[]) => ({ value: { total: 3, host: 'h', parts } });
    assert.deepEqual(classifyWebhook(result([{ from: 0, to: 3, status: 204 }]), e), { kind: 'ok' });
    assert.deepEqual(
      classifyWebhook(
        result([
          { from: 0, to: 1, status: 200 },
          { from: 1, to: 3, status: 429, retryAfter: '7' },
        ]),
        e,
      ),
      { kind: 'throttle', only: [1, 2], afterMs: 7000, reason: 'webhook h answered HTTP 429' },
    );
    assert.equal(classifyWebhook(result([{ from: 0, to: 3, status: 503 }]), e).kind, 'retry');
    assert.equal(classifyWebhook(result([{ from: 0, to: 3, status: 408 }]), e).kind, 'retry');
    assert.deepEqual(classifyWebhook(result([{ from: 0, to: 3, status: 503, retryAfter: '2' }]), e), {
      kind: 'throttle',
      only: [0, 1, 2],
      afterMs: 2000,
      reason: 'webhook h answered HTTP 503',
    });
    assert.equal(classifyWebhook(result([{ from: 0, to: 3, error: Object.assign(new Error('reset'), { code: 'ECONNRESET' }) }]), e).kind, 'retry');
    assert.equal(
      classifyWebhook(result([{ from: 0, to: 3, error: Object.assign(new Error('bad cert'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }) }]), e).kind,
      'fatal',
    );
    for (const status of [400, 401, 403, 404, 301]) assert.equal(classifyWebhook(result([{ from: 0, to: 3, status }]), e).kind, 'fatal', String(status));
    assert.equal(retryAfterMs(new Date(Date.now() + 5000).toUTCString())! > 3000, true);
    assert.equal(retryAfterMs('soon'), undefined);

    // Live: 503 + Retry-After twice, then accepted; nothing lost or duplicated in what was accepted.
    let refusals = 0;
    respond = (r) => (r.headers['x-sink'] === 'w4' && refusals++ < 2 ? { status: 503, headers: { 'retry-after': '0' } } : { status: 200 });
    await create('acct-w4', spec('w4', { headers: ['X-Sink: w4'] }));
    const ids = await ingest('acct-w4', 4);
    await until(() => forPath('w4').flatMap(recordsOf).length >= 4, 'delivered after the 503s');
    assert.equal(refusals >= 2, true);
    assert.deepEqual(
      forPath('w4')
        .flatMap(recordsOf)
        .map((r) => r.log_id),
      ids,
    );

    // The connection drops twice without an answer: retried, then delivered once, in order.
    let drops = 0;
    respond = (r) => (r.headers['x-sink'] === 'w9' && drops++ < 2 ? { status: -1 } : { status: 200 });
    await create('acct-w9', spec('w9', { headers: ['X-Sink: w9'] }));
    const ids9 = await ingest('acct-w9', 3);
    await until(() => forPath('w9').flatMap(recordsOf).length >= 3, 'delivered after the dropped connections');
    assert.ok(drops >= 2);
    assert.deepEqual(
      forPath('w9')
        .flatMap(recordsOf)
        .map((r) => r.log_id),
      ids9,
    );

    // A receiver that hangs: the send is aborted before the lease runs out, then resent.
    let hung = 0;
    respond = (r) => (r.headers['x-sink'] === 'w10' && hung++ < 1 ? { status: -2 } : { status: 200 });
    await create('acct-w10', spec('w10', { headers: ['X-Sink: w10'] }));
    const ids10 = await ingest('acct-w10', 2);
    await until(() => forPath('w10').flatMap(recordsOf).length >= 2, 'delivered after the hung request', 20_000);
    assert.equal(hung >= 1, true);
    assert.deepEqual(
      forPath('w10')
        .flatMap(recordsOf)
        .map((r) => r.log_id),
      ids10,
    );

    // A 403: the sink's health names the status; nothing is skipped.
    respond = (r) => (r.headers['x-sink'] === 'w5' ? { status: 403 } : { status: 200 });
    await create('acct-w5', spec('w5', { headers: ['X-Sink: w5'] }));
    await ingest('acct-w5', 2);
    await until(async () => (await sinkStatus(store.sql, 'acct-w5', 'w5')).health === 'error', 'health error');
    const st = await sinkStatus(store.sql, 'acct-w5', 'w5');
    assert.match(st.errorMessage ?? '', /HTTP 403/);
    assert.equal(st.backlog, 2);
    respond = () => ({ status: 200 });
    await until(async () => (await sinkStatus(store.sql, 'acct-w5', 'w5')).backlog === 0, 'delivered once the receiver accepts', 15_000);
  });

  it('verify sends one signed test record; against a refusing receiver it names the cause', async () => {
    const v = await create('acct-w6', spec('w6', { headers: ['X-Sink: w6'] }));
    const row = await sinkByName(store.sql, 'acct-w6', 'w6');
    const ok = await verifySink(store, 'acct-w6', row!.spec);
    assert.equal(ok.ok, true);
    const probe = forPath('w6').find((r) => recordsOf(r).some((x) => x.operation === 'VerifyAuditLogSink'))!;
    assert.ok(await signatureValid(v.shownOnce['signing_secret']!, probe.headers, probe.body));
    respond = (r) => (r.headers['x-sink'] === 'w6' ? { status: 401 } : { status: 200 });
    const denied = await verifySink(store, 'acct-w6', row!.spec);
    assert.deepEqual([denied.ok, !denied.ok && denied.cause], [false, 'permission_denied']);
    respond = () => ({ status: 200 });
  });

  it('SSRF: loopback, private, link-local and metadata addresses are refused, literal or resolved, unless allowed', async () => {
    setPrivateNetworksAllowed(false);
    try {
      for (const host of [
        '127.0.0.1',
        '10.1.2.3',
        '172.16.0.9',
        '192.168.1.1',
        '169.254.169.254',
        '100.64.0.1',
        '0.0.0.0',
        '::1',
        'fe80::1',
        'fd00:ec2::254',
        '::ffff:127.0.0.1',
        '::ffff:7f00:1',
        '::',
        '224.0.0.1',
      ]) {
        assert.ok(forbiddenAddress(host), `${host} refused`);
      }
      for (const host of ['93.184.216.34', '8.8.8.8', '2606:4700::1111', '::ffff:8.8.8.8']) assert.equal(forbiddenAddress(host), undefined, `${host} allowed`);
      // Random addresses in 10/8 and 127/8 are all refused.
      for (let i = 0; i < 200; i++) {
        const b = randomBytes(3);
        assert.ok(forbiddenAddress(`10.${b[0]}.${b[1]}.${b[2]}`));
        assert.ok(forbiddenAddress(`127.${b[0]}.${b[1]}.${b[2]}`));
      }
      // A literal is refused at create time, naming the field.
      await assert.rejects(
        create('acct-w7', spec('w7', { url: 'https://169.254.169.254/latest/meta-data' })),
        /spec\.webhook_sink\.url: 169\.254\.169\.254 is a loopback, private/,
      );
      await assert.rejects(create('acct-w7', spec('w7', { url: `https://[::1]:${port}/x` })), /spec\.webhook_sink\.url/);
      // A name is checked after DNS resolution, on the connection: localhost → 127.0.0.1 is refused.
      await create('acct-w8', spec('w8', { headers: ['X-Sink: w8'] }));
      await ingest('acct-w8', 1);
      await until(async () => (await sinkStatus(store.sql, 'acct-w8', 'w8')).health === 'error', 'refused connection');
      assert.match((await sinkStatus(store.sql, 'acct-w8', 'w8')).errorKind ?? '', /user_configuration/);
      assert.match((await sinkStatus(store.sql, 'acct-w8', 'w8')).errorMessage ?? '', /refusing to connect to localhost/);
      assert.equal(forPath('w8').length, 0, 'nothing reached the loopback receiver');
    } finally {
      setPrivateNetworksAllowed(true);
    }
  });
});

describe('/api/v1/sinks: webhook and filters through the API', () => {
  let fx: StoreFixture;
  let store: AuditStore;
  let t: ControlFixture;
  let app: FastifyInstance;
  before(async () => {
    configureSecretBox(new SecretBox(randomBytes(32)));
    setPrivateNetworksAllowed(false);
    fx = await createFixture(engine0);
    store = await fx.open();
    t = await createControlFixture(store, 'owner-api@example.com');
    app = await buildApp({ store, config: resolveConfig({}), auth: t.control.apiAuth, register: (a) => t.control.registerRoutes(a) });
  });
  after(async () => {
    await app?.close();
    await store?.close();
    await fx?.destroy();
  });
  const api = async (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: unknown) => {
    const res = await app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${t.owner.apiKey}` },
      ...(payload !== undefined ? { payload: payload as object } : {}),
    });
    return { status: res.statusCode, body: res.json() as Record<string, unknown> };
  };
  const changes = async () => (await t.records(t.owner.accountId)).filter((r) => r.operation === 'UpdateAccount' && r.status === 'OK').length;

  it('creates a webhook sink: 201 with the signing secret once; reads say "set"; one UpdateAccount record', async () => {
    const before = await changes();
    const res = await api('POST', '/api/v1/sinks', {
      spec: {
        name: 'hec',
        webhook_sink: {
          url: 'https://splunk.example.com:8088/services/collector/raw?channel=chan-secret-7',
          format: 'ndjson',
          headers: ['Authorization: Splunk abc-123'],
        },
      },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.match(String(res.body['signing_secret']), /^whsec_/);
    assert.equal(res.body['kind'], 'webhook');
    const read = await api('GET', '/api/v1/sinks/hec');
    assert.equal(read.body['signing_secret'], undefined);
    assert.deepEqual((read.body['spec'] as { webhook_sink: { headers: string[] } }).webhook_sink.headers, ['Authorization: set']);
    assert.ok(!JSON.stringify((await api('GET', '/api/v1/sinks')).body).includes('abc-123'));
    assert.equal(await changes(), before + 1);
    const rec = (await t.records(t.owner.accountId)).filter((r) => r.operation === 'UpdateAccount').pop()!;
    assert.equal(rec.details['sink_destination'], 'https://splunk.example.com:8088/services/collector/raw');
    assert.ok(
      !JSON.stringify(rec).includes('abc-123') && !JSON.stringify(rec).includes('chan-secret-7'),
      'no secret (header or query string) in the audit record',
    );
  });

  it('bad input is a 400 naming the field; nothing saved, no change audited', async () => {
    const cases: [unknown, RegExp][] = [
      [{ url: 'http://example.com/x' }, /spec\.webhook_sink\.url must be https/],
      [{ url: 'not a url' }, /spec\.webhook_sink\.url is not a URL/],
      [{ url: 'https://example.com/x', headers: ['NoColonHere'] }, /spec\.webhook_sink\.headers\[0\] must be "Name: value"/],
      [{ url: 'https://example.com/x', headers: ['Bad Name: v'] }, /spec\.webhook_sink\.headers\[0\]: "Bad Name" is not a header name/],
      [{ url: 'https://example.com/x', headers: ['X-A: a\r\nX-B: b'] }, /spec\.webhook_sink\.headers\[0\]: the value of X-A/],
      [{ url: 'https://example.com/x', headers: ['Content-Type: text/plain'] }, /set by auditstream/],
      [{ url: 'https://example.com/x', format: 'xml' }, /spec\.webhook_sink\.format must be json or ndjson/],
      [{ url: 'https://example.com/x', ca_pem: 'garbage' }, /spec\.webhook_sink\.ca_pem/],
      [{ url: 'https://10.0.0.1/x' }, /spec\.webhook_sink\.url: 10\.0\.0\.1/],
    ];
    const filters: [unknown, RegExp][] = [
      [{ include_operations: ['NoSuchOp'] }, /spec\.filter\.include_operations: "NoSuchOp" is not a known operation/],
      [{ categories: ['LOG_CATEGORY_NOPE'] }, /spec\.filter\.categories: "LOG_CATEGORY_NOPE" is not a known category/],
      [{ status: 'WARN' }, /spec\.filter\.status must be OK or ERROR/],
      [{ include_operations: ['DeleteUser'], exclude_operations: ['DeleteUser'] }, /spec\.filter matches no record/],
      [{ include_operations: ['DeleteUser'], categories: ['LOG_CATEGORY_SYSTEM'] }, /spec\.filter matches no record/],
      [{ include_operations: [] }, /spec\.filter\.include_operations must name at least one/],
      [{ bogus: 1 }, /spec\.filter\.bogus is not a filter field/],
    ];
    const before = await changes();
    const all: [unknown, RegExp][] = [
      ...cases.map(([w, re]) => [{ spec: { name: 'bad', webhook_sink: w } }, re] as [unknown, RegExp]),
      ...filters.map(([f, re]) => [{ spec: { name: 'bad', webhook_sink: { url: 'https://example.com/x' }, filter: f } }, re] as [unknown, RegExp]),
    ];
    for (const [body, re] of all) {
      const res = await api('POST', '/api/v1/sinks', body);
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${JSON.stringify(res.body)}`);
      const err = res.body['error'] as { code: string; message: string };
      assert.equal(err.code, 'AS_ERR_INVALID_ARGUMENT');
      assert.match(err.message, re);
      assert.ok(!err.message.includes('\n'));
    }
    assert.equal((await api('GET', '/api/v1/sinks/bad')).status, 404, 'nothing saved');
    assert.equal(await changes(), before, 'no change audited');
  });

  it('a Kinesis sink with a filter: created through /api/v1, read back through the Ops API without it, kept by an Ops update', async () => {
    const res = await api('POST', '/api/v1/sinks', {
      spec: {
        name: 'errors-only',
        kinesis_sink: { role_name: 'auditstream-writer', destination_uri: 'arn:aws:kinesis:us-east-1:111122223333:stream/audit', region: 'us-east-1' },
        filter: { status: 'ERROR', categories: ['LOG_CATEGORY_ADMIN'] },
      },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const ops = (await t.call('GetAccountAuditLogSink', { name: 'errors-only' }))['sink'] as { spec: Record<string, unknown> };
    assert.deepEqual(Object.keys(ops.spec).sort(), ['enabled', 'kinesisSink', 'name']);
    await t.call('UpdateAccountAuditLogSink', { spec: { ...ops.spec, enabled: false }, resourceVersion: '' });
    const v1 = await api('GET', '/api/v1/sinks/errors-only');
    assert.deepEqual((v1.body['spec'] as Record<string, unknown>)['filter'], { status: 'ERROR', categories: ['LOG_CATEGORY_ADMIN'] });
    assert.equal((v1.body['spec'] as Record<string, unknown>)['enabled'], false);
  });
});
