/**
 * The account through the Cloud Ops handlers, on both engines: GetAccount, UpdateAccount (the
 * observability CA, recorded as in the seeds' first sample) and GetCurrentIdentity. Requests go
 * through the transport's conversion and responses are checked as the transport checks them.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { engines } from './helpers/stores.js';
import type { Actor } from './helpers/control.js';
import { controlSuite } from './helpers/suites.js';
import { validateEmitted } from '../src/record/schema.js';
import { isAuditError } from '../src/errors.js';
import type { AuditRecord } from '../src/record/record.js';
import type { CloudHandlers, CloudRequest, CloudResponse } from '../src/api/cloud/handlers.js';
import { findCloudMethod } from '../src/api/cloud/proto.js';
import { requestToPlain, responseFromPlain } from '../src/api/cloud/plain.js';
import { accountHandlers } from '../src/control/handlers/account.js';

const code = (c: string) => (err: unknown) => isAuditError(err) && err.code === c;

interface TestCa {
  pem: string;
  md5: string;
}

function makeCert(cn: string, ca = true): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'auditstream-acct-ca-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        'k.pem',
        '-out',
        'c.pem',
        '-days',
        '30',
        '-subj',
        `/CN=${cn}`,
        '-addext',
        `basicConstraints=critical,CA:${ca ? 'TRUE' : 'FALSE'}`,
      ],
      { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const out = execFileSync('openssl', ['x509', '-in', 'c.pem', '-noout', '-fingerprint', '-md5'], { cwd: dir }).toString();
    return { pem: readFileSync(join(dir, 'c.pem'), 'utf8'), md5: out.split('=')[1]!.trim().replace(/:/g, '').toLowerCase() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const caField = (...certs: TestCa[]) => Buffer.from(Buffer.from(certs.map((c) => c.pem).join('\n')).toString('base64'));
const cas = { a: makeCert('metrics CA a'), b: makeCert('metrics CA b'), leaf: makeCert('metrics leaf', false) };

for (const engine of engines()) {
  describe(`control plane account: ${engine}`, () => {
    const s = controlSuite(engine);
    let handlers: CloudHandlers;
    before(() => {
      handlers = accountHandlers(s.t.control.cp);
    });

    const call = async (rpc: string, req: CloudRequest, actor: Actor = s.t.owner): Promise<CloudResponse> => {
      const method = findCloudMethod(rpc)!;
      const plain = requestToPlain(method.requestType, method.requestType.fromObject(req));
      const res = await handlers[rpc]!(plain, {
        method: rpc,
        transport: 'grpc',
        authorization: `Bearer ${actor.apiKey}`,
        headers: {},
        peer: '10.0.0.1',
        forwardedFor: '203.0.113.7',
      });
      responseFromPlain(method.responseType, res);
      return res;
    };
    const account = async (actor: Actor = s.t.owner) => (await call('GetAccount', {}, actor))['account'] as Record<string, any>;
    const added = async (fn: () => Promise<unknown>, accountId = s.t.owner.accountId): Promise<AuditRecord[]> => {
      const before = (await s.t.records(accountId)).length;
      await fn();
      return (await s.t.records(accountId)).slice(before);
    };
    const refused = async (req: CloudRequest, errCode: string, actor: Actor = s.t.owner) => {
      const row = await s.store.sql.get('SELECT * FROM accounts WHERE id = ?', [actor.accountId]);
      const recs = await added(() => assert.rejects(call('UpdateAccount', req, actor), code(errCode), errCode), actor.accountId);
      assert.equal(recs.length, 1, 'exactly one ERROR record');
      const r = recs[0]!;
      assert.equal(r.operation, 'UpdateAccount');
      assert.equal(r.status, 'ERROR');
      assert.equal(r.level, 'LOG_LEVEL_ERROR');
      assert.match(String(r.details['reason']), new RegExp(errCode));
      assert.equal(r.principal.id, actor.userId);
      assert.ok(validateEmitted(r).ok);
      assert.deepEqual(await s.store.sql.get('SELECT * FROM accounts WHERE id = ?', [actor.accountId]), row, 'account unchanged');
    };

    it('reads the account: id, active, no metrics until a CA is set', async () => {
      const a = await account();
      assert.equal(a['id'], s.t.owner.accountId);
      assert.equal(a['state'], 'RESOURCE_STATE_ACTIVE');
      assert.deepEqual(a['spec'], {});
      assert.deepEqual(a['metrics'], { uri: '' });
      assert.equal(a['asyncOperationId'], '');
      assert.match(a['resourceVersion'], /\S/);
      const metricsOnly = await s.t.addUser('ROLE_METRICS_READ');
      await assert.rejects(call('GetAccount', {}, metricsOnly), code('AS_ERR_PERMISSION_DENIED'));
    });

    it('sets the observability CA: one UpdateAccount record in the seed shape, metrics URI, idempotent retry', async () => {
      const before = await account();
      const makeReq = () => ({
        resourceVersion: before['resourceVersion'],
        spec: { metrics: { acceptedClientCa: caField(cas.a) } },
        asyncOperationId: 'op-acct-1',
      });
      const req = makeReq();
      let res: CloudResponse = {};
      const recs = await added(async () => (res = await call('UpdateAccount', req)));
      assert.equal((res['asyncOperation'] as { state: string; id: string }).state, 'STATE_FULFILLED');
      assert.equal(recs.length, 1);
      const r = recs[0]!;
      assert.ok(validateEmitted(r).ok);
      assert.equal(r.operation, 'UpdateAccount');
      assert.equal(r.status, 'OK');
      assert.equal(r.level, 'LOG_LEVEL_INFO');
      assert.equal(JSON.stringify(r.details), JSON.stringify({ client_ca_fingerprints: [cas.a.md5], search_attribute_update: {} }));
      assert.equal(r.user_email, s.t.owner.email);
      assert.equal(r.caller_ip_address, '203.0.113.7, 10.0.0.1');
      assert.equal(r.request_id, 'op-acct-1');
      assert.deepEqual(r.principal, { id: s.t.owner.userId, type: 'user', name: s.t.owner.email, api_key_id: s.t.owner.apiKey.split('_')[1] });

      const a = await account();
      assert.ok(Buffer.from(a['spec'].metrics.acceptedClientCa).equals(caField(cas.a)));
      assert.equal(a['metrics'].uri, `https://${s.t.owner.accountId}.tmprl.cloud/prometheus`);
      assert.equal(a['asyncOperationId'], 'op-acct-1');
      assert.notEqual(a['resourceVersion'], before['resourceVersion']);

      const again = await added(async () => assert.deepEqual(await call('UpdateAccount', makeReq()), res));
      assert.equal(again.length, 0);
      await refused({ ...req, spec: { metrics: { acceptedClientCa: caField(cas.b) } } }, 'AS_ERR_INVALID_ARGUMENT');
    });

    it('refuses stale versions, bad certificates and non-admins with one ERROR record and no change', async () => {
      const a = await account();
      await refused({ resourceVersion: 'stale', spec: { metrics: { acceptedClientCa: caField(cas.b) } } }, 'AS_ERR_FAILED_PRECONDITION');
      await refused({ resourceVersion: a['resourceVersion'], spec: { metrics: { acceptedClientCa: caField(cas.leaf) } } }, 'AS_ERR_INVALID_ARGUMENT');
      await refused({ resourceVersion: a['resourceVersion'], spec: { metrics: { acceptedClientCa: Buffer.from('%%%') } } }, 'AS_ERR_INVALID_ARGUMENT');
      await refused({ resourceVersion: a['resourceVersion'] }, 'AS_ERR_INVALID_ARGUMENT');
      const dev = await s.t.addUser('ROLE_DEVELOPER');
      await refused({ spec: { metrics: { acceptedClientCa: caField(cas.b) } } }, 'AS_ERR_PERMISSION_DENIED', dev);
      assert.deepEqual(await account(), a);
    });

    it('replaces and removes the CA, recording the fingerprints now set', async () => {
      let a = await account();
      let recs = await added(() =>
        call('UpdateAccount', { resourceVersion: a['resourceVersion'], spec: { metrics: { acceptedClientCa: caField(cas.a, cas.b) } } }),
      );
      assert.deepEqual(
        recs.map((r) => r.details),
        [{ client_ca_fingerprints: [cas.a.md5, cas.b.md5], search_attribute_update: {} }],
      );
      assert.equal(recs[0]!.request_id, undefined);
      a = await account();
      recs = await added(() => call('UpdateAccount', { resourceVersion: a['resourceVersion'], spec: { metrics: null } }));
      assert.deepEqual(
        recs.map((r) => r.details),
        [{ client_ca_fingerprints: [], search_attribute_update: {} }],
      );
      a = await account();
      assert.deepEqual(a['spec'], {});
      assert.deepEqual(a['metrics'], { uri: '' });
    });

    it('tells the caller who it is, and which API key it used', async () => {
      const me = await call('GetCurrentIdentity', {});
      const user = me['user'] as { id: string; spec: { email: string; access: { accountAccess: { role: string } } }; state: string; stateDeprecated: string };
      assert.equal(user.id, s.t.owner.userId);
      assert.equal(user.spec.email, s.t.owner.email);
      assert.equal(user.spec.access.accountAccess.role, 'ROLE_OWNER');
      assert.equal(user.stateDeprecated, 'active');
      const key = me['principalApiKey'] as { id: string; spec: { ownerId: string } };
      assert.equal(key.id, s.t.owner.apiKey.split('_')[1]);
      assert.equal(key.spec.ownerId, s.t.owner.userId);
      // Every role may ask, and reads add no record.
      const metricsOnly = await s.t.addUser('ROLE_METRICS_READ');
      const recs = await added(async () => {
        const them = await call('GetCurrentIdentity', {}, metricsOnly);
        assert.equal((them['user'] as { id: string }).id, metricsOnly.userId);
        assert.equal((them['principalApiKey'] as { id: string }).id, metricsOnly.apiKey.split('_')[1]);
      });
      assert.equal(recs.length, 0);
      await assert.rejects(
        handlers['GetCurrentIdentity']!({}, { method: 'GetCurrentIdentity', transport: 'grpc', authorization: 'Bearer nope', headers: {}, peer: '10.0.0.1' }),
        code('AS_ERR_UNAUTHENTICATED'),
      );
    });
  });
}
