/**
 * Security hardening over real HTTP servers and real databases (SQLite and PostgreSQL):
 * - login attempts are reserved before the password is checked, atomically across processes;
 * - nobody obtains or changes a credential of a user ranked above themselves, and every owner
 *   has a password from the start;
 * - refused Cloud API reads are recorded;
 * - input edges: X-Request-Id, caller_ip_address entries, `__proto__` keys, empty or repeated
 *   query parameters, oversized headers;
 * - headers on every answer, Retry-After on every 429, HSTS under TLS, /metrics access, file modes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { mkdtempSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createFixture, engines, type StoreFixture } from './helpers/stores.js';
import { buildControlApp, controlSuite, listenLocal, servedSuite } from './helpers/suites.js';
import { buildApp } from '../src/api/app.js';
import { resolveConfig, type Config } from '../src/config.js';
import { createControlPlane } from '../src/control/control-plane.js';
import { createAccount } from '../src/control/accounts.js';
import { refusedReads } from '../src/control/refusals.js';
import { ACCOUNT_ROLES, ROLE_RANK } from '../src/control/rbac.js';
import { isCallerIpEntry, callerIpChainProblem } from '../src/record/caller-ip.js';
import { MAX_REQUEST_ID_CHARS, requestIdProblem } from '../src/api/request-id.js';
import { parseMetricsAccess } from '../src/api/metrics-access.js';
import { isAuditError } from '../src/errors.js';
import type { AuditStore } from '../src/store/store.js';
import { validateEmitted } from '../src/record/schema.js';
import { makeTestTls } from './helpers/tls.js';
import { runCli } from './helpers/cli.js';

/** A server of its own over `store` (a "process"): its own control plane and HTTP app. */
async function serve(store: AuditStore, env: Record<string, string>) {
  const config = resolveConfig(env);
  const app = await buildControlApp(store, createControlPlane({ store, config }), config, { onRefused: true });
  return { app, base: await listenLocal(app) };
}

const json = { 'content-type': 'application/json' };
const codeOf = (err: unknown) => (isAuditError(err) ? err.code : String(err));

