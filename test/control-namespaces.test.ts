/**
 * Namespaces through the Cloud Ops handlers, on both engines: every request goes through the
 * transport's conversion (proto `fromObject` → the plain request a handler sees) and every
 * response is checked the way the transport checks it before encoding. For each RPC: the state
 * change, exactly one audit record per mutation with the specified details, ERROR records for
 * refusals that change nothing, idempotent retries, and NOT_FOUND (never PERMISSION_DENIED) for
 * namespaces the caller cannot see.
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
import { namespaceHandlers } from '../src/control/handlers/namespaces.js';

const code = (c: string) => (err: unknown) => isAuditError(err) && err.code === c;

interface TestCa {
  pem: string;
  md5: string;
}

/** A self-signed certificate (a CA unless `ca` is false) and its MD5 fingerprint as openssl computes it. */
function makeCert(cn: string, ca = true): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'auditstream-ns-ca-'));
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
    const md5 = out.split('=')[1]!.trim().replace(/:/g, '').toLowerCase();
    return { pem: readFileSync(join(dir, 'c.pem'), 'utf8'), md5 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `accepted_client_ca` as the API documents it: the bytes of base64 of the PEM bundle. */
const caField = (...certs: TestCa[]) => Buffer.from(Buffer.from(certs.map((c) => c.pem).join('\n')).toString('base64'));

const cas = {
  a: makeCert('auditstream test CA a'),
  b: makeCert('auditstream test CA b'),
  c: makeCert('auditstream test CA c'),
  leaf: makeCert('not a ca', false),
};

for (const engine of engines()) {
  describe(`control plane namespaces: ${engine}`, () => {
    const s = controlSuite(engine);
    let handlers: CloudHandlers;
    before(() => {
      handlers = namespaceHandlers(s.t.control.cp);
    });

    /** Calls a namespace RPC as the transports do: full plain request in, checked response out. */
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
      responseFromPlain(method.responseType, res); // throws when the transport would refuse it
      return res;
    };
    const keyIdOf = (a: Actor) => a.apiKey.split('_')[1];
    const nsCount = async () => Number((await s.store.sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM namespaces'))!.n);
    const getNs = async (namespace: string, actor: Actor = s.t.owner) => (await call('GetNamespace', { namespace }, actor))['namespace'] as Record<string, any>;

    /** Runs `fn` and returns the records it added to `accountId`. */
    const added = async (fn: () => Promise<unknown>, accountId = s.t.owner.accountId): Promise<AuditRecord[]> => {
      const before = (await s.t.records(accountId)).length;
      await fn();
      return (await s.t.records(accountId)).slice(before);
    };

    /** Asserts a refusal: the error code, one ERROR record for `operation`, and no state change. */
    const refused = async (rpc: string, req: CloudRequest, errCode: string, operation: string, actor: Actor = s.t.owner): Promise<AuditRecord> => {
      const state = await s.store.sql.all('SELECT * FROM namespaces ORDER BY namespace');
      const users = await s.store.sql.all('SELECT id, namespace_access_json, resource_version FROM users ORDER BY id');
      const recs = await added(() => assert.rejects(call(rpc, req, actor), code(errCode), `${rpc} → ${errCode}`), actor.accountId);
      assert.equal(recs.length, 1, `${rpc}: exactly one ERROR record`);
      const r = recs[0]!;
      assert.equal(r.status, 'ERROR');
      assert.equal(r.level, 'LOG_LEVEL_ERROR');
      assert.equal(r.operation, operation);
      assert.match(String(r.details['reason']), new RegExp(errCode));
      assert.equal(r.caller_ip_address, '203.0.113.7, 10.0.0.1');
      assert.equal(r.principal.id, actor.userId);
      assert.ok(validateEmitted(r).ok, JSON.stringify(validateEmitted(r)));
      assert.deepEqual(await s.store.sql.all('SELECT * FROM namespaces ORDER BY namespace'), state, `${rpc}: namespaces unchanged`);
      assert.deepEqual(await s.store.sql.all('SELECT id, namespace_access_json, resource_version FROM users ORDER BY id'), users, `${rpc}: users unchanged`);
      return r;
    };

    const baseSpec = (name: string, extra: Record<string, unknown> = {}) => ({
      name,
      regions: ['aws-us-east-1'],
      retentionDays: 7,
      apiKeyAuth: { enabled: true },
      ...extra,
    });
    const create = async (name: string, extra: Record<string, unknown> = {}, actor: Actor = s.t.owner) =>
      (await call('CreateNamespace', { spec: baseSpec(name, extra) }, actor))['namespace'] as string;

    it('creates a namespace: id name.account, one CreateNamespace record, and a full Namespace message', async () => {
      const req = {
        spec: {
          name: 'payments',
          regions: ['aws-us-east-1', 'aws-us-west-2'],
          retentionDays: 0,
          mtlsAuth: { acceptedClientCa: caField(cas.a, cas.b), certificateFilters: [{ commonName: 'worker' }] },
          apiKeyAuth: { enabled: true },
          searchAttributes: { CustomerId: 'SEARCH_ATTRIBUTE_TYPE_KEYWORD' },
          customSearchAttributes: { Amount: 'Double' },
          lifecycle: { enableDeleteProtection: false },
        },
        tags: { team: 'payments' },
        asyncOperationId: 'op-ns-create',
      };
      let res: CloudResponse = {};
      const recs = await added(async () => (res = await call('CreateNamespace', req)));
      const id = `payments.${s.t.owner.accountId}`;
      assert.equal(res['namespace'], id);
      assert.equal((res['asyncOperation'] as { id: string; state: string }).state, 'STATE_FULFILLED');
      assert.equal((res['asyncOperation'] as { id: string }).id, 'op-ns-create');

      assert.equal(recs.length, 1);
      const r = recs[0]!;
      assert.ok(validateEmitted(r).ok);
      assert.equal(r.operation, 'CreateNamespace');
      assert.equal(r.status, 'OK');
      assert.equal(r.level, 'LOG_LEVEL_INFO');
      assert.equal(r.category, 'LOG_CATEGORY_ADMIN');
      assert.equal(
        JSON.stringify(r.details),
        JSON.stringify({
          namespace: id,
          client_ca_fingerprints: [cas.a.md5, cas.b.md5],
          regions: ['aws-us-east-1', 'aws-us-west-2'],
          retention_days: 30,
          search_attribute_update: { CustomerId: 'Keyword', Amount: 'Double' },
        }),
      );
      assert.equal(r.user_email, s.t.owner.email);
      assert.equal(r.caller_ip_address, '203.0.113.7, 10.0.0.1');
      assert.equal(r.request_id, 'op-ns-create');
      assert.deepEqual(r.principal, { id: s.t.owner.userId, type: 'user', name: s.t.owner.email, api_key_id: keyIdOf(s.t.owner) });

      const ns = await getNs(id);
      assert.equal(ns['namespace'], id);
      assert.equal(ns['state'], 'RESOURCE_STATE_ACTIVE');
      assert.equal(ns['stateDeprecated'], 'active');
      assert.equal(ns['asyncOperationId'], 'op-ns-create');
      assert.equal(ns['activeRegion'], 'aws-us-east-1');
      assert.deepEqual(ns['regionStatus'], {
        'aws-us-east-1': { state: 'STATE_ACTIVE', stateDeprecated: 'active' },
        'aws-us-west-2': { state: 'STATE_PASSIVE', stateDeprecated: 'passive' },
      });
      assert.deepEqual(ns['endpoints'], {
        webAddress: `${id}.web.tmprl.cloud`,
        mtlsGrpcAddress: `${id}.tmprl.cloud:7233`,
        grpcAddress: `${id}.tmprl.cloud:7233`,
      });
      assert.deepEqual(ns['tags'], { team: 'payments' });
      assert.ok(Number(ns['createdTime'].seconds) > 0);
      assert.deepEqual(ns['createdTime'], ns['lastModifiedTime']);
      assert.match(ns['resourceVersion'], /\S/);
      const spec = ns['spec'];
      assert.equal(spec.name, 'payments');
      assert.equal(spec.retentionDays, 30);
      assert.deepEqual(spec.regions, ['aws-us-east-1', 'aws-us-west-2']);
      assert.deepEqual(spec.replicas, [{ region: 'aws-us-east-1' }, { region: 'aws-us-west-2' }]);
      assert.ok(Buffer.from(spec.mtlsAuth.acceptedClientCa).equals(req.spec.mtlsAuth.acceptedClientCa));
      assert.equal(spec.mtlsAuth.acceptedClientCaDeprecated, req.spec.mtlsAuth.acceptedClientCa.toString());
      assert.equal(spec.mtlsAuth.enabled, true);
      assert.deepEqual(spec.mtlsAuth.certificateFilters, [{ commonName: 'worker', organization: '', organizationalUnit: '', subjectAlternativeName: '' }]);
      assert.deepEqual(spec.apiKeyAuth, { enabled: true });
      assert.deepEqual(spec.searchAttributes, { CustomerId: 'SEARCH_ATTRIBUTE_TYPE_KEYWORD', Amount: 'SEARCH_ATTRIBUTE_TYPE_DOUBLE' });
      assert.deepEqual(spec.customSearchAttributes, { CustomerId: 'Keyword', Amount: 'Double' });
      assert.deepEqual(spec.lifecycle, { enableDeleteProtection: false });

      // A single-region, API-key-only namespace: the regional endpoint, no mTLS endpoint.
      const single = await create('single');
      assert.deepEqual((await getNs(single))['endpoints'], { webAddress: `${single}.web.tmprl.cloud`, grpcAddress: 'us-east-1.aws.api.temporal.io:7233' });
      assert.deepEqual((await getNs(single))['regionStatus'], { 'aws-us-east-1': { state: 'STATE_ACTIVE', stateDeprecated: 'active' } });
    });

    it('answers a retry with the same async_operation_id once, and refuses the id for another request', async () => {
      const req = { spec: baseSpec('retry-me'), asyncOperationId: 'op-ns-retry' };
      let first: CloudResponse = {};
      let second: CloudResponse = {};
      const recs = await added(async () => {
        first = await call('CreateNamespace', req);
        second = await call('CreateNamespace', structuredClone(req));
      });
      assert.deepEqual(second, first);
      assert.equal(recs.length, 1);
      const count = await nsCount();
      await refused('CreateNamespace', { ...req, spec: baseSpec('other-name') }, 'AS_ERR_INVALID_ARGUMENT', 'CreateNamespace');
      assert.equal(await nsCount(), count);
      // Without an async_operation_id the record has no request_id.
      const [r] = await added(() => create('no-request-id'));
      assert.equal(r!.request_id, undefined);
      assert.ok(!('request_id' in r!));
    });

    it('refuses invalid namespaces with one ERROR record each and no change', async () => {
      await create('taken');
      const cases: [Record<string, unknown>, string][] = [
        [{ spec: baseSpec('A') }, 'AS_ERR_INVALID_ARGUMENT'],
        [{ spec: baseSpec('x') }, 'AS_ERR_INVALID_ARGUMENT'],
        [{ spec: baseSpec('Bad-Name') }, 'AS_ERR_INVALID_ARGUMENT'],
        [{ spec: baseSpec('bad_name') }, 'AS_ERR_INVALID_ARGUMENT'],
        [{ spec: baseSpec('1abc') }, 'AS_ERR_INVALID_ARGUMENT'],
        [{ spec: baseSpec('abc-') }, 'AS_ERR_INVALID_ARGUMENT'],
        [{ spec: baseSpec('a'.repeat(40)) }, 'AS_ERR_INVALID_ARGUMENT'],
        [{ spec: baseSpec('') }, 'AS_ERR_INVALID_ARGUMENT'],
        [{}, 'AS_ERR_INVALID_ARGUMENT'],
        [{ spec: baseSpec('no-region', { regions: [] }) }, 'AS_ERR_INVALID_ARGUMENT'],
        [{ spec: baseSpec('bad-region', { regions: ['aws-moon-1'] }) }, 'AS_ERR_INVALID_ARGUMENT'],
        [{ spec: baseSpec('three', { regions: ['aws-us-east-1', 'aws-us-west-2', 'aws-eu-west-1'] }) }, 'AS_ERR_INVALID_ARGUMENT'],
        [{ spec: baseSpec('twice', { regions: ['aws-us-east-1', 'aws-us-east-1'] }) }, 'AS_ERR_INVALID_ARGUMENT'],
        [{ spec: baseSpec('retention', { retentionDays: 91 }) }, 'AS_ERR_INVALID_ARGUMENT'],
        [{ spec: baseSpec('retention', { retentionDays: -1 }) }, 'AS_ERR_INVALID_ARGUMENT'],
        [{ spec: baseSpec('no-auth', { apiKeyAuth: { enabled: false } }) }, 'AS_ERR_INVALID_ARGUMENT'],
        [{ spec: baseSpec('mtls-no-ca', { apiKeyAuth: null, mtlsAuth: { enabled: true } }) }, 'AS_ERR_INVALID_ARGUMENT'],
        [{ spec: baseSpec('leaf-ca', { mtlsAuth: { acceptedClientCa: caField(cas.leaf) } }) }, 'AS_ERR_INVALID_ARGUMENT'],
        [{ spec: baseSpec('junk-ca', { mtlsAuth: { acceptedClientCa: Buffer.from('bm90IGEgY2VydA==') } }) }, 'AS_ERR_INVALID_ARGUMENT'],
        [{ spec: baseSpec('bad-sa', { searchAttributes: { WorkflowId: 'SEARCH_ATTRIBUTE_TYPE_KEYWORD' } }) }, 'AS_ERR_INVALID_ARGUMENT'],
        [{ spec: baseSpec('bad-sa', { customSearchAttributes: { Foo: 'Blob' } }) }, 'AS_ERR_INVALID_ARGUMENT'],
        [{ spec: baseSpec('codec', { codecServer: { endpoint: 'http://codec.example.com' } }) }, 'AS_ERR_INVALID_ARGUMENT'],
        [{ spec: baseSpec('taken') }, 'AS_ERR_ALREADY_EXISTS'],
      ];
      const count = await nsCount();
      for (const [req, errCode] of cases) {
        const r = await refused('CreateNamespace', req, errCode, 'CreateNamespace');
        const name = ((req['spec'] ?? {}) as { name?: string }).name ?? '';
        assert.equal(r.details['namespace'], name ? `${name}.${s.t.owner.accountId}` : '');
      }
      assert.equal(await nsCount(), count);
    });

    it('makes a non-admin creator Namespace Admin, and shows others only the namespaces they may see', async () => {
      const dev = await s.t.addUser('ROLE_DEVELOPER');
      const devNs = await create('dev-owned', {}, dev);
      const user = (await s.t.call('GetUser', { userId: dev.userId }))['user'] as { spec: { access: { namespaceAccesses: Record<string, unknown> } } };
      assert.deepEqual(user.spec.access.namespaceAccesses, { [devNs]: { permission: 'PERMISSION_ADMIN', permissionDeprecated: 'admin' } });
      const listed = (await call('GetNamespaces', {}, dev))['namespaces'] as { namespace: string }[];
      assert.deepEqual(
        listed.map((n) => n.namespace),
        [devNs],
      );
      assert.equal((await getNs(devNs, dev))['namespace'], devNs);

      // An owner-created namespace gives the owner no explicit entry (Owner is Admin everywhere).
      const ownerNs = await create('owner-made');
      const owner = (await s.t.call('GetUser', { userId: s.t.owner.userId }))['user'] as { spec: { access: { namespaceAccesses: Record<string, unknown> } } };
      assert.ok(!(ownerNs in owner.spec.access.namespaceAccesses));
      const all = ((await call('GetNamespaces', {}))['namespaces'] as { namespace: string }[]).map((n) => n.namespace);
      assert.ok(all.includes(devNs) && all.includes(ownerNs));

      // No permission at all: NOT_FOUND, as for a namespace that does not exist.
      await assert.rejects(call('GetNamespace', { namespace: ownerNs }, dev), code('AS_ERR_NOT_FOUND'));
      await assert.rejects(call('GetNamespace', { namespace: `nope.${s.t.owner.accountId}` }, dev), code('AS_ERR_NOT_FOUND'));
      await refused('UpdateNamespace', { namespace: ownerNs, spec: baseSpec('owner-made') }, 'AS_ERR_NOT_FOUND', 'UpdateNamespace', dev);
      await refused('DeleteNamespace', { namespace: ownerNs }, 'AS_ERR_NOT_FOUND', 'DeleteNamespace', dev);

      // Read permission: visible, but not enough to change it.
      const reader = await s.t.addUser('ROLE_READ', { [ownerNs]: 'PERMISSION_READ' });
      assert.equal((await getNs(ownerNs, reader))['namespace'], ownerNs);
      assert.deepEqual(
        ((await call('GetNamespaces', {}, reader))['namespaces'] as { namespace: string }[]).map((n) => n.namespace),
        [ownerNs],
      );
      await refused('UpdateNamespace', { namespace: ownerNs, spec: baseSpec('owner-made') }, 'AS_ERR_PERMISSION_DENIED', 'UpdateNamespace', reader);
      await refused('FailoverNamespaceRegion', { namespace: ownerNs, region: 'aws-us-west-2' }, 'AS_ERR_PERMISSION_DENIED', 'FailoverNamespace', reader);
      await refused('CreateNamespace', { spec: baseSpec('reader-made') }, 'AS_ERR_PERMISSION_DENIED', 'CreateNamespace', reader);
    });

    it('pages GetNamespaces and filters by name', async () => {
      for (const n of ['page-a', 'page-b', 'page-c']) await create(n);
      const all = ((await call('GetNamespaces', {}))['namespaces'] as { namespace: string }[]).map((n) => n.namespace);
      const seen: string[] = [];
      let token = '';
      do {
        const page = await call('GetNamespaces', { pageSize: 2, pageToken: token });
        const items = page['namespaces'] as { namespace: string }[];
        assert.ok(items.length <= 2);
        seen.push(...items.map((n) => n.namespace));
        token = page['nextPageToken'] as string;
      } while (token);
      assert.deepEqual(seen, all);
      assert.deepEqual([...all].sort(), all);
      const byName = (await call('GetNamespaces', { name: 'page-b' }))['namespaces'] as { namespace: string }[];
      assert.deepEqual(
        byName.map((n) => n.namespace),
        [`page-b.${s.t.owner.accountId}`],
      );
      assert.deepEqual((await call('GetNamespaces', { name: 'nothing-here' }))['namespaces'], []);
      await assert.rejects(call('GetNamespaces', { pageToken: 'bogus' }), code('AS_ERR_INVALID_ARGUMENT'));
      await assert.rejects(call('GetNamespaces', { pageSize: 5000 }), code('AS_ERR_INVALID_ARGUMENT'));
    });

    it('updates certificates, filters, search attributes and retention with the specified details', async () => {
      const id = await create('upd', { mtlsAuth: { acceptedClientCa: caField(cas.a) }, searchAttributes: { Region: 'SEARCH_ATTRIBUTE_TYPE_KEYWORD' } });
      let ns = await getNs(id);

      // New CA bundle: the seed's UpdateNamespace shape, key for key.
      let recs = await added(() =>
        call('UpdateNamespace', {
          namespace: id,
          resourceVersion: ns['resourceVersion'],
          spec: { ...ns['spec'], mtlsAuth: { acceptedClientCa: caField(cas.c) } },
          asyncOperationId: 'op-upd-ca',
        }),
      );
      assert.equal(recs.length, 1);
      assert.equal(recs[0]!.operation, 'UpdateNamespace');
      assert.equal(JSON.stringify(recs[0]!.details), JSON.stringify({ namespace: id, client_ca_fingerprints: [cas.c.md5], search_attribute_update: {} }));
      assert.equal(recs[0]!.request_id, 'op-upd-ca');
      assert.ok(validateEmitted(recs[0]).ok);
      const afterCa = await getNs(id);
      assert.notEqual(afterCa['resourceVersion'], ns['resourceVersion']);
      assert.equal(afterCa['asyncOperationId'], 'op-upd-ca');
      assert.ok(Buffer.from(afterCa['spec'].mtlsAuth.acceptedClientCa).equals(caField(cas.c)));
      ns = afterCa;

      // Certificate filters only: no fingerprints (the CA did not change).
      recs = await added(() =>
        call('UpdateNamespace', {
          namespace: id,
          resourceVersion: ns['resourceVersion'],
          spec: { ...ns['spec'], mtlsAuth: { ...ns['spec'].mtlsAuth, certificateFilters: [{ organization: 'Acme' }] } },
        }),
      );
      assert.deepEqual(
        recs.map((r) => r.details),
        [{ namespace: id, search_attribute_update: {} }],
      );
      ns = await getNs(id);
      assert.equal(ns['spec'].mtlsAuth.certificateFilters[0].organization, 'Acme');

      // Add a search attribute and change retention.
      recs = await added(() =>
        call('UpdateNamespace', {
          namespace: id,
          resourceVersion: ns['resourceVersion'],
          spec: { ...ns['spec'], retentionDays: 60, searchAttributes: { ...ns['spec'].searchAttributes, Score: 'SEARCH_ATTRIBUTE_TYPE_INT' } },
        }),
      );
      assert.equal(JSON.stringify(recs[0]!.details), JSON.stringify({ namespace: id, retention_days: 60, search_attribute_update: { Score: 'Int' } }));
      ns = await getNs(id);
      assert.equal(ns['spec'].retentionDays, 60);
      assert.deepEqual(ns['spec'].searchAttributes, { Region: 'SEARCH_ATTRIBUTE_TYPE_KEYWORD', Score: 'SEARCH_ATTRIBUTE_TYPE_INT' });

      // Refusals: stale version, removing or retyping a search attribute, renaming, bad retention, unknown namespace.
      const rv = ns['resourceVersion'];
      const spec = ns['spec'];
      await refused('UpdateNamespace', { namespace: id, resourceVersion: 'stale', spec }, 'AS_ERR_FAILED_PRECONDITION', 'UpdateNamespace');
      await refused(
        'UpdateNamespace',
        { namespace: id, resourceVersion: rv, spec: { ...spec, searchAttributes: { Region: 'SEARCH_ATTRIBUTE_TYPE_KEYWORD' }, customSearchAttributes: {} } },
        'AS_ERR_INVALID_ARGUMENT',
        'UpdateNamespace',
      );
      await refused(
        'UpdateNamespace',
        {
          namespace: id,
          resourceVersion: rv,
          spec: { ...spec, searchAttributes: { Region: 'SEARCH_ATTRIBUTE_TYPE_TEXT', Score: 'SEARCH_ATTRIBUTE_TYPE_INT' }, customSearchAttributes: {} },
        },
        'AS_ERR_INVALID_ARGUMENT',
        'UpdateNamespace',
      );
      await refused(
        'UpdateNamespace',
        { namespace: id, resourceVersion: rv, spec: { ...spec, name: 'renamed' } },
        'AS_ERR_INVALID_ARGUMENT',
        'UpdateNamespace',
      );
      await refused(
        'UpdateNamespace',
        { namespace: id, resourceVersion: rv, spec: { ...spec, retentionDays: 120 } },
        'AS_ERR_INVALID_ARGUMENT',
        'UpdateNamespace',
      );
      await refused(
        'UpdateNamespace',
        { namespace: id, resourceVersion: rv, spec: { ...spec, regions: ['aws-eu-west-1'], replicas: [] } },
        'AS_ERR_INVALID_ARGUMENT',
        'UpdateNamespace',
      );
      await refused(
        'UpdateNamespace',
        { namespace: id, resourceVersion: rv, spec: { ...spec, mtlsAuth: null, apiKeyAuth: { enabled: false } } },
        'AS_ERR_INVALID_ARGUMENT',
        'UpdateNamespace',
      );
      const missing = await refused('UpdateNamespace', { namespace: `missing.${s.t.owner.accountId}`, spec }, 'AS_ERR_NOT_FOUND', 'UpdateNamespace');
      assert.equal(missing.details['namespace'], `missing.${s.t.owner.accountId}`);
      await refused('UpdateNamespace', { namespace: '', spec }, 'AS_ERR_INVALID_ARGUMENT', 'UpdateNamespace');
      assert.equal((await getNs(id))['resourceVersion'], rv);
    });

    it('renames a custom search attribute', async () => {
      const id = await create('rename', { searchAttributes: { OldName: 'SEARCH_ATTRIBUTE_TYPE_BOOL', Other: 'SEARCH_ATTRIBUTE_TYPE_TEXT' } });
      const ns = await getNs(id);
      const base = { namespace: id, resourceVersion: ns['resourceVersion'] };
      await refused(
        'RenameCustomSearchAttribute',
        { ...base, existingCustomSearchAttributeName: 'Nope', newCustomSearchAttributeName: 'Fresh' },
        'AS_ERR_INVALID_ARGUMENT',
        'RenameCustomSearchAttribute',
      );
      const taken = await refused(
        'RenameCustomSearchAttribute',
        { ...base, existingCustomSearchAttributeName: 'OldName', newCustomSearchAttributeName: 'Other' },
        'AS_ERR_ALREADY_EXISTS',
        'RenameCustomSearchAttribute',
      );
      assert.equal(taken.details['old_name'], 'OldName');
      assert.equal(taken.details['new_name'], 'Other');
      await refused(
        'RenameCustomSearchAttribute',
        { ...base, existingCustomSearchAttributeName: 'OldName', newCustomSearchAttributeName: 'bad name' },
        'AS_ERR_INVALID_ARGUMENT',
        'RenameCustomSearchAttribute',
      );
      await refused(
        'RenameCustomSearchAttribute',
        { ...base, resourceVersion: 'stale', existingCustomSearchAttributeName: 'OldName', newCustomSearchAttributeName: 'NewName' },
        'AS_ERR_FAILED_PRECONDITION',
        'RenameCustomSearchAttribute',
      );

      const recs = await added(() =>
        call('RenameCustomSearchAttribute', {
          ...base,
          existingCustomSearchAttributeName: 'OldName',
          newCustomSearchAttributeName: 'NewName',
          asyncOperationId: 'op-rename',
        }),
      );
      assert.equal(recs.length, 1);
      assert.equal(recs[0]!.operation, 'RenameCustomSearchAttribute');
      assert.equal(JSON.stringify(recs[0]!.details), JSON.stringify({ namespace: id, old_name: 'OldName', new_name: 'NewName', search_attribute_update: {} }));
      assert.equal(recs[0]!.request_id, 'op-rename');
      assert.ok(validateEmitted(recs[0]).ok);
      assert.deepEqual((await getNs(id))['spec'].searchAttributes, { NewName: 'SEARCH_ATTRIBUTE_TYPE_BOOL', Other: 'SEARCH_ATTRIBUTE_TYPE_TEXT' });
    });

    it('fails a multi-region namespace over, and refuses what cannot fail over', async () => {
      const single = await create('fo-single');
      const multi = await create('fo-multi', { regions: ['aws-us-east-1', 'aws-us-east-2'] });
      await refused('FailoverNamespaceRegion', { namespace: single, region: 'aws-us-east-1' }, 'AS_ERR_FAILED_PRECONDITION', 'FailoverNamespace');
      await refused('FailoverNamespaceRegion', { namespace: multi, region: 'aws-eu-west-1' }, 'AS_ERR_FAILED_PRECONDITION', 'FailoverNamespace');
      await refused('FailoverNamespaceRegion', { namespace: multi, region: 'aws-us-east-1' }, 'AS_ERR_FAILED_PRECONDITION', 'FailoverNamespace');
      await refused('FailoverNamespaceRegion', { namespace: multi, region: '' }, 'AS_ERR_INVALID_ARGUMENT', 'FailoverNamespace');

      const recs = await added(() => call('FailoverNamespaceRegion', { namespace: multi, region: 'aws-us-east-2' }));
      assert.equal(recs.length, 1);
      assert.equal(recs[0]!.operation, 'FailoverNamespace');
      assert.equal(JSON.stringify(recs[0]!.details), JSON.stringify({ namespace: multi, region: 'aws-us-east-2', search_attribute_update: {} }));
      assert.equal(recs[0]!.request_id, undefined);
      const ns = await getNs(multi);
      assert.equal(ns['activeRegion'], 'aws-us-east-2');
      assert.deepEqual(ns['regionStatus'], {
        'aws-us-east-1': { state: 'STATE_PASSIVE', stateDeprecated: 'passive' },
        'aws-us-east-2': { state: 'STATE_ACTIVE', stateDeprecated: 'active' },
      });
      assert.deepEqual(
        ns['replicas'].map((r: { region: string; isPrimary: boolean }) => [r.region, r.isPrimary]),
        [
          ['aws-us-east-1', false],
          ['aws-us-east-2', true],
        ],
      );
    });

    it('deletes a namespace unless protected, and removes every permission on it', async () => {
      const dev = await s.t.addUser('ROLE_DEVELOPER');
      const id = await create('doomed', { lifecycle: { enableDeleteProtection: true } }, dev);
      const reader = await s.t.addUser('ROLE_READ', { [id]: 'PERMISSION_READ' });
      await refused('DeleteNamespace', { namespace: id }, 'AS_ERR_FAILED_PRECONDITION', 'DeleteNamespace', dev);
      let ns = await getNs(id);
      await refused('DeleteNamespace', { namespace: id, resourceVersion: 'stale' }, 'AS_ERR_FAILED_PRECONDITION', 'DeleteNamespace', dev);
      await call(
        'UpdateNamespace',
        { namespace: id, resourceVersion: ns['resourceVersion'], spec: { ...ns['spec'], lifecycle: { enableDeleteProtection: false } } },
        dev,
      );
      ns = await getNs(id);

      const recs = await added(() => call('DeleteNamespace', { namespace: id, resourceVersion: ns['resourceVersion'], asyncOperationId: 'op-delete-ns' }, dev));
      assert.equal(recs.length, 1);
      const r = recs[0]!;
      assert.equal(r.operation, 'DeleteNamespace');
      assert.equal(JSON.stringify(r.details), JSON.stringify({ namespace: id, search_attribute_update: {} }));
      assert.equal(r.request_id, 'op-delete-ns');
      assert.deepEqual(r.principal, { id: dev.userId, type: 'user', name: dev.email, api_key_id: keyIdOf(dev) });
      assert.ok(validateEmitted(r).ok);
      await assert.rejects(call('GetNamespace', { namespace: id }), code('AS_ERR_NOT_FOUND'));
      for (const u of [dev, reader]) {
        const user = (await s.t.call('GetUser', { userId: u.userId }))['user'] as { spec: { access: { namespaceAccesses: Record<string, unknown> } } };
        assert.ok(!(id in user.spec.access.namespaceAccesses), `${u.email} keeps no permission on the deleted namespace`);
      }
      // The retry of the delete is answered from the stored operation, adding nothing.
      const again = await added(() =>
        call('DeleteNamespace', { namespace: id, resourceVersion: ns['resourceVersion'], asyncOperationId: 'op-delete-ns' }, dev),
      );
      assert.equal(again.length, 0);
      await refused('DeleteNamespace', { namespace: id }, 'AS_ERR_NOT_FOUND', 'DeleteNamespace');
    });

    it("treats another account's namespace as not found, recording the refusal only in the caller's account", async () => {
      const mine = await create('private');
      const before = await getNs(mine);
      const other = await s.t.newAccount('other-owner@example.com');
      await assert.rejects(call('GetNamespace', { namespace: mine }, other), code('AS_ERR_NOT_FOUND'));
      const mineBefore = (await s.t.records(s.t.owner.accountId)).length;
      const spec = before['spec'];
      await refused('UpdateNamespace', { namespace: mine, spec }, 'AS_ERR_NOT_FOUND', 'UpdateNamespace', other);
      await refused(
        'RenameCustomSearchAttribute',
        { namespace: mine, existingCustomSearchAttributeName: 'A', newCustomSearchAttributeName: 'B' },
        'AS_ERR_NOT_FOUND',
        'RenameCustomSearchAttribute',
        other,
      );
      await refused('FailoverNamespaceRegion', { namespace: mine, region: 'aws-us-east-1' }, 'AS_ERR_NOT_FOUND', 'FailoverNamespace', other);
      await refused('DeleteNamespace', { namespace: mine }, 'AS_ERR_NOT_FOUND', 'DeleteNamespace', other);
      assert.deepEqual((await call('GetNamespaces', {}, other))['namespaces'] as unknown[], []);
      assert.deepEqual((await call('GetNamespaces', { name: mine }, other))['namespaces'] as unknown[], []);
      assert.equal((await s.t.records(s.t.owner.accountId)).length, mineBefore, 'nothing recorded in the owning account');
      assert.deepEqual(await getNs(mine), before);
      // The same name in the other account is a different namespace.
      const theirs = await create('private', {}, other);
      assert.equal(theirs, `private.${other.accountId}`);
    });

    it('settles concurrent creates and updates of one namespace: one wins, the other is refused and recorded', async () => {
      const outcomes = async (calls: (() => Promise<unknown>)[]) =>
        (await Promise.allSettled(calls.map((f) => f()))).map((o) =>
          o.status === 'fulfilled' ? 'ok' : isAuditError(o.reason) ? o.reason.code : String(o.reason),
        );
      let got: string[] = [];
      let recs: AuditRecord[] = await added(async () => (got = await outcomes([() => create('race'), () => create('race')])));
      assert.deepEqual([...got].sort(), ['AS_ERR_ALREADY_EXISTS', 'ok']);
      assert.deepEqual(recs.map((r) => r.status).sort(), ['ERROR', 'OK']);

      const id = `race.${s.t.owner.accountId}`;
      const ns = await getNs(id);
      const update = (days: number) => () =>
        call('UpdateNamespace', { namespace: id, resourceVersion: ns['resourceVersion'], spec: { ...ns['spec'], retentionDays: days } });
      recs = await added(async () => (got = await outcomes([update(10), update(20)])));
      assert.deepEqual([...got].sort(), ['AS_ERR_FAILED_PRECONDITION', 'ok']);
      assert.deepEqual(recs.map((r) => r.status).sort(), ['ERROR', 'OK']);
      const winner = recs.find((r) => r.status === 'OK')!;
      assert.equal((await getNs(id))['spec'].retentionDays, winner.details['retention_days']);
    });

    it('refuses unauthenticated calls without writing any record', async () => {
      const count = await s.store.count();
      for (const rpc of ['GetNamespaces', 'CreateNamespace', 'DeleteNamespace']) {
        await assert.rejects(
          handlers[rpc]!(
            { spec: baseSpec('anon'), namespace: 'x' },
            { method: rpc, transport: 'grpc', authorization: 'Bearer nope', headers: {}, peer: '10.0.0.1' },
          ),
          code('AS_ERR_UNAUTHENTICATED'),
        );
      }
      assert.equal(await s.store.count(), count);
    });
  });
}
