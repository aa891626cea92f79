/**
 * Browser auth over real HTTP: invitation → accept → login (audited UserLogin success and
 * failure), session cookie + CSRF on the Cloud API's HTTP mapping, rate limiting, logout; and
 * `/api/v1` with API keys (ingest and read by role).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { externalRecord } from './helpers/records.js';
import { servedSuite } from './helpers/suites.js';
import { buildApp } from '../src/api/app.js';
import { createControlPlane } from '../src/control/control-plane.js';
import { resolveConfig } from '../src/config.js';
import { validateEmitted } from '../src/record/schema.js';

describe('browser auth and /api/v1 with API keys', () => {
  const s = servedSuite('sqlite');

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${s.base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  it('invites, accepts, logs in with a session, and audits every login', async () => {
    const created = await s.t.call('CreateUser', { spec: { email: 'ada@example.com', access: { accountAccess: { role: 'ROLE_ADMIN' } } } });
    const userId = created['userId'] as string;
    const inv = await post(`/api/v1/users/${userId}/invitation`, {}, { authorization: `Bearer ${s.t.owner.apiKey}` });
    assert.equal(inv.status, 200);
    const { token } = (await inv.json()) as { token: string };
    assert.equal((await post('/auth/accept-invite', { token, password: 'short' })).status, 400);
    const accepted = await post('/auth/accept-invite', { token, password: 'correct horse battery staple' });
    assert.equal(accepted.status, 200, await accepted.clone().text());
    assert.equal((await post('/auth/accept-invite', { token, password: 'correct horse battery staple' })).status, 401, 'one-time token');

    const before = (await s.t.records(s.t.owner.accountId)).length;
    const bad = await post('/auth/login', { email: 'ada@example.com', password: 'wrong password!!' }, { 'x-forwarded-for': '198.51.100.9' });
    assert.equal(bad.status, 401);
    const login = await post('/auth/login', { email: 'ADA@example.com', password: 'correct horse battery staple' }, { 'x-forwarded-for': '198.51.100.9' });
    assert.equal(login.status, 200);
    const cookie = login.headers.get('set-cookie')!;
    assert.match(cookie, /^auditstream_session=[^;]+; Path=\/; HttpOnly; SameSite=Strict/);
    const { csrf_token } = (await login.json()) as { csrf_token: string };

    const recs = (await s.t.records(s.t.owner.accountId)).slice(before);
    assert.deepEqual(
      recs.map((r) => [r.operation, r.status]),
      [
        ['UserLogin', 'ERROR'],
        ['UserLogin', 'OK'],
      ],
    );
    for (const r of recs) {
      assert.ok(validateEmitted(r).ok);
      assert.deepEqual(r.principal, { id: userId, type: 'user', name: 'ada@example.com' });
      assert.equal(r.caller_ip_address, '198.51.100.9, 127.0.0.1');
      assert.ok(!JSON.stringify(r).includes('correct horse'), 'no password in records');
    }

    // The session works on the Cloud API's HTTP mapping; a mutation needs the CSRF token.
    const sessionCookie = cookie.split(';')[0]!;
    const users = await fetch(`${s.base}/cloud/users`, { headers: { cookie: sessionCookie } });
    assert.equal(users.status, 200);
    const noCsrf = await post(
      '/cloud/users',
      { spec: { email: 'eve@example.com', access: { account_access: { role: 'ROLE_READ' } } } },
      { cookie: sessionCookie },
    );
    assert.equal(noCsrf.status, 401);
    const withCsrf = await post(
      '/cloud/users',
      { spec: { email: 'eve@example.com', access: { account_access: { role: 'ROLE_READ' } } } },
      { cookie: sessionCookie, 'x-csrf-token': csrf_token },
    );
    assert.equal(withCsrf.status, 200, await withCsrf.clone().text());
    const last = (await s.t.records(s.t.owner.accountId)).pop()!;
    assert.equal(last.operation, 'InviteUsers');
    assert.deepEqual(last.principal, { id: userId, type: 'user', name: 'ada@example.com' }, 'a session principal has no api_key_id');

    const out = await fetch(`${s.base}/auth/logout`, { method: 'POST', headers: { cookie: sessionCookie } });
    assert.equal(out.status, 204);
    assert.equal((await fetch(`${s.base}/cloud/users`, { headers: { cookie: sessionCookie } })).status, 401);
  });

  it('rate-limits failed logins per email, and does not audit unknown emails', async () => {
    const before = await s.store.count();
    for (let i = 0; i < 5; i++) assert.equal((await post('/auth/login', { email: 'ghost@example.com', password: 'nothing at all here' })).status, 401);
    const limited = await post('/auth/login', { email: 'ghost@example.com', password: 'nothing at all here' });
    assert.equal(limited.status, 429);
    assert.equal(((await limited.json()) as { error: { code: string } }).error.code, 'AS_ERR_RATE_LIMITED');
    assert.equal(await s.store.count(), before, 'an unknown email belongs to no tenant');
  });

  it('counts failed logins across processes that share the database', async () => {
    // A second process: its own store connection, control plane and HTTP app on the same database.
    const store2 = await s.fx.open();
    const cp2 = createControlPlane({ store: store2, config: resolveConfig({}) });
    const app2 = await buildApp({ store: store2, config: resolveConfig({}), auth: cp2.apiAuth, register: (a) => cp2.registerRoutes(a) });
    try {
      const login = (a: FastifyInstance) =>
        a.inject({ method: 'POST', url: '/auth/login', payload: { email: 'shared-ghost@example.com', password: 'nothing at all here' } });
      for (let i = 0; i < 5; i++) assert.equal((await login(i < 3 ? s.app : app2)).statusCode, 401, `failure ${i + 1}`);
      assert.equal((await login(app2)).statusCode, 429, "the second process saw the first one's failures");
      assert.equal((await login(s.app)).statusCode, 429);
    } finally {
      await app2.close();
      await store2.close();
    }
  });

  it('lets API keys ingest and read by role on /api/v1', async () => {
    const record = externalRecord();
    const dev = await s.t.addUser('ROLE_DEVELOPER');
    const reader = await s.t.addUser('ROLE_READ');
    const ok = await post('/api/v1/audit-logs', { records: [record] }, { authorization: `Bearer ${dev.apiKey}` });
    assert.equal(ok.status, 201);
    const denied = await post('/api/v1/audit-logs', { records: [record] }, { authorization: `Bearer ${reader.apiKey}` });
    assert.equal(denied.status, 403);
    const other = await post('/api/v1/audit-logs', { account_id: 'someone-else', records: [record] }, { authorization: `Bearer ${dev.apiKey}` });
    assert.equal(other.status, 403);
    const stored = (await s.t.records(s.t.owner.accountId)).pop()!;
    assert.equal(stored.operation, 'ExternalThing');
    const page = await fetch(`${s.base}/api/v1/audit-logs?operation=ExternalThing`, { headers: { authorization: `Bearer ${s.t.owner.apiKey}` } });
    const body = (await page.json()) as { items: { ingested_by: string }[] };
    assert.equal(body.items[0]!.ingested_by, `apikey:${dev.apiKey.split('_')[1]}`, 'forwarded entries are told from native ones');
    assert.equal((await fetch(`${s.base}/api/v1/audit-logs`, { headers: { authorization: `Bearer ${dev.apiKey}` } })).status, 403);
  });
});
