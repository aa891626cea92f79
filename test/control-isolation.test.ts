/**
 * Tenant isolation: account A's owner (Namespace Admin everywhere in A, every account role
 * permission) calls every Cloud Ops RPC the control plane serves against account B's resources —
 * B's user ids, namespace ids, API key ids, async operation ids, B's audit-log page token, B's
 * audit log sinks — and sees nothing of B: NOT_FOUND or empty lists, never B's data, and B's rows
 * and chain are byte-for-byte unchanged afterwards. A's refusals are recorded in A's chain, never
 * in B's. The `/api/v1/audit-logs` query with A's key and `account=B` is 403; the
 * `/api/v1/audit-log-sinks/<B's sink>/...` extensions (status, verify, replay, dead letters,
 * setup) are 404. B's sinks keep delivering throughout (a delivery engine runs, with in-memory
 * destinations: the destination is not what is tested here). Both engines.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { engines } from './helpers/stores.js';
import type { Actor } from './helpers/control.js';
import { controlSuite } from './helpers/suites.js';
import { keyIdOfToken } from '../src/control/secrets.js';
import { RBAC } from '../src/control/rbac.js';
import { findCloudMethod } from '../src/api/cloud/proto.js';
import { isAuditError } from '../src/errors.js';
import { verifyAccount } from '../src/chain/verify.js';
import { buildApp } from '../src/api/app.js';
import { resolveConfig } from '../src/config.js';
import { createControlPlane } from '../src/control/control-plane.js';
import type { CloudRequest, CloudResponse } from '../src/api/cloud/handlers.js';
import type { AuditRecord } from '../src/record/record.js';
import type { AuditStore } from '../src/store/store.js';
import { DeliveryEngine } from '../src/delivery/engine.js';
import { readExternalId } from '../src/control/sinks-service.js';
import { FakeDestination, until } from './helpers/fake-sink.js';

/**
 * Every control-plane row of an account, for "nothing changed". Of its sinks, what a caller
 * controls (spec, state, version): the delivery columns (cursor, lease, health) move on their own
 * while the engine delivers.
 */
async function snapshot(store: AuditStore, accountId: string): Promise<string> {
  const out: Record<string, string[]> = {};
  const queries: [string, string][] = [
    ...[
      ['accounts', 'id'],
      ['users', 'account_id'],
      ['namespaces', 'account_id'],
      ['api_keys', 'account_id'],
      ['async_operations', 'account_id'],
      ['sessions', 'account_id'],
      ['account_external_ids', 'account_id'],
    ].map(([table, col]) => [table!, `SELECT * FROM ${table} WHERE ${col} = ?`] as [string, string]),
    [
      'audit_log_sinks',
      'SELECT id, name, kind, spec_json, enabled, state, resource_version, created_ms, modified_ms, dead_letter_count, expired_count FROM audit_log_sinks WHERE account_id = ?',
    ],
    ['audit_log_sink_replays', 'SELECT r.* FROM audit_log_sink_replays r JOIN audit_log_sinks s ON s.id = r.sink_id WHERE s.account_id = ?'],
    ['audit_log_sink_dead_letters', 'SELECT d.* FROM audit_log_sink_dead_letters d JOIN audit_log_sinks s ON s.id = d.sink_id WHERE s.account_id = ?'],
  ];
  for (const [name, sql] of queries) {
    const rows = await store.sql.all(sql, [accountId]);
    out[name] = rows.map((r) => JSON.stringify(r)).sort();
  }
  return JSON.stringify(out);
}

/** A Kinesis sink spec writing to `stream` in AWS account `aws`. */
function sinkSpec(name: string, stream: string, aws = '111122223333', enabled = true): CloudRequest {
  return {
    name,
    enabled,
    kinesisSink: { roleName: 'auditstream-writer', destinationUri: `arn:aws:kinesis:us-east-1:${aws}:stream/${stream}`, region: 'us-east-1' },
  };
}

async function chainOf(store: AuditStore, accountId: string): Promise<string[]> {
  const page = await store.query({ accountId }, { order: 'asc', limit: 1000 });
  return page.items.map((r) => `${r.seq} ${r.hash} ${r.recordJson}`);
}

const codeOf = (err: unknown) => (isAuditError(err) ? err.code : `non-AuditError: ${(err as Error)?.message}`);

