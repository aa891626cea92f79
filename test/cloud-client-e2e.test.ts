/**
 * Acceptance with Temporal's official client: the real server (`startServer` from src/server.ts,
 * TLS on both listeners, ports 0) driven by `CloudOperationsClient` from `@temporalio/cloud`
 * through every RPC the issue names, and through the HTTP mapping (`/cloud/...` over HTTPS) for a
 * representative set. Every audited operation of the seeds' list — UpdateAccount, InviteUsers,
 * DeleteUser, UpdateUser, UpdateUserNamespacePermissions, UserLogin, CreateNamespace,
 * UpdateNamespace (with a certificate change), DeleteNamespace, RenameCustomSearchAttribute,
 * FailoverNamespace, CreateAPIKey, DeleteAPIKey, UpdateAPIKey — yields exactly one record of the
 * emitted shape with the right principal, caller IP, request id and details; a refusal yields one
 * ERROR record; a retry with the same async_operation_id adds none; GetAsyncOperation answers
 * after a restart. Runs on SQLite and on PostgreSQL (a fresh schema).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request as httpsRequest } from 'node:https';
import { X509Certificate, createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import protoPackage from '@temporalio/proto';
import { makeTestTls } from './helpers/tls.js';
import { PG_URL, engines } from './helpers/stores.js';
import { resolveConfig, type Config } from '../src/config.js';
import { createAccount } from '../src/control/accounts.js';
import { keyIdOfToken } from '../src/control/secrets.js';
import { validateEmitted } from '../src/record/schema.js';
import type { AuditRecord } from '../src/record/record.js';

// grpc-js reads the trusted roots once, when it is first loaded: set them, then load it.
const tls = makeTestTls();
process.env.GRPC_DEFAULT_SSL_ROOTS_FILE_PATH = tls.caPath;
const { startServer } = await import('../src/server.js');
type RunningServer = Awaited<ReturnType<typeof startServer>>;
const { CloudOperationsClient, CloudOperationsConnection } = await import('@temporalio/cloud');
type Client = InstanceType<typeof CloudOperationsClient>;
type Connection = Awaited<ReturnType<typeof CloudOperationsConnection.connect>>;

const { temporal } = protoPackage;
const Role = temporal.api.cloud.identity.v1.AccountAccess.Role;
const Permission = temporal.api.cloud.identity.v1.NamespaceAccess.Permission;
const OwnerType = temporal.api.cloud.identity.v1.OwnerType;
const OpState = temporal.api.cloud.operation.v1.AsyncOperation.State;

/** gRPC status codes the official client surfaces. */
const FAILED_PRECONDITION = 9;
const NOT_FOUND = 5;
const PERMISSION_DENIED = 7;

// ---------------------------------------------------------------------------------------------
// Certificates for namespaces and the observability endpoint
// ---------------------------------------------------------------------------------------------

interface Ca {
  pem: string;
  md5: string;
}