for (const engine of engines()) {
  describe(`login attempts are reserved atomically: ${engine}`, () => {
    let fx: StoreFixture;
    let store1: AuditStore;
    let store2: AuditStore;
    let a1: { app: FastifyInstance; base: string };
    let a2: { app: FastifyInstance; base: string };

    before(async () => {
      fx = await createFixture(engine);
      store1 = await fx.open();
      // A second "process": its own connection, control plane and HTTP server on the same database.
      store2 = await fx.open();
      a1 = await serve(store1, { AUDITSTREAM_TRUSTED_PROXIES: 'loopback' });
      a2 = await serve(store2, { AUDITSTREAM_TRUSTED_PROXIES: 'loopback' });
    });
    after(async () => {
      await a1.app.close();
      await a2.app.close();
      await store1.close();
      await store2.close();
      await fx.destroy();
    });

    const login = (base: string, email: string, password: string, ip = '198.51.100.50') =>
      fetch(`${base}/auth/login`, { method: 'POST', headers: { ...json, 'x-forwarded-for': ip }, body: JSON.stringify({ email, password }) });

    it('a concurrent burst of wrong passwords (and the right one) checks at most the limit; the rest get 429 with Retry-After', async () => {
      const password = 'the right password, long enough';
      const { account_id } = await createAccount(store1, { email: 'burst@example.com', password });
      const burst = [...Array.from({ length: 40 }, (_, i) => `wrong password number ${i}`), password];
      // Each attempt from its own client address, so only the per-email limit applies.
      const answers = await Promise.all(burst.map((p, i) => login(i % 2 ? a1.base : a2.base, 'burst@example.com', p, `198.51.100.${i + 1}`)));
      const statuses = answers.map((r) => r.status);
      const wrongChecked = statuses.slice(0, 40).filter((s) => s === 401).length;
      assert.equal(wrongChecked, 5, `exactly the per-email limit of wrong passwords was checked: ${statuses.join(',')}`);
      assert.ok(['200', '429'].includes(String(statuses[40])), `the right password: ${statuses[40]}`);
      for (const r of answers.filter((x) => x.status === 429)) {
        const after = Number(r.headers.get('retry-after'));
        assert.ok(Number.isInteger(after) && after >= 1 && after <= 900, `Retry-After ${r.headers.get('retry-after')}`);
        assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'AS_ERR_RATE_LIMITED');
      }
      assert.equal(statuses.filter((s) => s !== 401 && s !== 429 && s !== 200).length, 0);

      // A burst once the limit is reached: nothing is checked, the right password included.
      const again = await Promise.all(
        [...Array.from({ length: 10 }, (_, i) => `still wrong ${i}`), password].map((p, i) =>
          login(i % 2 ? a1.base : a2.base, 'burst@example.com', p, `198.51.100.${100 + i}`),
        ),
      );
      assert.deepEqual(
        again.map((r) => r.status),
        Array(11).fill(429),
      );
      // Exactly the checked failures were recorded in the account (UserLogin ERROR).
      const page = await store1.query({ accountId: account_id, operation: 'UserLogin', status: 'ERROR' }, { order: 'asc', limit: 100 });
      assert.equal(page.items.length, 5);
    });

    it('the per-IP limit is keyed on the evaluated caller address, so one address cannot lock out everyone', async () => {
      // 20 failures from one client (behind the trusted proxy), over many emails.
      const attacker = '203.0.113.66';
      const results = await Promise.all(
        Array.from({ length: 30 }, (_, i) => login(i % 2 ? a1.base : a2.base, `nobody-${i}@example.com`, 'not a password at all', attacker)),
      );
      assert.equal(results.filter((r) => r.status === 401).length, 20);
      assert.equal(results.filter((r) => r.status === 429).length, 10);
      // Someone else behind the same proxy is not locked out, and a real login works.
      assert.equal((await login(a1.base, 'nobody-x@example.com', 'not a password at all', '203.0.113.67')).status, 401);
      await createAccount(store1, { email: 'bystander@example.com', password: 'bystander password ok' });
      assert.equal((await login(a2.base, 'bystander@example.com', 'bystander password ok', '203.0.113.68')).status, 200);
    });

    it('a successful login gives its attempt back', async () => {
      await createAccount(store1, { email: 'often@example.com', password: 'often logs in, fine' });
      for (let i = 0; i < 8; i++)
        assert.equal((await login(i % 2 ? a1.base : a2.base, 'often@example.com', 'often logs in, fine', '198.51.100.200')).status, 200, `login ${i + 1}`);
    });
  });

  describe(`nobody obtains a credential of a higher-ranked user: ${engine}`, () => {
    const s = servedSuite(engine, { onRefused: true });

    const invite = (userId: string, key: string) =>
      fetch(`${s.base}/api/v1/users/${userId}/invitation`, { method: 'POST', headers: { authorization: `Bearer ${key}` } });

    it('every new owner has a password (generated when none is given), so no invitation can claim the account', async () => {
      const created = await createAccount(s.store, { email: 'fresh-owner@example.com' });
      assert.ok(created.password && created.password.length >= 16);
      const res = await fetch(`${s.base}/auth/login`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ email: 'fresh-owner@example.com', password: created.password }),
      });
      assert.equal(res.status, 200);
      assert.equal(((await res.json()) as { role: string }).role, 'ROLE_OWNER');
      const given = await createAccount(s.store, { email: 'given-owner@example.com', password: 'a password the operator chose' });
      assert.equal(given.password, undefined, 'a given password is never echoed');
    });

    it('`auditstream accounts create` without --password prints a generated one, once, that logs in', async () => {
      const res = await runCli(['accounts', 'create', '--email', `cli-owner-${engine}@example.com`, '--json'], { DATABASE_URL: s.fx.databaseUrl });
      assert.equal(res.code, 0, res.stderr);
      const out = JSON.parse(res.stdout) as { account_id: string; password?: string };
      assert.ok(out.password && out.password.length >= 16);
      const login = await fetch(`${s.base}/auth/login`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ email: `cli-owner-${engine}@example.com`, password: out.password }),
      });
      assert.equal(login.status, 200);
      const page = await s.store.query({ accountId: out.account_id }, { order: 'asc', limit: 100 });
      assert.ok(!page.items.some((r) => r.recordJson.includes(out.password!)), 'the password is in no record');
    });

    it('a Global Admin cannot take over the Owner, even an Owner without a password (older databases)', async () => {
      const admin = await s.t.addUser('ROLE_ADMIN');
      await s.store.transaction((tx) => tx.run('UPDATE users SET password_hash = NULL WHERE id = ?', [s.t.owner.userId]));
      const before = (await s.t.records(s.t.owner.accountId)).length;
      const res = await invite(s.t.owner.userId, admin.apiKey);
      assert.equal(res.status, 403, await res.clone().text());
      const added = (await s.t.records(s.t.owner.accountId)).slice(before);
      assert.deepEqual(
        added.map((r) => [r.operation, r.status, r.principal.id]),
        [['InviteUsers', 'ERROR', admin.userId]],
      );
      const row = await s.store.sql.get<{ invite_token_hash: string | null }>('SELECT invite_token_hash FROM users WHERE id = ?', [s.t.owner.userId]);
      assert.equal(row?.invite_token_hash ?? null, null, 'no invitation was issued');
    });

    it('invitations: allowed exactly when the target ranks no higher than the caller (every pair of roles)', async () => {
      const problems: string[] = [];
      for (const callerRole of ['ROLE_OWNER', 'ROLE_ADMIN'] as const) {
        const caller = await s.t.addUser(callerRole);
        for (const targetRole of ACCOUNT_ROLES) {
          const target = await s.t.addUser(targetRole);
          const res = await invite(target.userId, caller.apiKey);
          const want = ROLE_RANK[targetRole] <= ROLE_RANK[callerRole] ? 200 : 403;
          if (res.status !== want) problems.push(`${callerRole} inviting ${targetRole}: ${res.status}, expected ${want}`);
        }
      }
      assert.deepEqual(problems, []);
    });

    it("a Global Admin cannot grant, change or delete above itself, nor touch the Owner's keys", async () => {
      const admin = await s.t.addUser('ROLE_ADMIN');
      const dev = await s.t.addUser('ROLE_DEVELOPER');
      const deny = async (rpc: string, req: Record<string, unknown>) => {
        await assert.rejects(s.t.call(rpc, req, admin), (err: unknown) => codeOf(err) === 'AS_ERR_PERMISSION_DENIED', rpc);
      };
      await deny('CreateUser', { spec: { email: 'new-owner@example.com', access: { accountAccess: { role: 'ROLE_OWNER' } } } });
      await deny('UpdateUser', { userId: s.t.owner.userId, spec: { email: s.t.owner.email, access: { accountAccess: { role: 'ROLE_OWNER' } } } });
      await deny('UpdateUser', { userId: dev.userId, spec: { email: dev.email, access: { accountAccess: { role: 'ROLE_OWNER' } } } });
      await deny('DeleteUser', { userId: s.t.owner.userId });
      await deny('CreateApiKey', { spec: { ownerId: s.t.owner.userId, ownerType: 'OWNER_TYPE_USER', displayName: 'mine now' } });
      const ownerKeyId = s.t.owner.apiKey.split('_')[1]!;
      await deny('UpdateApiKey', { keyId: ownerKeyId, spec: { ownerId: s.t.owner.userId, displayName: 'renamed', disabled: true } });
      await deny('DeleteApiKey', { keyId: ownerKeyId });
      // Keys of users it outranks or equals stay manageable, as the permissions reference says.
      const devKeyId = dev.apiKey.split('_')[1]!;
      await s.t.call('UpdateApiKey', { keyId: devKeyId, spec: { ownerId: dev.userId, displayName: 'renamed by admin' } }, admin);
      await s.t.call('DeleteApiKey', { keyId: devKeyId }, admin);
      // The owner's key still works.
      assert.ok((await s.t.call('GetCurrentIdentity', {}))['user']);
    });
  });

  describe(`refused Cloud API reads are recorded: ${engine}`, () => {
    const s = controlSuite(engine);

    it("GetAuditLogs, sink reads and other users' keys leave one ERROR record named after the RPC, in the caller's account", async () => {
      const dev = await s.t.addUser('ROLE_DEVELOPER');
      const other = await s.t.addUser('ROLE_READ');
      const cases: [string, Record<string, unknown>, Record<string, unknown>][] = [
        ['GetAuditLogs', {}, {}],
        ['GetAccountAuditLogSinks', {}, {}],
        ['GetAccountAuditLogSink', { name: 'x' }, {}],
        ['GetApiKeys', { ownerId: other.userId }, { target_users: [other.userId] }],
      ];
      for (const [rpc, req, details] of cases) {
        const before = (await s.t.records(dev.accountId)).length;
        await assert.rejects(s.t.call(rpc, req, dev, { requestId: `req-${rpc}` }), (err: unknown) => codeOf(err) === 'AS_ERR_PERMISSION_DENIED');
        const added = (await s.t.records(dev.accountId)).slice(before);
        assert.equal(added.length, 1, rpc);
        const r = added[0]!;
        assert.deepEqual([r.operation, r.status, r.level, r.principal.id, r.request_id], [rpc, 'ERROR', 'LOG_LEVEL_ERROR', dev.userId, `req-${rpc}`]);
        for (const [k, v] of Object.entries(details)) assert.deepEqual(r.details[k], v);
        assert.match(String(r.details['reason']), /^AS_ERR_PERMISSION_DENIED/);
        assert.ok(validateEmitted(r).ok);
      }
      // Allowed reads stay unrecorded.
      const before = (await s.t.records(dev.accountId)).length;
      await s.t.call('GetApiKeys', {}, dev);
      assert.equal((await s.t.records(dev.accountId)).length, before);
      await refusedReads(s.t.control.cp).flushAll();
    });
  });

  describe(`input edges and answer headers: ${engine}`, () => {
    const s = servedSuite(engine, { onRefused: true });
    let owner: { 'content-type': string; authorization: string };
    before(() => {
      owner = { ...json, authorization: `Bearer ${s.t.owner.apiKey}` };
    });

    const errorOf = async (r: Response) => ((await r.json()) as { error: { code: string; message: string; field?: string } }).error;

    it('X-Request-Id: 1-128 printable ASCII characters, stored as request_id; anything else refused naming the header (every route)', async () => {
      const ok = 'A-z0~!'.padEnd(MAX_REQUEST_ID_CHARS, 'x');
      const created = await fetch(`${s.base}/cloud/namespaces`, {
        method: 'POST',
        headers: { ...owner, 'x-request-id': ok },
        body: JSON.stringify({ spec: { name: `rid-${engine}`, regions: ['aws-us-east-1'], retention_days: 30, api_key_auth: { enabled: true } } }),
      });
      assert.equal(created.status, 200, await created.clone().text());
      assert.equal((await s.t.records(s.t.owner.accountId)).pop()!.request_id, ok);
      const bad = ['', 'x'.repeat(MAX_REQUEST_ID_CHARS + 1), 'x'.repeat(15_000), 'has space', 'tab\there', 'naïve'];
      const routes: [string, string][] = [
        ['GET', '/api/v1/audit-logs'],
        ['POST', '/cloud/users'],
        ['POST', '/auth/login'],
        ['GET', '/healthz'],
        ['GET', '/api/v1/audit-log-sinks/x/status'],
      ];
      const before = await s.store.count();
      for (const id of bad) {
        for (const [method, path] of routes) {
          const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
            const req = httpRequest(`${s.base}${path}`, { method, headers: { ...owner, 'x-request-id': id } }, (r) => {
              let body = '';
              r.on('data', (c: Buffer) => (body += c.toString()));
              r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
            });
            req.on('error', reject);
            req.end(method === 'POST' ? '{}' : undefined);
          });
          assert.equal(res.status, 400, `${JSON.stringify(id.slice(0, 20))} on ${path}: ${res.body}`);
          assert.match(res.body, /X-Request-Id/);
        }
      }
      assert.equal(await s.store.count(), before, 'a refused request id is stored nowhere');
      // gRPC metadata goes through the same check.
      await assert.rejects(s.t.call('GetUsers', {}, s.t.owner, { requestId: 'x'.repeat(500) }), (err: unknown) => codeOf(err) === 'AS_ERR_INVALID_ARGUMENT');
      // Property: random printable strings of allowed length pass, one bad character anywhere fails.
      for (let i = 0; i < 300; i++) {
        const len = 1 + Math.floor(Math.random() * MAX_REQUEST_ID_CHARS);
        const chars = Array.from({ length: len }, () => String.fromCharCode(0x21 + Math.floor(Math.random() * 94)));
        assert.equal(requestIdProblem(chars.join('')), undefined);
        chars[Math.floor(Math.random() * len)] = String.fromCharCode([0, 9, 32, 127, 0xe9, 0x2028][i % 6]!);
        assert.ok(requestIdProblem(chars.join('')));
      }
    });

    it('caller_ip_address entries are addresses or host names; anything else is recorded as "unknown"', async () => {
      const res = await fetch(`${s.base}/cloud/namespaces`, {
        method: 'POST',
        headers: { ...owner, 'x-forwarded-for': '<script>alert(1)</script>, proxy.example.com:8080, _hidden, 1.2.3.999, 203.0.113.9' },
        body: JSON.stringify({ spec: { name: `xff-${engine}`, regions: ['aws-us-east-1'], retention_days: 30, api_key_auth: { enabled: true } } }),
      });
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal(
        (await s.t.records(s.t.owner.accountId)).pop()!.caller_ip_address,
        'unknown, proxy.example.com:8080, _hidden, unknown, 203.0.113.9, 127.0.0.1',
      );
      // Property: random strings are either accepted entries or refused by the chain check, never both ways.
      for (let i = 0; i < 500; i++) {
        const e = Array.from({ length: 1 + Math.floor(Math.random() * 30) }, () => String.fromCharCode(32 + Math.floor(Math.random() * 95)))
          .join('')
          .replace(/,/g, '');
        assert.equal(callerIpChainProblem(`10.0.0.1, ${e}`) === undefined, isCallerIpEntry(e.trim()), e);
      }
      for (const good of ['10.0.0.1', '2001:db8::1', '[2001:db8::1]:443', '10.0.0.1:8080', 'lb-1.internal', 'unknown', '_gazonk'])
        assert.ok(isCallerIpEntry(good), good);
      for (const bad of ['', 'a b', '1.2.3.999', '<x>', 'x'.repeat(101), '-lead.example', 'host:99999', '999.1.1.1'])
        assert.equal(isCallerIpEntry(bad), false, bad);
    });

    it('"__proto__" keys are refused with an accurate 400 naming where; bad JSON says it is bad JSON', async () => {
      const bodies: [string, string, Record<string, string>][] = [
        ['/api/v1/audit-logs', '{"records":[{"details":{"__proto__":{"polluted":true}}}]}', owner],
        ['/auth/login', '{"email":"a@example.com","password":"whatever whatever","__proto__":{"x":1}}', json],
        // An escaped spelling parses to the same key.
        ['/api/v1/audit-logs', '{"records":[{"details":{"\\u005f_proto__":{"polluted":true}}}]}', owner],
        ['/cloud/users', '{"spec":{"email":"p@example.com","constructor":{"prototype":{"x":1}}}}', owner],
      ];
      for (const [path, body, headers] of bodies) {
        const res = await fetch(`${s.base}${path}`, { method: 'POST', headers, body });
        assert.equal(res.status, 400, path);
        const text = await res.text();
        assert.match(text, /__proto__|constructor\.prototype/, text);
        assert.doesNotMatch(text, /not valid JSON/);
      }
      assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
      const broken = await fetch(`${s.base}/api/v1/audit-logs`, { method: 'POST', headers: owner, body: '{"records": [' });
      assert.equal(broken.status, 400);
      assert.match((await errorOf(broken)).message, /not valid JSON/);
    });

    it('query parameters: empty, repeated or unknown ones are a 400 naming the parameter (never "another account")', async () => {
      const cases: [string, string][] = [
        ['account=', 'account'],
        ['since=', 'since'],
        ['operation=', 'operation'],
        ['limit=', 'limit'],
        [`account=${s.t.owner.accountId}&account=${s.t.owner.accountId}`, 'account'],
        ['acount=x', 'acount'],
        ['account=' + encodeURIComponent('bad account!'), 'account'],
      ];
      for (const path of ['/api/v1/audit-logs', '/api/v1/audit-logs/export']) {
        for (const [q, field] of cases) {
          const res = await fetch(`${s.base}${path}?${q}`, { headers: owner });
          assert.equal(res.status, 400, `${path}?${q}`);
          const e = await errorOf(res);
          assert.equal(e.code, 'AS_ERR_INVALID_ARGUMENT');
          assert.equal(e.field, field, e.message);
        }
      }
      const record = {
        emit_time: '2026-01-01T00:00:00Z',
        level: 'LOG_LEVEL_INFO',
        operation: 'X',
        status: 'OK',
        category: 'LOG_CATEGORY_ADMIN',
        principal: { id: 'p', type: 'user', name: 'p' },
      };
      const empty = await fetch(`${s.base}/api/v1/audit-logs`, { method: 'POST', headers: owner, body: JSON.stringify({ account_id: '', records: [record] }) });
      assert.equal(empty.status, 400);
      assert.equal((await errorOf(empty)).field, 'account_id');
    });

    it('431 (headers too large) answers in the error shape', async () => {
      const res = await new Promise<{ status: number; body: string; headers: Record<string, unknown> }>((resolve, reject) => {
        const req = httpRequest(`${s.base}/healthz`, { headers: { 'x-padding': 'p'.repeat(20_000) } }, (r) => {
          let body = '';
          r.on('data', (c: Buffer) => (body += c.toString()));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, body, headers: r.headers }));
        });
        req.on('error', reject);
        req.end();
      });
      assert.equal(res.status, 431);
      const parsed = JSON.parse(res.body) as { error: { code: string; message: string } };
      assert.equal(parsed.error.code, 'AS_ERR_HEADERS_TOO_LARGE');
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
    });

    it('every answer has nosniff and no-store; every 429 has Retry-After', async () => {
      const answers = [
        await fetch(`${s.base}/healthz`),
        await fetch(`${s.base}/nope`),
        await fetch(`${s.base}/api/v1/audit-logs`, { headers: owner }),
        await fetch(`${s.base}/cloud/users`, { headers: owner }),
        await fetch(`${s.base}/auth/login`, { method: 'POST', headers: json, body: '{}' }),
        await fetch(`${s.base}/api/v1/audit-logs`),
      ];
      for (const r of answers) {
        assert.equal(r.headers.get('x-content-type-options'), 'nosniff', r.url);
        assert.equal(r.headers.get('cache-control'), 'no-store', r.url);
        assert.equal(r.headers.get('strict-transport-security'), null, 'no HSTS over plain HTTP');
      }
      for (let i = 0; i < 6; i++)
        await fetch(`${s.base}/auth/login`, {
          method: 'POST',
          headers: json,
          body: JSON.stringify({ email: 'limited@example.com', password: 'wrong wrong wrong' }),
        });
      const limited = await fetch(`${s.base}/auth/login`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ email: 'limited@example.com', password: 'wrong wrong wrong' }),
      });
      assert.equal(limited.status, 429);
      assert.match(limited.headers.get('retry-after') ?? '', /^\d+$/);
    });

    it('/metrics: loopback callers only by default; a token or open when configured', async () => {
      assert.equal((await fetch(`${s.base}/metrics`)).status, 200);
      // Through a local proxy that is not trusted: not a local caller.
      assert.equal((await fetch(`${s.base}/metrics`, { headers: { 'x-forwarded-for': '198.51.100.1' } })).status, 403);
      assert.equal((await s.app.inject({ method: 'GET', url: '/metrics', remoteAddress: '198.51.100.7' })).statusCode, 403);
      const tokenApp = await buildApp({ store: s.store, config: resolveConfig({ AUDITSTREAM_METRICS_ACCESS: 'token:metrics-token-0123456789' }) });
      try {
        assert.equal((await tokenApp.inject({ method: 'GET', url: '/metrics', remoteAddress: '198.51.100.7' })).statusCode, 401);
        assert.equal(
          (
            await tokenApp.inject({
              method: 'GET',
              url: '/metrics',
              remoteAddress: '198.51.100.7',
              headers: { authorization: 'Bearer metrics-token-0123456789' },
            })
          ).statusCode,
          200,
        );
      } finally {
        await tokenApp.close();
      }
      const openApp = await buildApp({ store: s.store, config: resolveConfig({ AUDITSTREAM_METRICS_ACCESS: 'open' }) });
      try {
        assert.equal((await openApp.inject({ method: 'GET', url: '/metrics', remoteAddress: '198.51.100.7' })).statusCode, 200);
      } finally {
        await openApp.close();
      }
      assert.throws(() => parseMetricsAccess('token:short', 'AUDITSTREAM_METRICS_ACCESS'), /at least 16/);
      assert.throws(() => resolveConfig({ AUDITSTREAM_METRICS_ACCESS: 'everyone' }), /AUDITSTREAM_METRICS_ACCESS/);
    });
  });
}