/** What a call of A against B's resources must give. */
type Expect = 'NOT_FOUND' | 'INVALID_ARGUMENT' | 'FAILED_PRECONDITION' | 'OK';

interface Case {
  rpc: string;
  why: string;
  req: () => CloudRequest;
  expect: Expect | readonly Expect[];
  /** Extra checks on a successful response. */
  check?: (res: CloudResponse) => void | Promise<void>;
  /**
   * Whether to scan the answer for B's identifiers (default true). Off for A's audit log: A's own
   * ERROR records rightly repeat the ids A itself sent in the refused requests.
   */
  scan?: boolean;
}

for (const engine of engines()) {
  describe(`tenant isolation: ${engine}`, () => {
    let a: Actor;
    let b: Actor;
    let bDev: Actor;
    let bNs = '';
    let bNsName = '';
    let aNs = '';
    let bPageToken = '';
    const bOpId = 'shared-op-id-1';
    let served: Set<string>;
    let bBefore: { state: string; chain: string[] };
    /** B's sinks: `audit` (A later creates its own sink of that name) and `b-private`. */
    const bSink = 'b-private';
    const B_STREAM = 'arn:aws:kinesis:us-east-1:444455556666:stream/b-private-stream';
    let bExternalId = '';
    let delivery: DeliveryEngine;
    /** In-memory destinations by stream ARN. */
    const dests = new Map<string, FakeDestination>();
    const dest = (arn: string) => {
      let d = dests.get(arn);
      if (!d) dests.set(arn, (d = new FakeDestination()));
      return d;
    };
    /** Strings that identify B's data; none may appear in any answer to A. */
    let secrets: string[] = [];

    const s = controlSuite(engine, {
      ownerEmail: 'owner-a@example.com',
      delivery: (store) => {
        delivery = new DeliveryEngine({
          store,
          flushIntervalMs: 20,
          idlePollMs: 100,
          scanIntervalMs: 100,
          leaseTtlMs: 3000,
          createAdapter: (row) => dest(row.spec.kinesisSink?.destinationUri ?? 'pubsub').adapter(),
        });
        delivery.start();
        return { hooks: delivery, stop: () => delivery.stop(1000) };
      },
    });

    before(async () => {
      a = s.t.owner;
      b = await s.t.newAccount('owner-b@example.com');
      served = new Set(Object.keys(s.t.control.handlers).filter((k) => s.t.control.handlers[k]));

      // B: users, a namespace, API keys, an async operation, records.
      bDev = await s.t.addUser('ROLE_DEVELOPER', {}, b);
      await s.t.call('CreateUser', { spec: { email: 'b-invitee@example.com', access: { accountAccess: { role: 'ROLE_READ' } } }, asyncOperationId: bOpId }, b);
      bNsName = 'payments';
      const created = await s.t.call(
        'CreateNamespace',
        {
          spec: {
            name: bNsName,
            regions: ['aws-us-east-1', 'aws-us-west-2'],
            retentionDays: 7,
            apiKeyAuth: { enabled: true },
            customSearchAttributes: { OrderId: 'Keyword' },
          },
        },
        b,
      );
      bNs = created['namespace'] as string;
      await s.t.call('SetUserNamespaceAccess', { namespace: bNs, userId: bDev.userId, access: { permission: 'PERMISSION_WRITE' } }, b);
      const aCreated = await s.t.call(
        'CreateNamespace',
        { spec: { name: 'orders', regions: ['aws-us-east-1'], retentionDays: 7, apiKeyAuth: { enabled: true } } },
        a,
      );
      aNs = aCreated['namespace'] as string;
      // B's sinks, delivering.
      await s.t.call('CreateAccountAuditLogSink', { spec: sinkSpec('audit', 'b-audit-stream', '444455556666') }, b);
      await s.t.call('CreateAccountAuditLogSink', { spec: { ...sinkSpec(bSink, 'b-private-stream', '444455556666') } }, b);
      bExternalId = (await readExternalId(s.store.sql, b.accountId))!;
      await until(() => dest(B_STREAM).received.length > 0, "B's sink delivers its own creation record");
      // B refuses something too (an ERROR record in B's chain).
      await assert.rejects(s.t.call('DeleteUser', { userId: b.userId }, b));
      const page = await s.t.call('GetAuditLogs', { pageSize: 1 }, b);
      bPageToken = page['nextPageToken'] as string;
      assert.ok(bPageToken, 'B has more than one page of records');

      secrets = [b.accountId, b.userId, b.email, bDev.userId, bDev.email, 'b-invitee@example.com', keyIdOfToken(bDev.apiKey)!, keyIdOfToken(b.apiKey)!];
      secrets.push(bNs, bExternalId, B_STREAM, 'b-audit-stream', '444455556666');
      bBefore = { state: await snapshot(s.store, b.accountId), chain: await chainOf(s.store, b.accountId) };
    });

    const ns = () => bNs;
    const bKey = () => keyIdOfToken(bDev.apiKey)!;

    const noneOfB = (label: string, res: CloudResponse) => {
      const text = JSON.stringify(res);
      for (const s of secrets) assert.ok(!text.includes(s), `${label}: the answer shows B's ${s}: ${text}`);
    };

    /** Every log in a GetAuditLogs answer is one of A's stored records. */
    const onlyA = async (res: CloudResponse) => {
      const aIds = new Set((await s.store.query({ accountId: a.accountId }, { order: 'asc', limit: 1000 })).items.map((r) => r.columns.logId));
      for (const l of res['logs'] as { logId: string }[]) assert.ok(aIds.has(l.logId), `log ${l.logId} is not A's`);
    };

    const cases = (): Case[] => [
      { rpc: 'GetCurrentIdentity', why: "A's own identity", req: () => ({}), expect: 'OK' },
      { rpc: 'GetAccount', why: "A's own account", req: () => ({}), expect: 'OK', check: (res) => assert.ok(JSON.stringify(res).includes(a.accountId)) },
      { rpc: 'UpdateAccount', why: "changes A's account only", req: () => ({ spec: { metrics: null } }), expect: ['OK', 'INVALID_ARGUMENT'] },
      { rpc: 'GetAsyncOperation', why: "B's operation id", req: () => ({ asyncOperationId: bOpId }), expect: 'NOT_FOUND' },

      { rpc: 'GetUsers', why: "B's user's email", req: () => ({ email: bDev.email }), expect: 'OK', check: (res) => assert.deepEqual(res['users'], []) },
      {
        rpc: 'GetUsers',
        why: "all users: A's only",
        req: () => ({ pageSize: 1000 }),
        expect: 'OK',
        check: (res) => assert.equal((res['users'] as unknown[]).length, 1),
      },
      { rpc: 'GetUsers', why: "B's namespace as a filter", req: () => ({ namespace: ns() }), expect: ['OK', 'NOT_FOUND'] },
      { rpc: 'GetUser', why: "B's user id", req: () => ({ userId: bDev.userId }), expect: 'NOT_FOUND' },
      { rpc: 'GetUser', why: "B's owner id", req: () => ({ userId: b.userId }), expect: 'NOT_FOUND' },
      {
        rpc: 'UpdateUser',
        why: "B's user id",
        req: () => ({ userId: bDev.userId, spec: { email: bDev.email, access: { accountAccess: { role: 'ROLE_ADMIN' } } } }),
        expect: 'NOT_FOUND',
      },
      { rpc: 'DeleteUser', why: "B's user id", req: () => ({ userId: bDev.userId }), expect: 'NOT_FOUND' },
      { rpc: 'DeleteUser', why: "B's owner id", req: () => ({ userId: b.userId }), expect: 'NOT_FOUND' },
      {
        rpc: 'SetUserNamespaceAccess',
        why: "B's namespace and user",
        req: () => ({ namespace: ns(), userId: bDev.userId, access: { permission: 'PERMISSION_ADMIN' } }),
        expect: 'NOT_FOUND',
      },
      {
        rpc: 'SetUserNamespaceAccess',
        why: "B's namespace, A's user",
        req: () => ({ namespace: ns(), userId: a.userId, access: { permission: 'PERMISSION_ADMIN' } }),
        expect: 'NOT_FOUND',
      },
      {
        rpc: 'SetUserNamespaceAccess',
        why: "A's namespace, B's user",
        req: () => ({ namespace: aNs, userId: bDev.userId, access: { permission: 'PERMISSION_ADMIN' } }),
        expect: 'NOT_FOUND',
      },
      {
        rpc: 'CreateUser',
        why: "a namespace access on B's namespace",
        req: () => ({
          spec: {
            email: 'a-new@example.com',
            access: { accountAccess: { role: 'ROLE_READ' }, namespaceAccesses: { [ns()]: { permission: 'PERMISSION_READ' } } },
          },
        }),
        expect: 'NOT_FOUND',
      },

      {
        rpc: 'GetNamespaces',
        why: "A's namespaces only",
        req: () => ({ pageSize: 1000 }),
        expect: 'OK',
        check: (res) =>
          assert.deepEqual(
            (res['namespaces'] as { namespace: string }[]).map((n) => n.namespace),
            [aNs],
          ),
      },
      {
        rpc: 'GetNamespaces',
        why: "B's namespace name as a filter",
        req: () => ({ name: bNsName }),
        expect: 'OK',
        check: (res) => assert.deepEqual(res['namespaces'], []),
      },
      { rpc: 'GetNamespace', why: "B's namespace", req: () => ({ namespace: ns() }), expect: 'NOT_FOUND' },
      {
        rpc: 'UpdateNamespace',
        why: "B's namespace",
        req: () => ({ namespace: ns(), spec: { name: bNsName, regions: ['aws-us-east-1'], retentionDays: 30 } }),
        expect: 'NOT_FOUND',
      },
      {
        rpc: 'RenameCustomSearchAttribute',
        why: "B's namespace",
        req: () => ({ namespace: ns(), existingCustomSearchAttributeName: 'OrderId', newCustomSearchAttributeName: 'Stolen' }),
        expect: 'NOT_FOUND',
      },
      { rpc: 'FailoverNamespaceRegion', why: "B's namespace", req: () => ({ namespace: ns(), region: 'aws-us-west-2' }), expect: 'NOT_FOUND' },
      { rpc: 'DeleteNamespace', why: "B's namespace", req: () => ({ namespace: ns() }), expect: 'NOT_FOUND' },
      {
        rpc: 'CreateNamespace',
        why: "the name of B's namespace: another namespace, A's own",
        req: () => ({ spec: { name: bNsName, regions: ['aws-us-east-1'], retentionDays: 7, apiKeyAuth: { enabled: true } } }),
        expect: 'OK',
        check: async (res) => {
          assert.equal(res['namespace'], `${bNsName}.${a.accountId}`);
          const got = await s.t.call('GetNamespace', { namespace: res['namespace'] }, a);
          assert.ok(!JSON.stringify(got).includes('OrderId'), "A's namespace has none of B's search attributes");
        },
      },

      {
        rpc: 'GetApiKeys',
        why: "B's user as owner filter",
        req: () => ({ ownerId: bDev.userId }),
        expect: 'OK',
        check: (res) => assert.deepEqual(res['apiKeys'], []),
      },
      {
        rpc: 'GetApiKeys',
        why: "all keys: A's only",
        req: () => ({ pageSize: 1000 }),
        expect: 'OK',
        check: (res) => assert.equal((res['apiKeys'] as unknown[]).length, 1),
      },
      { rpc: 'GetApiKey', why: "B's key id", req: () => ({ keyId: bKey() }), expect: 'NOT_FOUND' },
      {
        rpc: 'CreateApiKey',
        why: "a key for B's user",
        req: () => ({ spec: { ownerId: bDev.userId, ownerType: 'OWNER_TYPE_USER', displayName: 'stolen' } }),
        expect: 'NOT_FOUND',
      },
      {
        rpc: 'UpdateApiKey',
        why: "B's key id",
        req: () => ({ keyId: bKey(), spec: { ownerId: bDev.userId, ownerType: 'OWNER_TYPE_USER', displayName: 'x', disabled: true } }),
        expect: 'NOT_FOUND',
      },
      {
        rpc: 'UpdateApiKey',
        why: "B's key id, A as owner",
        req: () => ({ keyId: bKey(), spec: { ownerId: a.userId, ownerType: 'OWNER_TYPE_USER', displayName: 'x', disabled: true } }),
        expect: 'NOT_FOUND',
      },
      { rpc: 'DeleteApiKey', why: "B's key id", req: () => ({ keyId: bKey() }), expect: 'NOT_FOUND' },

      {
        rpc: 'GetAccountAuditLogSinks',
        why: "A's sinks only (A has none yet)",
        req: () => ({ pageSize: 1000 }),
        expect: 'OK',
        check: (res) => assert.deepEqual(res['sinks'], []),
      },
      { rpc: 'GetAccountAuditLogSink', why: "B's sink name", req: () => ({ name: bSink }), expect: 'NOT_FOUND' },
      {
        rpc: 'UpdateAccountAuditLogSink',
        why: "B's sink name: pause it",
        req: () => ({ spec: sinkSpec(bSink, 'b-private-stream', '444455556666', false) }),
        expect: 'NOT_FOUND',
      },
      {
        rpc: 'UpdateAccountAuditLogSink',
        why: "B's sink name: point it at A's stream",
        req: () => ({ spec: sinkSpec(bSink, 'stolen-by-a') }),
        expect: 'NOT_FOUND',
      },
      { rpc: 'DeleteAccountAuditLogSink', why: "B's sink name", req: () => ({ name: bSink }), expect: 'NOT_FOUND' },
      {
        // Validate takes a spec, never a stored sink: B's sink name reads nothing of B. (Writing to
        // B's real destination would be refused by B's role: A's ExternalId is not B's, see
        // kinesis-moto.test.ts.) A malformed ARN keeps this test off the network.
        rpc: 'ValidateAccountAuditLogSink',
        why: "B's sink name with a malformed ARN",
        req: () => ({
          spec: { ...sinkSpec(bSink, 'x'), kinesisSink: { roleName: 'r', destinationUri: 'arn:aws:kinesis:us-east-1:1:stream/x', region: 'us-east-1' } },
        }),
        expect: ['INVALID_ARGUMENT', 'FAILED_PRECONDITION'],
      },
      {
        rpc: 'CreateAccountAuditLogSink',
        why: "the name of B's sink: another sink, A's own",
        req: () => ({ spec: sinkSpec('audit', 'a-audit-stream') }),
        expect: 'OK',
        check: async (res) => {
          assert.ok(res['asyncOperation']);
          const got = await s.t.call('GetAccountAuditLogSink', { name: 'audit' }, a);
          assert.match(JSON.stringify(got), /a-audit-stream/);
        },
      },

      { rpc: 'GetAuditLogs', why: "B's page token", req: () => ({ pageToken: bPageToken }), expect: ['INVALID_ARGUMENT', 'OK'], scan: false, check: onlyA },
      { rpc: 'GetAuditLogs', why: "A's records only", req: () => ({ pageSize: 1000 }), expect: 'OK', scan: false, check: onlyA },
    ];

    it("A's owner calls every served RPC against B's resources and sees nothing of B", async () => {
      const list = cases();
      const covered = new Set(list.map((c) => c.rpc));
      const uncovered = [...served].filter((rpc) => !covered.has(rpc));
      assert.deepEqual(uncovered, [], `served RPCs without an isolation case: add them to control-isolation.test.ts`);
      // A handler that disappears fails here rather than silently dropping its cases.
      const unserved = Object.keys(RBAC).filter((rpc) => findCloudMethod(rpc) !== undefined && !served.has(rpc));
      assert.deepEqual(unserved, [], 'RPCs of the RBAC table without a handler');
      const problems: string[] = [];
      for (const c of list) {
        if (!served.has(c.rpc)) {
          problems.push(`${c.rpc}: has an isolation case but no handler`);
          continue;
        }
        const label = `${c.rpc} (${c.why})`;
        const allowed = (Array.isArray(c.expect) ? c.expect : [c.expect]) as Expect[];
        try {
          const res = await s.t.call(c.rpc, c.req(), a);
          if (!allowed.includes('OK')) problems.push(`${label}: expected ${allowed.join(' or ')}, the call succeeded: ${JSON.stringify(res)}`);
          if (c.scan !== false) noneOfB(label, res);
          await c.check?.(res);
        } catch (err) {
          if (err instanceof assert.AssertionError) throw err;
          const got = codeOf(err).replace('AS_ERR_', '');
          if (!allowed.includes(got as Expect)) problems.push(`${label}: expected ${allowed.join(' or ')}, got ${codeOf(err)} (${(err as Error).message})`);
          for (const s of secrets)
            if ((err as Error).message.includes(s) && !JSON.stringify(c.req()).includes(s)) problems.push(`${label}: the error shows B's ${s}`);
        }
      }
      assert.deepEqual(problems, [], problems.join('\n'));
    });

    it("GetAuditLogs answers A's records only, and A's refusals went to A's chain", async () => {
      const aChain = await s.store.query({ accountId: a.accountId }, { order: 'asc', limit: 1000 });
      const aLogIds = new Set(aChain.items.map((r) => (JSON.parse(r.recordJson) as AuditRecord).log_id));
      const bLogIds = new Set(
        (await s.store.query({ accountId: b.accountId }, { order: 'asc', limit: 1000 })).items.map((r) => (JSON.parse(r.recordJson) as AuditRecord).log_id),
      );
      const logs: { logId: string }[] = [];
      let token = '';
      do {
        const page = await s.t.call('GetAuditLogs', { pageSize: 7, pageToken: token }, a);
        logs.push(...(page['logs'] as { logId: string }[]));
        token = page['nextPageToken'] as string;
      } while (token);
      assert.equal(logs.length, aLogIds.size);
      for (const l of logs) {
        assert.ok(aLogIds.has(l.logId), `log ${l.logId} is A's`);
        assert.ok(!bLogIds.has(l.logId) || aLogIds.has(l.logId));
      }
      // The refused cross-tenant mutations were audited as A's ERROR records.
      const aErrors = aChain.items.map((r) => JSON.parse(r.recordJson) as AuditRecord).filter((r) => r.status === 'ERROR');
      assert.ok(aErrors.length >= 5, `A has its ERROR records (${aErrors.length})`);
      for (const r of aErrors) assert.equal(r.principal.id, a.userId);
    });

    it("/api/v1 with A's key: audit-logs with account=B is 403, without it only A's records; no invitation for B's user", async () => {
      const app = await buildApp({ store: s.store, config: resolveConfig({}), auth: s.t.control.apiAuth, register: (x) => s.t.control.registerRoutes(x) });
      try {
        const headers = { authorization: `Bearer ${a.apiKey}` };
        for (const url of [`/api/v1/audit-logs?account=${b.accountId}`, `/api/v1/audit-logs/export?account=${b.accountId}&format=jsonl`]) {
          const res = await app.inject({ method: 'GET', url, headers });
          assert.equal(res.statusCode, 403, `${url}: ${res.body}`);
          for (const s of secrets.slice(1)) assert.ok(!res.body.includes(s), `${url} shows ${s}`);
        }
        const own = await app.inject({ method: 'GET', url: '/api/v1/audit-logs?limit=1000', headers });
        assert.equal(own.statusCode, 200, own.body);
        const items = (own.json() as { items: { account_id: string; record: { log_id: string } }[] }).items;
        assert.equal(items.length, await s.store.count(a.accountId));
        assert.ok(items.every((i) => i.account_id === a.accountId));
        // A new invitation token for B's user (POST /api/v1/users/:id/invitation): not found.
        const invite = await app.inject({ method: 'POST', url: `/api/v1/users/${bDev.userId}/invitation`, headers });
        assert.equal(invite.statusCode, 404, invite.body);
        assert.ok(!invite.body.includes('token'), invite.body);
        // B's key cannot read A either.
        const ba = await app.inject({ method: 'GET', url: `/api/v1/audit-logs?account=${a.accountId}`, headers: { authorization: `Bearer ${b.apiKey}` } });
        assert.equal(ba.statusCode, 403);
      } finally {
        await app.close();
      }
    });

    it("/api/v1/audit-log-sinks with A's key: B's sink is NOT_FOUND for status, verify, replay, dead letters and setup", async () => {
      const config = resolveConfig({ AUDITSTREAM_AWS_PRINCIPAL_ARN: 'arn:aws:iam::999999999999:role/auditstream' });
      const control = createControlPlane({ store: s.store, config, delivery, onCommit: (accountId) => delivery.notify(accountId) });
      const app = await buildApp({ store: s.store, config, auth: control.apiAuth, register: (x) => control.registerRoutes(x) });
      try {
        const headers = { authorization: `Bearer ${a.apiKey}` };
        const aErrorsBefore = (await s.t.records(a.accountId)).filter((r) => r.status === 'ERROR').length;
        const calls: [string, string, Record<string, unknown>?][] = [
          ['GET', 'status'],
          ['POST', 'verify', {}],
          ['POST', 'replay', { since: '1h' }],
          ['GET', 'dead-letters'],
          ['POST', 'dead-letters/replay', {}],
          ['GET', 'setup'],
        ];
        for (const [method, path, payload] of calls) {
          const res = await app.inject({
            method: method as 'GET' | 'POST',
            url: `/api/v1/audit-log-sinks/${bSink}/${path}`,
            headers,
            ...(payload ? { payload } : {}),
          });
          assert.equal(res.statusCode, 404, `${method} ${path}: ${res.body}`);
          for (const s of secrets) assert.ok(!res.body.includes(s), `${method} ${path} shows B's ${s}: ${res.body}`);
        }
        // The two replays are refused mutations: A's ERROR records, in A's chain.
        const aErrors = (await s.t.records(a.accountId)).filter((r) => r.status === 'ERROR');
        assert.equal(aErrors.length - aErrorsBefore, 2);
        assert.ok(aErrors.slice(-2).every((r) => r.operation === 'UpdateAccount' && r.principal.id === a.userId && r.details['sink_name'] === bSink));
        // A's own sink of the same name as B's shows A's ExternalId, never B's.
        const setup = await app.inject({ method: 'GET', url: '/api/v1/audit-log-sinks/audit/setup', headers });
        assert.equal(setup.statusCode, 200, setup.body);
        const body = setup.json() as { external_id: string };
        assert.equal(body.external_id, await readExternalId(s.store.sql, a.accountId));
        assert.notEqual(body.external_id, bExternalId);
        for (const s of secrets) assert.ok(!setup.body.includes(s), `A's setup shows B's ${s}`);
      } finally {
        await app.close();
      }
    });

    it('A may reuse what B named: the same email and async_operation_id, without touching B', async () => {
      const dup = await s.t.call('CreateUser', { spec: { email: bDev.email, access: { accountAccess: { role: 'ROLE_READ' } } }, asyncOperationId: bOpId }, a);
      assert.ok(dup['userId']);
      assert.notEqual(dup['userId'], bDev.userId);
      const op = await s.t.call('GetAsyncOperation', { asyncOperationId: bOpId }, a);
      assert.equal((op['asyncOperation'] as { operationType: string }).operationType, 'CreateUser');
    });

    it("B's rows and chain are unchanged and the chain verifies", async () => {
      assert.equal(await snapshot(s.store, b.accountId), bBefore.state);
      assert.deepEqual(await chainOf(s.store, b.accountId), bBefore.chain);
      assert.equal(await s.store.count(b.accountId), bBefore.chain.length);
      const report = await verifyAccount(s.store, b.accountId, { trustedKeys: new Map() });
      assert.equal(report.ok, true, JSON.stringify(report));
      // B still works with its own keys.
      const got = await s.t.call('GetUser', { userId: bDev.userId }, b);
      assert.equal((got['user'] as { id: string }).id, bDev.userId);
      await s.t.call('GetUsers', {}, bDev);
    });

    it("B's sinks kept delivering, to B's destinations only, and still do", async () => {
      const created = await s.t.call('CreateUser', { spec: { email: 'b-later@example.com', access: { accountAccess: { role: 'ROLE_READ' } } } }, b);
      assert.ok(created['userId']);
      const bIds = (await s.t.records(b.accountId)).map((r) => r.log_id);
      const last = bIds.at(-1)!;
      for (const arn of [B_STREAM, 'arn:aws:kinesis:us-east-1:444455556666:stream/b-audit-stream']) {
        await until(() => dest(arn).received.some((r) => r.logId === last), `B's sink to ${arn} delivers B's new record`);
        const got = dest(arn).received;
        assert.ok(
          got.every((r) => r.key === b.accountId),
          `only B's records reach ${arn}`,
        );
        // Every B record from the sink's creation on, in chain order, each once.
        const first = bIds.indexOf(got[0]!.logId);
        assert.ok(first >= 0);
        assert.deepEqual(
          got.map((r) => r.logId),
          bIds.slice(first),
        );
      }
      // A's own sink named like B's delivers A's records only.
      const aGot = dest('arn:aws:kinesis:us-east-1:111122223333:stream/a-audit-stream').received;
      assert.ok(aGot.length > 0 && aGot.every((r) => r.key === a.accountId));
      for (const [arn, d] of dests)
        if (!arn.includes('444455556666'))
          assert.ok(
            d.received.every((r) => r.key !== b.accountId),
            `B's records reached ${arn}`,
          );
      const sink = await s.t.call('GetAccountAuditLogSink', { name: bSink }, b);
      assert.equal((sink['sink'] as { health: string }).health, 'HEALTH_OK');
      assert.equal((sink['sink'] as { spec: { enabled: boolean } }).spec.enabled, true);
    });
  });
}