function makeCa(cn: string): Ca {
  const dir = mkdtempSync(join(tmpdir(), 'auditstream-e2e-ca-'));
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
        'basicConstraints=critical,CA:TRUE',
      ],
      { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const pem = readFileSync(join(dir, 'c.pem'), 'utf8');
    return { pem, md5: createHash('md5').update(new X509Certificate(pem).raw).digest('hex') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const CA = { ns1: makeCa('e2e namespace CA 1'), ns2: makeCa('e2e namespace CA 2'), metrics: makeCa('e2e metrics CA') };
/** `accepted_client_ca` as documented: the bytes of base64 of the PEM. */
const caBytes = (ca: Ca) => Buffer.from(Buffer.from(ca.pem).toString('base64'));

// ---------------------------------------------------------------------------------------------
// HTTPS helper (Node's https with the test CA; no keep-alive, so nothing lingers)
// ---------------------------------------------------------------------------------------------

interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

function https(base: string, method: string, path: string, opts: { body?: unknown; headers?: Record<string, string> } = {}): Promise<HttpAnswer> {
  const url = new URL(path, base);
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      {
        method,
        ca: tls.caPem,
        agent: false,
        headers: {
          ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) } : {}),
          ...opts.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

// ---------------------------------------------------------------------------------------------
// Struct → JSON for LogRecord.raw_details as the client decodes it
// ---------------------------------------------------------------------------------------------

function jsonOfValue(v: any): unknown {
  switch (v?.kind) {
    case 'nullValue':
      return null;
    case 'numberValue':
      return v.numberValue;
    case 'stringValue':
      return v.stringValue;
    case 'boolValue':
      return v.boolValue;
    case 'structValue':
      return jsonOfStruct(v.structValue);
    case 'listValue':
      return (v.listValue?.values ?? []).map(jsonOfValue);
    default:
      return undefined;
  }
}
function jsonOfStruct(s: any): Record<string, unknown> {
  return Object.fromEntries(Object.entries((s?.fields ?? {}) as Record<string, unknown>).map(([k, v]) => [k, jsonOfValue(v)]));
}

// ---------------------------------------------------------------------------------------------

interface Who {
  userId: string;
  email: string;
  /** Present for calls made with an API key. */
  keyId?: string;
}

const principalOf = (w: Who) => ({ id: w.userId, type: 'user', name: w.email, ...(w.keyId ? { api_key_id: w.keyId } : {}) });

interface Expected {
  operation: string;
  status?: 'OK' | 'ERROR';
  who: Who;
  /** Exact caller_ip_address (default the client's peer, 127.0.0.1). */
  ip?: string;
  /** The async_operation_id given; absent means no request_id in the record. */
  requestId?: string;
  /** Exact details (OK records); for ERROR records, the fields that must be there. */
  details?: Record<string, unknown>;
}

for (const engine of engines()) {
  describe(`official @temporalio/cloud client against the real server: ${engine}`, () => {
    const dataDir = mkdtempSync(join(tmpdir(), `auditstream-e2e-${engine}-`));
    const schema = `e2e_${randomBytes(5).toString('hex')}`;
    let config: Readonly<Config>;
    let server: RunningServer;
    let connection: Connection;
    let client: Client;
    let apiKey = '';
    let accountId = '';
    let owner: Who;
    let ownerPassword = '';
    const started = Math.floor(Date.now() / 1000) - 2;

    const connect = async () => {
      connection = await CloudOperationsConnection.connect({ address: server.grpcAddress, apiKey: () => apiKey, connectTimeout: '5s' });
      client = new CloudOperationsClient({ connection });
    };
    const cloud = () => client.cloudService;
    const as = async <T>(token: string, fn: () => Promise<T>): Promise<T> => {
      const saved = apiKey;
      apiKey = token;
      try {
        return await fn();
      } finally {
        apiKey = saved;
      }
    };

    const allRecords = async (): Promise<AuditRecord[]> => {
      const page = await server.store.query({ accountId }, { order: 'asc', limit: 1000 });
      return page.items.map((r) => JSON.parse(r.recordJson) as AuditRecord);
    };

    /** Runs `fn`, then checks it added exactly the expected records (in order). */
    const audited = async <T>(expected: Expected[], fn: () => Promise<T>): Promise<{ result: T; records: AuditRecord[] }> => {
      const before = await server.store.count(accountId);
      const result = await fn();
      const records = (await allRecords()).slice(before);
      assert.equal(
        records.length,
        expected.length,
        `records added: ${JSON.stringify(records.map((r) => r.operation))}, expected ${expected.map((e) => e.operation)}`,
      );
      expected.forEach((e, i) => {
        const r = records[i]!;
        const status = e.status ?? 'OK';
        const valid = validateEmitted(r);
        assert.ok(valid.ok, `${e.operation}: ${JSON.stringify(valid)} ${JSON.stringify(r)}`);
        assert.equal(r.operation, e.operation);
        assert.equal(r.status, status);
        assert.equal(r.level, status === 'OK' ? 'LOG_LEVEL_INFO' : 'LOG_LEVEL_ERROR');
        assert.equal(r.category, 'LOG_CATEGORY_ADMIN');
        assert.equal(r.version, 1);
        assert.equal(r.user_email, e.who.email);
        assert.deepEqual(r.principal, principalOf(e.who), `${e.operation}: principal`);
        assert.equal(r.caller_ip_address, e.ip ?? '127.0.0.1', `${e.operation}: caller IP`);
        if (e.requestId === undefined) assert.equal('request_id' in r, false, `${e.operation}: no request_id without async_operation_id (${r.request_id})`);
        else assert.equal(r.request_id, e.requestId);
        assert.match(r.emit_time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        assert.match(r.log_id, /^[0-9a-z]{32}$/);
        // Key order on output follows the seeds' field list.
        const order = [
          'emit_time',
          'level',
          'user_email',
          'caller_ip_address',
          'operation',
          'details',
          'status',
          'category',
          'version',
          'log_id',
          'principal',
          'request_id',
        ];
        assert.deepEqual(
          Object.keys(r),
          order.filter((k) => k in r),
        );
        if (e.details) {
          if (status === 'OK') assert.deepEqual(r.details, e.details, `${e.operation}: details`);
          else for (const [k, v] of Object.entries(e.details)) assert.deepEqual(r.details[k], v, `${e.operation}: details.${k}`);
        }
        if (status === 'ERROR') assert.equal(typeof r.details['reason'], 'string');
      });
      return { result, records };
    };

    const grpcCode = (code: number) => (err: unknown) => {
      assert.equal((err as { code?: number }).code, code, String((err as Error).message));
      return true;
    };

    before(async () => {
      const databaseUrl = engine === 'sqlite' ? join(dataDir, 'audit.db') : `${PG_URL}?schema=${schema}`;
      config = resolveConfig({
        DATABASE_URL: databaseUrl,
        AUDITSTREAM_HTTP_PORT: '0',
        AUDITSTREAM_GRPC_PORT: '0',
        AUDITSTREAM_TLS_CERT: join(tls.dir, 'server.pem'),
        AUDITSTREAM_TLS_KEY: join(tls.dir, 'server.key'),
        AUDITSTREAM_DATA_DIR: dataDir,
        LOG_LEVEL: 'silent',
      });
      server = await startServer(config);
      ownerPassword = `pw-${randomBytes(9).toString('base64url')}`;
      const created = await createAccount(server.store, { email: 'owner@example.com', password: ownerPassword });
      accountId = created.account_id;
      apiKey = created.api_key;
      owner = { userId: created.user_id, email: 'owner@example.com', keyId: keyIdOfToken(created.api_key)! };
      await connect();
    });
    after(async () => {
      connection?.close();
      await server?.stop();
      if (engine === 'postgres') {
        const pg = (await import('pg')).default;
        const c = new pg.Client({ connectionString: PG_URL });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await c.end();
      }
      rmSync(dataDir, { recursive: true, force: true });
    });

    // State shared by the steps, in order.
    let dev: Who = { userId: '', email: 'dev@example.com' };
    /** The invited user's own key, made with its browser session. */
    let inviteeKey: { who: Who; token: string } | undefined;
    let namespace = '';
    let createdKeyId = '';

    it('GetCurrentIdentity and GetAccount answer for the key', async () => {
      const me = await cloud().getCurrentIdentity({});
      assert.equal(me.user?.id, owner.userId);
      assert.equal(me.user?.spec?.email, owner.email);
      assert.equal(me.user?.spec?.access?.accountAccess?.role, Role.ROLE_OWNER);
      assert.equal(me.user?.spec?.access?.accountAccess?.roleDeprecated, 'owner');
      assert.equal(me.principalApiKey?.id, owner.keyId);
      const acct = await cloud().getAccount({});
      assert.equal(acct.account?.id, accountId);
    });

    it('UpdateAccount: one record with the CA fingerprints; a stale resource_version is FAILED_PRECONDITION with one ERROR record; a retry adds nothing', async () => {
      const acct = (await cloud().getAccount({})).account!;
      const req = {
        spec: { metrics: { acceptedClientCa: caBytes(CA.metrics) } },
        resourceVersion: acct.resourceVersion!,
        asyncOperationId: 'e2e-update-account',
      };
      const first = await audited(
        [
          {
            operation: 'UpdateAccount',
            who: owner,
            requestId: 'e2e-update-account',
            details: { client_ca_fingerprints: [CA.metrics.md5], search_attribute_update: {} },
          },
        ],
        () => cloud().updateAccount(req),
      );
      assert.equal(first.result.asyncOperation?.id, 'e2e-update-account');
      assert.equal(first.result.asyncOperation?.state, OpState.STATE_FULFILLED);
      assert.equal(first.result.asyncOperation?.stateDeprecated, 'fulfilled');
      // The same request again (a client retry): the first answer, no record.
      const again = await audited([], () => cloud().updateAccount(req));
      assert.equal(again.result.asyncOperation?.id, first.result.asyncOperation?.id);
      assert.equal(Number(again.result.asyncOperation?.finishedTime?.seconds), Number(first.result.asyncOperation?.finishedTime?.seconds));
      // A stale resource_version: refused, audited once, nothing changed.
      const before = (await cloud().getAccount({})).account!;
      await audited([{ operation: 'UpdateAccount', status: 'ERROR', who: owner }], () =>
        assert.rejects(
          cloud().updateAccount({ spec: { metrics: { acceptedClientCa: Buffer.alloc(0) } }, resourceVersion: acct.resourceVersion! }),
          grpcCode(FAILED_PRECONDITION),
        ),
      );
      const after = (await cloud().getAccount({})).account!;
      assert.equal(after.resourceVersion, before.resourceVersion);
      assert.deepEqual(Buffer.from(after.spec?.metrics?.acceptedClientCa ?? []), caBytes(CA.metrics));
    });

    it('CreateUser (InviteUsers), GetUsers with paging, GetUser, UpdateUser; a retried CreateUser returns the same user', async () => {
      const req = { spec: { email: dev.email, access: { accountAccess: { role: Role.ROLE_READ } } }, asyncOperationId: 'e2e-invite-dev' };
      const { result } = await audited(
        [
          {
            operation: 'InviteUsers',
            who: owner,
            requestId: 'e2e-invite-dev',
            details: { target_users: [dev.email], account_role: 'ROLE_READ', search_attribute_update: {} },
          },
        ],
        () => cloud().createUser(req),
      );
      dev = { ...dev, userId: result.userId! };
      const retry = await audited([], () => cloud().createUser(req));
      assert.equal(retry.result.userId, dev.userId);

      const ids: string[] = [];
      let pageToken = '';
      do {
        const page = await cloud().getUsers({ pageSize: 1, pageToken });
        assert.ok(page.users.length <= 1);
        ids.push(...page.users.map((u) => u.id!));
        pageToken = page.nextPageToken ?? '';
      } while (pageToken);
      assert.deepEqual(ids.sort(), [owner.userId, dev.userId].sort());
      const byEmail = await cloud().getUsers({ email: dev.email });
      assert.deepEqual(
        byEmail.users.map((u) => u.id),
        [dev.userId],
      );

      const got = (await cloud().getUser({ userId: dev.userId })).user!;
      assert.equal(got.spec?.email, dev.email);
      assert.ok(got.invitation?.createdTime, 'a pending invitation is shown');
      // UpdateUser without async_operation_id: no request_id in the record.
      await audited(
        [{ operation: 'UpdateUser', who: owner, details: { target_users: [dev.email], account_role: 'ROLE_DEVELOPER', search_attribute_update: {} } }],
        () =>
          cloud().updateUser({
            userId: dev.userId,
            resourceVersion: got.resourceVersion!,
            spec: { email: dev.email, access: { accountAccess: { role: Role.ROLE_DEVELOPER } } },
          }),
      );
      // The old resource_version is now stale.
      await audited([{ operation: 'UpdateUser', status: 'ERROR', who: owner }], () =>
        assert.rejects(
          cloud().updateUser({
            userId: dev.userId,
            resourceVersion: got.resourceVersion!,
            spec: { email: dev.email, access: { accountAccess: { role: Role.ROLE_ADMIN } } },
          }),
          grpcCode(FAILED_PRECONDITION),
        ),
      );
    });

    it('CreateNamespace, GetNamespaces, GetNamespace, SetUserNamespaceAccess (UpdateUserNamespacePermissions)', async () => {
      const { result } = await audited(
        [
          {
            operation: 'CreateNamespace',
            who: owner,
            requestId: 'e2e-create-ns',
            details: {
              namespace: `payments.${accountId}`,
              client_ca_fingerprints: [CA.ns1.md5],
              regions: ['aws-us-east-1', 'aws-us-west-2'],
              retention_days: 14,
              search_attribute_update: { OrderId: 'Keyword' },
            },
          },
        ],
        () =>
          cloud().createNamespace({
            spec: {
              name: 'payments',
              regions: ['aws-us-east-1', 'aws-us-west-2'],
              retentionDays: 14,
              mtlsAuth: { acceptedClientCa: caBytes(CA.ns1), enabled: true },
              apiKeyAuth: { enabled: true },
              customSearchAttributes: { OrderId: 'Keyword' },
            },
            asyncOperationId: 'e2e-create-ns',
          }),
      );
      namespace = result.namespace!;
      assert.equal(namespace, `payments.${accountId}`);
      const list = await cloud().getNamespaces({ pageSize: 10 });
      assert.deepEqual(
        list.namespaces.map((n) => n.namespace),
        [namespace],
      );
      const ns = (await cloud().getNamespace({ namespace })).namespace!;
      assert.equal(ns.spec?.retentionDays, 14);
      assert.equal(ns.activeRegion, 'aws-us-east-1');

      const user = (await cloud().getUser({ userId: dev.userId })).user!;
      await audited(
        [
          {
            operation: 'UpdateUserNamespacePermissions',
            who: owner,
            details: { namespace, target_users: [dev.email], permission: 'PERMISSION_WRITE', search_attribute_update: {} },
          },
        ],
        () =>
          cloud().setUserNamespaceAccess({
            namespace,
            userId: dev.userId,
            resourceVersion: user.resourceVersion!,
            access: { permission: Permission.PERMISSION_WRITE },
          }),
      );
      const after = (await cloud().getUser({ userId: dev.userId })).user!;
      assert.equal(after.spec?.access?.namespaceAccesses?.[namespace]?.permission, Permission.PERMISSION_WRITE);
      assert.equal(after.spec?.access?.namespaceAccesses?.[namespace]?.permissionDeprecated, 'write');
    });

    it('UpdateNamespace with a certificate change (client_ca_fingerprints), RenameCustomSearchAttribute, FailoverNamespaceRegion', async () => {
      const ns = (await cloud().getNamespace({ namespace })).namespace!;
      const spec = ns.spec!;
      await audited(
        [
          {
            operation: 'UpdateNamespace',
            who: owner,
            requestId: 'e2e-update-ns',
            details: { namespace, client_ca_fingerprints: [CA.ns2.md5], search_attribute_update: {} },
          },
        ],
        () =>
          cloud().updateNamespace({
            namespace,
            resourceVersion: ns.resourceVersion!,
            spec: { ...spec, mtlsAuth: { ...spec.mtlsAuth, acceptedClientCa: caBytes(CA.ns2), acceptedClientCaDeprecated: '' } },
            asyncOperationId: 'e2e-update-ns',
          }),
      );
      // The stale resource_version from before the update: refused and audited once.
      await audited([{ operation: 'UpdateNamespace', status: 'ERROR', who: owner, details: { namespace } }], () =>
        assert.rejects(
          cloud().updateNamespace({ namespace, resourceVersion: ns.resourceVersion!, spec: { ...spec, retentionDays: 30 } }),
          grpcCode(FAILED_PRECONDITION),
        ),
      );
      const updated = (await cloud().getNamespace({ namespace })).namespace!;
      assert.equal(updated.spec?.retentionDays, 14, 'the refused update changed nothing');
      assert.deepEqual(Buffer.from(updated.spec?.mtlsAuth?.acceptedClientCa ?? []), caBytes(CA.ns2));

      await audited(
        [
          {
            operation: 'RenameCustomSearchAttribute',
            who: owner,
            details: { namespace, old_name: 'OrderId', new_name: 'OrderKey', search_attribute_update: {} },
          },
        ],
        () => cloud().renameCustomSearchAttribute({ namespace, existingCustomSearchAttributeName: 'OrderId', newCustomSearchAttributeName: 'OrderKey' }),
      );
      await audited(
        [
          {
            operation: 'FailoverNamespace',
            who: owner,
            requestId: 'e2e-failover',
            details: { namespace, region: 'aws-us-west-2', search_attribute_update: {} },
          },
        ],
        () => cloud().failoverNamespaceRegion({ namespace, region: 'aws-us-west-2', asyncOperationId: 'e2e-failover' }),
      );
      const after = (await cloud().getNamespace({ namespace })).namespace!;
      assert.equal(after.activeRegion, 'aws-us-west-2');
      assert.deepEqual(Object.keys(after.spec?.customSearchAttributes ?? {}), ['OrderKey']);
    });

    it('API keys: CreateApiKey, GetApiKeys, GetApiKey, UpdateApiKey, DeleteApiKey; the new key authenticates with its own principal', async () => {
      const expiry = Math.floor(Date.now() / 1000) + 30 * 86_400;
      const { result } = await audited([{ operation: 'CreateAPIKey', who: owner, requestId: 'e2e-create-key' }], () =>
        cloud().createApiKey({
          spec: {
            ownerId: owner.userId,
            ownerType: OwnerType.OWNER_TYPE_USER,
            displayName: 'ci key',
            description: 'e2e',
            expiryTime: { seconds: expiry as never },
          },
          asyncOperationId: 'e2e-create-key',
        }),
      );
      createdKeyId = result.keyId!;
      assert.ok(result.token);
      assert.equal(keyIdOfToken(result.token!), createdKeyId);
      // details: the key and its owner (asserted here since the id is only known now).
      const rec = (await allRecords()).find((r) => r.request_id === 'e2e-create-key')!;
      assert.deepEqual(rec.details, { target_api_keys: [createdKeyId], target_users: [owner.userId], search_attribute_update: {} });

      // The new key works, and its calls carry its id.
      const me = await as(result.token!, () => cloud().getCurrentIdentity({}));
      assert.equal(me.principalApiKey?.id, createdKeyId);
      const viaNewKey: Who = { ...owner, keyId: createdKeyId };
      await as(result.token!, () =>
        audited(
          [
            {
              operation: 'UpdateAPIKey',
              who: viaNewKey,
              ip: '198.51.100.7, 127.0.0.1',
              details: { target_api_keys: [owner.keyId!], disabled: false, search_attribute_update: {} },
            },
          ],
          async () => {
            const k = (await cloud().getApiKey({ keyId: owner.keyId! })).apiKey!;
            return client.withMetadata({ 'x-forwarded-for': '198.51.100.7' }, () =>
              cloud().updateApiKey({ keyId: owner.keyId!, resourceVersion: k.resourceVersion!, spec: { ...k.spec, description: 'touched by the new key' } }),
            );
          },
        ),
      );

      const keys = await cloud().getApiKeys({ pageSize: 10 });
      assert.deepEqual(keys.apiKeys.map((k) => k.id).sort(), [owner.keyId, createdKeyId].sort());
      const key = (await cloud().getApiKey({ keyId: createdKeyId })).apiKey!;
      assert.equal(key.spec?.displayName, 'ci key');
      assert.equal(Number(key.spec?.expiryTime?.seconds), expiry);

      await audited(
        [{ operation: 'UpdateAPIKey', who: owner, details: { target_api_keys: [createdKeyId], disabled: true, search_attribute_update: {} } }],
        () => cloud().updateApiKey({ keyId: createdKeyId, resourceVersion: key.resourceVersion!, spec: { ...key.spec, disabled: true } }),
      );
      // A disabled key no longer authenticates (and belongs to no tenant: no record).
      await audited([], () => as(result.token!, () => assert.rejects(cloud().getCurrentIdentity({}), (err: { code: number }) => err.code === 16)));
      const disabled = (await cloud().getApiKey({ keyId: createdKeyId })).apiKey!;
      assert.equal(disabled.spec?.disabled, true);
      await audited(
        [{ operation: 'DeleteAPIKey', who: owner, requestId: 'e2e-delete-key', details: { target_api_keys: [createdKeyId], search_attribute_update: {} } }],
        () => cloud().deleteApiKey({ keyId: createdKeyId, resourceVersion: disabled.resourceVersion!, asyncOperationId: 'e2e-delete-key' }),
      );
      await assert.rejects(cloud().getApiKey({ keyId: createdKeyId }), grpcCode(NOT_FOUND));
    });

    it('UserLogin over HTTPS after an invitation is re-issued and accepted; a wrong password is one ERROR record; the session creates its own key (CSRF)', async () => {
      const invitee: Who = { userId: '', email: 'invitee@example.com' };
      const created = await audited(
        [{ operation: 'InviteUsers', who: owner, details: { target_users: [invitee.email], account_role: 'ROLE_DEVELOPER', search_attribute_update: {} } }],
        () => cloud().createUser({ spec: { email: invitee.email, access: { accountAccess: { role: Role.ROLE_DEVELOPER } } } }),
      );
      invitee.userId = created.result.userId!;
      const auth = { authorization: `Bearer ${apiKey}` };
      const issued = await audited(
        [{ operation: 'InviteUsers', who: owner, details: { target_users: [invitee.email], account_role: 'ROLE_DEVELOPER', search_attribute_update: {} } }],
        () => https(server.httpUrl, 'POST', `/api/v1/users/${invitee.userId}/invitation`, { headers: auth }),
      );
      assert.equal(issued.result.status, 200, issued.result.text);
      const token = issued.result.json.token as string;
      assert.ok(token);
      const password = `pw-${randomBytes(12).toString('base64url')}`;
      const accepted = await audited(
        [{ operation: 'UpdateUser', who: invitee, details: { target_users: [invitee.email], invitation: 'accepted', search_attribute_update: {} } }],
        () => https(server.httpUrl, 'POST', '/auth/accept-invite', { body: { token, password } }),
      );
      assert.equal(accepted.result.status, 200, accepted.result.text);

      const login = await audited(
        [{ operation: 'UserLogin', who: invitee, details: { target_users: [invitee.email], method: 'password', search_attribute_update: {} } }],
        () => https(server.httpUrl, 'POST', '/auth/login', { body: { email: invitee.email, password } }),
      );
      assert.equal(login.result.status, 200, login.result.text);
      const cookie = String(([] as string[]).concat(login.result.headers['set-cookie'] ?? [])[0] ?? '');
      assert.match(cookie, /HttpOnly/);
      assert.match(cookie, /SameSite=Strict/);
      assert.match(cookie, /Secure/);
      // The session works on the Cloud API's HTTP mapping for reads.
      const me = await https(server.httpUrl, 'GET', '/cloud/current-identity', { headers: { cookie: cookie.split(';')[0]! } });
      assert.equal(me.status, 200, me.text);
      assert.equal(me.json.user.id, invitee.userId);

      const wrong = await audited([{ operation: 'UserLogin', status: 'ERROR', who: invitee, details: { target_users: [invitee.email] } }], () =>
        https(server.httpUrl, 'POST', '/auth/login', { body: { email: invitee.email, password: 'not the password' } }),
      );
      assert.equal(wrong.result.status, 401);
      // Also the owner (created with a password) can log in.
      const ownerLogin = await audited(
        [
          {
            operation: 'UserLogin',
            who: { userId: owner.userId, email: owner.email },
            details: { target_users: [owner.email], method: 'password', search_attribute_update: {} },
          },
        ],
        () => https(server.httpUrl, 'POST', '/auth/login', { body: { email: owner.email, password: ownerPassword } }),
      );
      assert.equal(ownerLogin.result.status, 200, ownerLogin.result.text);

      // With its session the invitee creates its own API key over /cloud (a state change: the
      // CSRF token is required). The record names the user, without an api_key_id.
      const session = { cookie: cookie.split(';')[0]!, 'x-csrf-token': login.result.json.csrf_token as string };
      const keyBody = { spec: { owner_id: invitee.userId, owner_type: 'OWNER_TYPE_USER', display_name: 'my own key' } };
      await audited([], async () => {
        const res = await https(server.httpUrl, 'POST', '/cloud/api-keys', { headers: { cookie: session.cookie }, body: keyBody });
        assert.equal(res.status, 401, `a session mutation without x-csrf-token is refused: ${res.text}`);
      });
      const own = await audited([{ operation: 'CreateAPIKey', who: invitee }], () =>
        https(server.httpUrl, 'POST', '/cloud/api-keys', { headers: session, body: keyBody }),
      );
      assert.equal(own.result.status, 200, own.result.text);
      const keyId = (own.result.json.keyId ?? own.result.json.key_id) as string;
      assert.deepEqual(own.records[0]!.details, { target_api_keys: [keyId], target_users: [invitee.userId], search_attribute_update: {} });
      inviteeKey = { who: { ...invitee, keyId }, token: own.result.json.token as string };
      assert.equal(keyIdOfToken(inviteeKey.token), keyId);
    });

    it('a refused mutation by a lesser role is PERMISSION_DENIED with one ERROR record naming that caller', async () => {
      // The invitee (a Developer) with the key it made itself tries an Owner/Global Admin RPC.
      assert.ok(inviteeKey, 'the invitee has a key');
      await as(inviteeKey!.token, () =>
        audited([{ operation: 'InviteUsers', status: 'ERROR', who: inviteeKey!.who, details: { target_users: ['x@example.com'] } }], () =>
          assert.rejects(
            cloud().createUser({ spec: { email: 'x@example.com', access: { accountAccess: { role: Role.ROLE_READ } } } }),
            grpcCode(PERMISSION_DENIED),
          ),
        ),
      );
    });

    it('DeleteUser and DeleteNamespace', async () => {
      const user = (await cloud().getUser({ userId: dev.userId })).user!;
      await audited(
        [{ operation: 'DeleteUser', who: owner, requestId: 'e2e-delete-user', details: { target_users: [dev.userId], search_attribute_update: {} } }],
        () => cloud().deleteUser({ userId: dev.userId, resourceVersion: user.resourceVersion!, asyncOperationId: 'e2e-delete-user' }),
      );
      await assert.rejects(cloud().getUser({ userId: dev.userId }), grpcCode(NOT_FOUND));
      // A deleted user's keys go with it.
      const inv = inviteeKey!.who;
      await audited([{ operation: 'DeleteUser', who: owner, details: { target_users: [inv.userId], search_attribute_update: {} } }], () =>
        cloud().deleteUser({ userId: inv.userId }),
      );
      await as(inviteeKey!.token, () => assert.rejects(cloud().getCurrentIdentity({}), (err: { code: number }) => err.code === 16));

      const ns = (await cloud().getNamespace({ namespace })).namespace!;
      await audited([{ operation: 'DeleteNamespace', who: owner, requestId: 'e2e-delete-ns', details: { namespace, search_attribute_update: {} } }], () =>
        cloud().deleteNamespace({ namespace, resourceVersion: ns.resourceVersion!, asyncOperationId: 'e2e-delete-ns' }),
      );
      await assert.rejects(cloud().getNamespace({ namespace }), grpcCode(NOT_FOUND));
    });

    it('every seed operation was performed and recorded', async () => {
      const ops = new Set((await allRecords()).filter((r) => r.category === 'LOG_CATEGORY_ADMIN' && r.status === 'OK').map((r) => r.operation));
      for (const op of [
        'UpdateAccount',
        'InviteUsers',
        'DeleteUser',
        'UpdateUser',
        'UpdateUserNamespacePermissions',
        'UserLogin',
        'CreateNamespace',
        'UpdateNamespace',
        'DeleteNamespace',
        'RenameCustomSearchAttribute',
        'FailoverNamespace',
        'CreateAPIKey',
        'DeleteAPIKey',
        'UpdateAPIKey',
      ]) {
        assert.ok(ops.has(op), `${op} was recorded`);
      }
    });

    it('GetAuditLogs: a time range, page size and page tokens walk exactly the stored records', async () => {
      const stored = await allRecords();
      const start = { seconds: started as never };
      const end = { seconds: (Math.floor(Date.now() / 1000) + 3600) as never };
      const logs: any[] = [];
      let pageToken = '';
      let pages = 0;
      do {
        const page = await cloud().getAuditLogs({ startTimeInclusive: start, endTimeExclusive: end, pageSize: 4, pageToken });
        assert.ok(page.logs.length <= 4);
        logs.push(...page.logs);
        pageToken = page.nextPageToken ?? '';
        pages++;
      } while (pageToken && pages < 100);
      assert.ok(pages > 2, 'several pages');
      assert.deepEqual(
        logs.map((l) => l.logId),
        stored.map((r) => r.log_id),
      );
      for (const [i, l] of logs.entries()) {
        const r = stored[i]!;
        assert.equal(l.operation, r.operation);
        assert.equal(l.status, r.status);
        assert.equal(Number(l.emitTime?.seconds), Date.parse(r.emit_time) / 1000);
        assert.equal(l.principal?.id, r.principal.id);
        assert.equal(l.principal?.type, r.principal.type);
        assert.equal(l.principal?.name, r.principal.name);
        assert.equal(l.principal?.apiKeyId ?? '', r.principal.api_key_id ?? '');
        assert.equal(l.xForwardedFor, r.caller_ip_address);
        assert.equal(l.asyncOperationId ?? '', r.request_id ?? '');
        // Provenance rides in raw_details (LogRecord has no field for it): null for the control plane's own records.
        assert.deepEqual(jsonOfStruct(l.rawDetails), { ...r.details, auditstream_ingested_by: null });
      }
      // A range before anything happened is empty; a bad page token is INVALID_ARGUMENT.
      const empty = await cloud().getAuditLogs({
        startTimeInclusive: { seconds: (started - 7200) as never },
        endTimeExclusive: { seconds: (started - 3600) as never },
      });
      assert.deepEqual(empty.logs, []);
      await assert.rejects(cloud().getAuditLogs({ pageToken: 'not-a-token' }), grpcCode(3));
    });

    it('GetAsyncOperation answers truthfully after the server restarts', async () => {
      const beforeRestart = (await cloud().getAsyncOperation({ asyncOperationId: 'e2e-create-ns' })).asyncOperation!;
      assert.equal(beforeRestart.state, OpState.STATE_FULFILLED);
      connection.close();
      await server.stop();
      server = await startServer(config);
      await connect();
      for (const [id, type] of [
        ['e2e-update-account', 'UpdateAccount'],
        ['e2e-create-ns', 'CreateNamespace'],
        ['e2e-delete-key', 'DeleteApiKey'],
      ] as const) {
        const op = (await cloud().getAsyncOperation({ asyncOperationId: id })).asyncOperation!;
        assert.equal(op.id, id);
        assert.equal(op.state, OpState.STATE_FULFILLED);
        assert.equal(op.stateDeprecated, 'fulfilled');
        assert.equal(op.operationType, type);
        assert.ok(Number(op.startedTime?.seconds) >= started);
        assert.ok(Number(op.finishedTime?.seconds) >= Number(op.startedTime?.seconds));
      }
      assert.equal(
        Number(beforeRestart.finishedTime?.seconds),
        Number((await cloud().getAsyncOperation({ asyncOperationId: 'e2e-create-ns' })).asyncOperation!.finishedTime?.seconds),
      );
      await assert.rejects(cloud().getAsyncOperation({ asyncOperationId: 'never-used' }), grpcCode(NOT_FOUND));
      // A retry after the restart still returns the first result and adds no record.
      await audited([], () => cloud().failoverNamespaceRegion({ namespace, region: 'aws-us-west-2', asyncOperationId: 'e2e-failover' }));
    });

    it('the same flows over the HTTP mapping: snake_case JSON in, namespaces CRUD, GetAuditLogs with RFC 3339 times, 501 for an RPC not served', async () => {
      const headers = { authorization: `Bearer ${apiKey}` };
      const created = await audited(
        [
          {
            operation: 'CreateNamespace',
            who: owner,
            requestId: 'http-create',
            details: { namespace: `web.${accountId}`, regions: ['aws-us-east-1'], retention_days: 3, search_attribute_update: {} },
          },
        ],
        () =>
          https(server.httpUrl, 'POST', '/cloud/namespaces', {
            headers,
            body: { spec: { name: 'web', regions: ['aws-us-east-1'], retention_days: 3, api_key_auth: { enabled: true } }, async_operation_id: 'http-create' },
          }),
      );
      assert.equal(created.result.status, 200, created.result.text);
      const ns = created.result.json.namespace as string;
      assert.equal(ns, `web.${accountId}`);
      assert.equal(created.result.json.asyncOperation?.id ?? created.result.json.async_operation?.id, 'http-create');

      const got = await https(server.httpUrl, 'GET', `/cloud/namespaces/${ns}`, { headers });
      assert.equal(got.status, 200, got.text);
      const nsMsg = got.json.namespace;
      assert.equal(nsMsg.namespace, ns);
      const rv = nsMsg.resourceVersion ?? nsMsg.resource_version;
      assert.ok(rv);

      await audited([{ operation: 'UpdateNamespace', who: owner, details: { namespace: ns, retention_days: 9, search_attribute_update: {} } }], async () => {
        const res = await https(server.httpUrl, 'POST', `/cloud/namespaces/${ns}`, {
          headers,
          body: { resource_version: rv, spec: { name: 'web', regions: ['aws-us-east-1'], retention_days: 9, api_key_auth: { enabled: true } } },
        });
        assert.equal(res.status, 200, res.text);
      });
      // A stale resource_version over HTTP: 409 with the gRPC code in the body, one ERROR record.
      await audited([{ operation: 'UpdateNamespace', status: 'ERROR', who: owner, details: { namespace: ns } }], async () => {
        const res = await https(server.httpUrl, 'POST', `/cloud/namespaces/${ns}`, {
          headers,
          body: { resource_version: rv, spec: { name: 'web', regions: ['aws-us-east-1'], retention_days: 5, api_key_auth: { enabled: true } } },
        });
        assert.equal(res.status, 409, res.text);
        assert.equal(res.json.code, FAILED_PRECONDITION);
      });
      const current = (await https(server.httpUrl, 'GET', `/cloud/namespaces/${ns}`, { headers })).json.namespace;
      assert.equal(current.spec.retentionDays ?? current.spec.retention_days, 9);
      await audited([{ operation: 'DeleteNamespace', who: owner, details: { namespace: ns, search_attribute_update: {} } }], async () => {
        const res = await https(
          server.httpUrl,
          'DELETE',
          `/cloud/namespaces/${ns}?resource_version=${encodeURIComponent(current.resourceVersion ?? current.resource_version)}`,
          { headers },
        );
        assert.equal(res.status, 200, res.text);
      });
      assert.equal((await https(server.httpUrl, 'GET', `/cloud/namespaces/${ns}`, { headers })).status, 404);

      const stored = await allRecords();
      const startIso = new Date(started * 1000).toISOString();
      const endIso = new Date(Date.now() + 3_600_000).toISOString();
      const seen: string[] = [];
      let token = '';
      do {
        const q = new URLSearchParams({ start_time_inclusive: startIso, end_time_exclusive: endIso, page_size: '50', ...(token ? { page_token: token } : {}) });
        const page = await https(server.httpUrl, 'GET', `/cloud/audit-logs?${q}`, { headers });
        assert.equal(page.status, 200, page.text);
        seen.push(...(page.json.logs as { logId?: string; log_id?: string }[]).map((l) => l.logId ?? l.log_id ?? ''));
        token = page.json.nextPageToken ?? page.json.next_page_token ?? '';
      } while (token);
      assert.deepEqual(
        seen,
        stored.map((r) => r.log_id),
      );

      const regions = await https(server.httpUrl, 'GET', '/cloud/regions', { headers });
      assert.equal(regions.status, 501, regions.text);
      // And the same over gRPC.
      await assert.rejects(cloud().getRegions({}), grpcCode(12));
      // No credentials: 401, and no record anywhere.
      await audited([], async () => assert.equal((await https(server.httpUrl, 'GET', '/cloud/users')).status, 401));
    });
  });
}

after(() => tls.cleanup());