describe('TLS answers carry HSTS', () => {
  it('Strict-Transport-Security on every answer under TLS', async () => {
    const tls = makeTestTls();
    const fx = await createFixture('sqlite');
    const store = await fx.open();
    const app = await buildApp({ store, config: resolveConfig({}), https: { cert: Buffer.from(tls.certPem), key: Buffer.from(tls.keyPem) } });
    try {
      for (const url of ['/healthz', '/nope', '/api/v1/audit-logs']) {
        const res = await app.inject({ method: 'GET', url });
        assert.match(String(res.headers['strict-transport-security']), /^max-age=\d+/, url);
      }
    } finally {
      await app.close();
      await store.close();
      await fx.destroy();
      tls.cleanup();
    }
  });
});

describe('files that hold secrets are 0600', () => {
  it('serve creates the SQLite database, its -wal/-shm and the data files readable by the owner only, and tightens older ones', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'auditstream-modes-'));
    const oldMask = process.umask(0o022);
    try {
      const dbPath = join(dir, 'db', 'audit.db');
      // A database left by an earlier, laxer start (created under umask 022: 0644).
      const { SqliteStore } = await import('../src/store/sqlite/sqlite-store.js');
      await (await SqliteStore.open(dbPath)).close();
      assert.equal(statSync(dbPath).mode & 0o777, 0o644);
      const { startServer } = await import('../src/server.js');
      const config: Readonly<Config> = resolveConfig({
        DATABASE_URL: dbPath,
        AUDITSTREAM_DATA_DIR: join(dir, 'data'),
        AUDITSTREAM_HTTP_PORT: '0',
        AUDITSTREAM_GRPC_PORT: '0',
        LOG_LEVEL: 'silent',
      });
      const server = await startServer(config);
      try {
        await fetch(`${server.httpUrl}/healthz`);
        for (const f of [dbPath, `${dbPath}-wal`, `${dbPath}-shm`, join(dir, 'data', 'initial-admin.json'), join(dir, 'data', 'signing-key.pem')]) {
          if (!existsSync(f)) continue;
          assert.equal(statSync(f).mode & 0o777, 0o600, f);
        }
        assert.ok(existsSync(`${dbPath}-wal`), 'WAL file exists and was checked');
      } finally {
        await server.stop();
      }
    } finally {
      process.umask(oldMask);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
