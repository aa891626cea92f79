/**
 * The webhook sink as an operator runs it: the real `auditstream serve` (private networks allowed
 * for the local receiver, a generated sink secrets key) and `auditstream sinks create --webhook-*`
 * with a filter. The signing secret is printed once by `create --json` and verifies what the
 * local HTTPS receiver gets; reads never show it; bad flags are one-line errors naming the field.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, startServe, type ServeHandle, stopServe } from './helpers/cli.js';
import { makeTestTls, type TestTls } from './helpers/tls.js';
import { until } from './helpers/fake-sink.js';

/** The receiver's check, written from the Standard Webhooks text (not the sender's module). */
function verify(secret: string, headers: Record<string, string | string[] | undefined>, body: Buffer): boolean {
  const key = Buffer.from(secret.split('_')[1]!, 'base64');
  const expected = createHmac('sha256', key)
    .update(Buffer.concat([Buffer.from(`${headers['webhook-id']}.${headers['webhook-timestamp']}.`), body]))
    .digest();
  return String(headers['webhook-signature'])
    .split(' ')
    .some((e) => {
      const sig = Buffer.from(e.replace(/^v1,/, ''), 'base64');
      return e.startsWith('v1,') && sig.length === expected.length && timingSafeEqual(sig, expected);
    });
}

describe('webhook sink through serve and the CLI', () => {
  let dir: string;
  let tls: TestTls;
  let server: Server;
  let serve: ServeHandle;
  let cliEnv: Record<string, string>;
  const got: { headers: Record<string, string | string[] | undefined>; body: Buffer }[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'auditstream-webhook-cli-'));
    tls = makeTestTls();
    server = createServer({ key: tls.keyPem, cert: tls.certPem }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        got.push({ headers: req.headers, body: Buffer.concat(chunks) });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    writeFileSync(join(dir, 'ca.pem'), tls.caPem);
    serve = await startServe(
      {
        DATABASE_URL: join(dir, 'audit.db'),
        AUDITSTREAM_DATA_DIR: join(dir, 'data'),
        AUDITSTREAM_FLUSH_INTERVAL_MS: '50',
        AUDITSTREAM_SINK_ALLOW_PRIVATE_NETWORKS: 'true',
      },
      dir,
    );
    const initial = JSON.parse(readFileSync(join(dir, 'data', 'initial-admin.json'), 'utf8')) as { api_key: string };
    cliEnv = { AUDITSTREAM_URL: serve.url, AUDITSTREAM_API_KEY: initial.api_key };
  });
  after(async () => {
    await stopServe(serve);
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    tls?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('create --json prints the signing secret once; the filtered records arrive signed; reads say "set"', async () => {
    const port = (server.address() as AddressInfo).port;
    const c = await runCli(
      [
        'sinks',
        'create',
        'hook',
        '--webhook-url',
        `https://localhost:${port}/in`,
        '--webhook-format',
        'ndjson',
        '--webhook-header',
        'DD-API-KEY: dd-key-123',
        '--webhook-ca-file',
        join(dir, 'ca.pem'),
        '--include-operations',
        'UpdateAccount,DeleteUser',
        '--json',
      ],
      cliEnv,
      dir,
    );
    assert.equal(c.code, 0, c.stderr);
    const created = JSON.parse(c.stdout) as { signing_secret: string; kind: string; spec: { filter: unknown } };
    assert.match(created.signing_secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    assert.equal(created.kind, 'webhook');
    assert.deepEqual(created.spec.filter, { include_operations: ['UpdateAccount', 'DeleteUser'] });
    // The sink's own creation is an UpdateAccount record: the first it delivers.
    await until(() => got.length > 0, 'the creation record delivered', 15_000);
    const first = got[0]!;
    assert.equal(first.headers['dd-api-key'], 'dd-key-123');
    assert.equal(first.headers['content-type'], 'application/x-ndjson');
    assert.ok(verify(created.signing_secret, first.headers, first.body), 'signature verifies with the printed secret');
    const records = first.body
      .toString('utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { operation: string; details: Record<string, unknown> });
    assert.equal(records[0]!.operation, 'UpdateAccount');
    assert.equal(records[0]!.details['sink_name'], 'hook');

    const get = await runCli(['sinks', 'get', 'hook'], cliEnv, dir);
    assert.equal(get.code, 0, get.stderr);
    assert.ok(!get.stdout.includes(created.signing_secret.slice(6)) && !get.stdout.includes('dd-key-123'));
    assert.match(get.stdout, /"DD-API-KEY: set"/);
    const list = JSON.parse((await runCli(['sinks', 'list'], cliEnv, dir)).stdout) as { name: string; kind?: string; spec: Record<string, unknown> }[];
    assert.deepEqual(
      list.map((s) => [s.name, s.kind, Object.keys(s.spec).includes('webhook_sink')]),
      [['hook', 'webhook', true]],
    );
    const status = JSON.parse((await runCli(['sinks', 'status', 'hook'], cliEnv, dir)).stdout) as { filteredCount: number };
    assert.equal(typeof status.filteredCount, 'number');
    // The key file was generated with mode 0600 and holds no sink secret in clear in the database.
    assert.equal(statSync(join(dir, 'data', 'secrets-key')).mode & 0o777, 0o600);
    assert.ok(!readFileSync(join(dir, 'audit.db')).includes(Buffer.from('dd-key-123')));

    // Rotation through the CLI: a new secret printed; both verify the next request.
    const before = got.length;
    const rot = await runCli(['sinks', 'update', 'hook', '--webhook-rotate-secret'], cliEnv, dir);
    assert.equal(rot.code, 0, rot.stderr);
    const second = (JSON.parse(rot.stdout) as { signing_secret: string }).signing_secret;
    assert.ok(second && second !== created.signing_secret);
    await until(() => got.length > before, 'the update record delivered', 15_000);
    const next = got[got.length - 1]!;
    assert.ok(verify(second, next.headers, next.body) && verify(created.signing_secret, next.headers, next.body));
    assert.equal(next.headers['dd-api-key'], 'dd-key-123', 'the header value was kept');
  });

  it('bad flags: one-line errors naming the field, nothing created', async () => {
    const cases: [string[], RegExp][] = [
      [['--webhook-url', 'http://example.com/x'], /400 spec\.webhook_sink\.url must be https/],
      [['--webhook-url', 'https://example.com/x', '--webhook-header', 'no-colon'], /400 spec\.webhook_sink\.headers\[0\] must be "Name: value"/],
      [['--webhook-url', 'https://example.com/x', '--include-operations', 'Nope'], /400 spec\.filter\.include_operations: "Nope" is not a known operation/],
      [['--webhook-url', 'https://example.com/x', '--kinesis-region', 'us-east-1'], /one destination only/],
    ];
    for (const [flags, re] of cases) {
      const r = await runCli(['sinks', 'create', 'bad', ...flags], cliEnv, dir);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    const gone = await runCli(['sinks', 'get', 'bad'], cliEnv, dir);
    assert.equal(gone.code, 1);
  });
});
