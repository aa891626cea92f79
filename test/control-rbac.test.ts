/**
 * RBAC, generated from the one table (`RBAC` in src/control/rbac.ts): for every Cloud Ops RPC the
 * control plane serves, every account role and — for namespace-scoped RPCs — every namespace
 * permission (none, Read, Write, Admin), and for API-key RPCs both one's own key and another
 * user's, the handler is called with a valid request as a user of that role, and
 *
 * - allowed by the rule ⇒ the call succeeds (a mutation adds exactly one OK record naming the
 *   caller; a read adds none);
 * - denied by the rule ⇒ PERMISSION_DENIED (or NOT_FOUND when the caller has no permission at
 *   all on the namespace: namespaces.ts answers those as if the namespace did not exist, so that
 *   existence never leaks); a denied mutation leaves exactly one ERROR record
 *   (LOG_LEVEL_ERROR, the RPC's audited operation, the caller as principal) and changes no row of
 *   the account; a denied read leaves one ERROR record named after the RPC.
 *
 * ValidateAccountAuditLogSink is a read whose test record goes to the destination only: allowed
 * callers get past RBAC to the spec check (a malformed ARN keeps it off the network), nobody leaves
 * a record. The `/api/v1/audit-log-sinks/:name/...` extensions, the replay extension entry
 * (ReplayAccountAuditLogSink) included, are checked per role like ReissueInvitation.
 *
 * The expected outcome is computed from the table entry alone (plus the documented "Owner and
 * Global Admin are Namespace Admin everywhere"), never by calling `authorize`. Requests go
 * through the transport's conversion (proto `fromObject`, then the plain object a handler sees)
 * and responses are checked the way the transport checks them before encoding. The full matrix
 * runs on both engines (one shared fixture per engine; a few seconds each).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { createFixture, engines, type StoreFixture } from './helpers/stores.js';
import { createControlFixture, type Actor, type ControlFixture } from './helpers/control.js';
import { makeTestTls } from './helpers/tls.js';
import { ACCOUNT_ROLES, NAMESPACE_PERMISSIONS, RBAC, authorize, type AccountRole, type NamespacePermission, type Rule } from '../src/control/rbac.js';
import { keyIdOfToken } from '../src/control/secrets.js';
import { refusedReads } from '../src/control/refusals.js';
import { cloudMethods, findCloudMethod } from '../src/api/cloud/proto.js';
import { requestToPlain, responseFromPlain } from '../src/api/cloud/plain.js';
import { operationForRpc } from '../src/record/operations.js';
import { validateEmitted } from '../src/record/schema.js';
import { isAuditError } from '../src/errors.js';
import type { CloudRequest, CloudResponse } from '../src/api/cloud/handlers.js';
import type { AuditRecord } from '../src/record/record.js';
import type { AuditStore } from '../src/store/store.js';
import type { AccountCaller } from '../src/api/auth.js';
import { buildApp } from '../src/api/app.js';
import { resolveConfig } from '../src/config.js';
import { createControlPlane } from '../src/control/control-plane.js';

type NsPerm = NamespacePermission | 'none';
const NS_PERMS: readonly NsPerm[] = ['none', ...NAMESPACE_PERMISSIONS];
const RANK: Record<NamespacePermission, number> = { PERMISSION_READ: 1, PERMISSION_WRITE: 2, PERMISSION_ADMIN: 3 };
/** Documented: "Users with the Global Admin and Account Owner roles automatically have Namespace Admin permissions on all Namespaces". */
const IMPLICIT_NS_ADMIN: readonly AccountRole[] = ['ROLE_OWNER', 'ROLE_ADMIN'];

/** RBAC entries that are not CloudService RPCs: auditstream's own routes. */
const EXTENSIONS = new Set(['ReissueInvitation', 'ReplayAccountAuditLogSink', 'SetApiKeyIngestPolicy']);

/**
 * RPCs whose audited operation never lands in the chain: ValidateAccountAuditLogSink writes its
 * `VerifyAuditLogSink` test record to the destination only (docs/decisions/0017), and it
 * changes nothing, so a refusal is a refused read (no ERROR record).
 */
const NOT_IN_CHAIN = new Set(['ValidateAccountAuditLogSink']);

/**
 * Refusals that still mean "RBAC let the call through": the builder's request is refused further
 * on, on purpose. Validate with a malformed stream ARN needs no reachable destination (a denied
 * call never reaches one) and is answered INVALID_ARGUMENT / FAILED_PRECONDITION naming the ARN.
 */
const ALLOWED_REFUSALS: Record<string, { codes: readonly string[]; message: RegExp }> = {
  ValidateAccountAuditLogSink: { codes: ['AS_ERR_INVALID_ARGUMENT', 'AS_ERR_FAILED_PRECONDITION'], message: /not a Kinesis stream ARN/ },
};

/** What the rule says, computed from the table entry alone. */
function expectedAllowed(rule: Rule, role: AccountRole, perm: NsPerm, self: boolean): boolean {
  switch (rule.kind) {
    case 'account':
      return rule.roles.includes(role);
    case 'namespace': {
      const effective = IMPLICIT_NS_ADMIN.includes(role) ? 'PERMISSION_ADMIN' : perm;
      return effective !== 'none' && RANK[effective] >= RANK[rule.permission];
    }
    case 'owner':
      return self ? rule.selfRoles.includes(role) || rule.roles.includes(role) : rule.roles.includes(role);
  }
}

const testTls = makeTestTls();
const CLIENT_CA = Buffer.from(testTls.caPem);
testTls.cleanup();

interface Env {
  t: ControlFixture;
  store: AuditStore;
  owner: Actor;
  /** A user other than the caller, owning API keys (the "another user's key" target). */
  victim: Actor;
  /** A namespace shared by the read-only cases. */
  sharedNs: string;
  /** An async operation id of the account. */
  opId: string;
  /** An audit log sink of the account (made by the owner). */
  sharedSink: string;
  unique(prefix: string): string;
}

interface Prepared {
  req: CloudRequest;
  /** The namespace a namespace-scoped rule looks at. */
  namespace?: string;
}

interface BuildArgs {
  env: Env;
  actor: Actor;
  /** The owner of the API key acted on (the actor itself or another user). */
  keyOwner: Actor;
}

/** Request builders, one per served RPC: each makes whatever its request needs (by the owner) and returns a valid request. */
const BUILDERS: Record<string, (a: BuildArgs) => Promise<Prepared>> = {
  GetCurrentIdentity: async () => ({ req: {} }),
  GetAccount: async () => ({ req: {} }),
  UpdateAccount: async () => ({ req: { spec: { metrics: { acceptedClientCa: CLIENT_CA } } } }),
  GetAsyncOperation: async ({ env }) => ({ req: { asyncOperationId: env.opId } }),

  GetUsers: async () => ({ req: { pageSize: 5 } }),
  GetUser: async ({ env }) => ({ req: { userId: env.victim.userId } }),
  CreateUser: async ({ env }) => ({ req: { spec: { email: `${env.unique('invitee')}@example.com`, access: { accountAccess: { role: 'ROLE_READ' } } } } }),
  UpdateUser: async ({ env }) => {
    const u = await freshUser(env);
    return { req: { userId: u.userId, spec: { email: u.email, access: { accountAccess: { role: 'ROLE_DEVELOPER' } } } } };
  },
  DeleteUser: async ({ env }) => ({ req: { userId: (await freshUser(env)).userId } }),
  SetUserNamespaceAccess: async ({ env }) => ({
    req: { namespace: env.sharedNs, userId: (await freshUser(env)).userId, access: { permission: 'PERMISSION_WRITE' } },
    namespace: env.sharedNs,
  }),

  GetNamespaces: async () => ({ req: { pageSize: 5 } }),
  GetNamespace: async ({ env }) => ({ req: { namespace: env.sharedNs }, namespace: env.sharedNs }),
  CreateNamespace: async ({ env }) => ({ req: { spec: namespaceSpec(env.unique('ns')) } }),
  UpdateNamespace: async ({ env }) => {
    const ns = await freshNamespace(env);
    const spec = await currentSpec(env, ns);
    return { req: { namespace: ns, spec: { ...spec, retentionDays: 14 } }, namespace: ns };
  },
  RenameCustomSearchAttribute: async ({ env }) => {
    const ns = await freshNamespace(env);
    return { req: { namespace: ns, existingCustomSearchAttributeName: 'OrderId', newCustomSearchAttributeName: 'OrderKey' }, namespace: ns };
  },
  FailoverNamespaceRegion: async ({ env }) => {
    const ns = await freshNamespace(env);
    return { req: { namespace: ns, region: 'aws-us-west-2' }, namespace: ns };
  },
  DeleteNamespace: async ({ env }) => {
    const ns = await freshNamespace(env);
    return { req: { namespace: ns }, namespace: ns };
  },

  GetApiKeys: async ({ keyOwner }) => ({ req: { ownerId: keyOwner.userId } }),
  GetApiKey: async ({ keyOwner }) => ({ req: { keyId: keyIdOfToken(keyOwner.apiKey) } }),
  CreateApiKey: async ({ env, keyOwner }) => ({
    req: { spec: { ownerId: keyOwner.userId, ownerType: 'OWNER_TYPE_USER', displayName: env.unique('key') } },
  }),
  UpdateApiKey: async ({ env, keyOwner }) => {
    const keyId = await freshKey(env, keyOwner);
    return { req: { keyId, spec: { ownerId: keyOwner.userId, ownerType: 'OWNER_TYPE_USER', displayName: 'renamed', disabled: true } } };
  },
  DeleteApiKey: async ({ env, keyOwner }) => ({ req: { keyId: await freshKey(env, keyOwner) } }),

  GetAuditLogs: async () => ({ req: { pageSize: 3 } }),

  GetAccountAuditLogSinks: async () => ({ req: { pageSize: 5 } }),
  GetAccountAuditLogSink: async ({ env }) => ({ req: { name: env.sharedSink } }),
  CreateAccountAuditLogSink: async ({ env }) => ({ req: { spec: sinkSpec(env.unique('sink')) } }),
  UpdateAccountAuditLogSink: async ({ env }) => {
    const name = await freshSink(env);
    return { req: { spec: { ...sinkSpec(name), enabled: false } } };
  },
  DeleteAccountAuditLogSink: async ({ env }) => ({ req: { name: await freshSink(env) } }),
  // A malformed ARN: the allowed side is refused by validation (no destination needed).
  ValidateAccountAuditLogSink: async ({ env }) => ({
    req: {
      spec: {
        ...sinkSpec(env.unique('probe')),
        kinesisSink: { roleName: 'writer', destinationUri: 'arn:aws:kinesis:us-east-1:1234:stream/audit', region: 'us-east-1' },
      },
    },
  }),
};

/** A Kinesis sink spec; no engine runs in this file, so nothing is ever sent to it. */
function sinkSpec(name: string): CloudRequest {
  return {
    name,
    enabled: true,
    kinesisSink: { roleName: 'auditstream-writer', destinationUri: 'arn:aws:kinesis:us-east-1:111122223333:stream/audit', region: 'us-east-1' },
  };
}

async function freshSink(env: Env): Promise<string> {
  const name = env.unique('sink');
  await env.t.call('CreateAccountAuditLogSink', { spec: sinkSpec(name) });
  return name;
}

function namespaceSpec(name: string): CloudRequest {
  return {
    name,
    regions: ['aws-us-east-1', 'aws-us-west-2'],
    retentionDays: 7,
    apiKeyAuth: { enabled: true },
    customSearchAttributes: { OrderId: 'Keyword' },
  };
}

async function freshUser(env: Env): Promise<{ userId: string; email: string }> {
  const email = `${env.unique('target')}@example.com`;
  const res = await env.t.call('CreateUser', { spec: { email, access: { accountAccess: { role: 'ROLE_READ' } } } });
  return { userId: res['userId'] as string, email };
}

/** A new key of `owner`, made by `owner` itself (every role may create its own keys). */
async function freshKey(env: Env, owner: Actor): Promise<string> {
  const res = await env.t.call('CreateApiKey', { spec: { ownerId: owner.userId, ownerType: 'OWNER_TYPE_USER', displayName: env.unique('key') } }, owner);
  return res['keyId'] as string;
}

async function freshNamespace(env: Env): Promise<string> {
  const res = await env.t.call('CreateNamespace', { spec: namespaceSpec(env.unique('ns')) });
  return res['namespace'] as string;
}

async function currentSpec(env: Env, namespace: string): Promise<CloudRequest> {
  const res = await env.t.call('GetNamespace', { namespace });
  return (res['namespace'] as { spec: CloudRequest }).spec;
}

/** Every control-plane row of an account (sinks, their replays and the ExternalId included), for "nothing changed". */
async function snapshot(store: AuditStore, accountId: string): Promise<string> {
  const out: Record<string, string[]> = {};
  const tables = ['accounts', 'users', 'namespaces', 'api_keys', 'async_operations', 'audit_log_sinks', 'account_external_ids'];
  const queries: [string, string][] = tables.map((table) => [table, `SELECT * FROM ${table} WHERE ${table === 'accounts' ? 'id' : 'account_id'} = ?`]);
  queries.push(['audit_log_sink_replays', 'SELECT r.* FROM audit_log_sink_replays r JOIN audit_log_sinks s ON s.id = r.sink_id WHERE s.account_id = ?']);
  for (const [name, sql] of queries) {
    const rows = await store.sql.all(sql, [accountId]);
    out[name] = rows.map((r) => JSON.stringify(r)).sort();
  }
  return JSON.stringify(out);
}

async function lastRecords(store: AuditStore, accountId: string, n: number): Promise<AuditRecord[]> {
  if (n === 0) return [];
  const page = await store.query({ accountId }, { order: 'desc', limit: n });
  return page.items.map((r) => JSON.parse(r.recordJson) as AuditRecord).reverse();
}

/** Calls a handler as the transports do: the full plain request in, the response checked for encoding. */
async function callAsTransport(t: ControlFixture, rpc: string, req: CloudRequest, actor: Actor): Promise<CloudResponse> {
  const method = findCloudMethod(rpc)!;
  const plain = requestToPlain(method.requestType, method.requestType.fromObject(req));
  const res = await t.call(rpc, plain, actor);
  responseFromPlain(method.responseType, res);
  return res;
}

/** A loopback port nothing listens on (bound, read, released): connections to it are refused. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function errorCode(err: unknown): string {
  return isAuditError(err) ? err.code : `non-AuditError: ${(err as Error)?.message ?? String(err)}`;
}

for (const engine of engines()) {
  describe(`RBAC from the table: ${engine}`, () => {
    let fx: StoreFixture;
    let store: AuditStore;
    let env: Env;
    const actors = new Map<AccountRole, Actor>();
    let served: string[] = [];

    before(async () => {
      fx = await createFixture(engine);
      store = await fx.open();
      const t = await createControlFixture(store);
      let n = 0;
      env = {
        t,
        store,
        owner: t.owner,
        victim: undefined as unknown as Actor,
        sharedNs: '',
        opId: 'rbac-op-1',
        sharedSink: '',
        unique: (prefix) => `${prefix}-${engine}-${++n}`,
      };
      served = Object.keys(t.control.handlers)
        .filter((rpc) => t.control.handlers[rpc] !== undefined)
        .sort();
      actors.set('ROLE_OWNER', t.owner);
      for (const role of ACCOUNT_ROLES) if (role !== 'ROLE_OWNER') actors.set(role, await t.addUser(role));
      env.victim = await t.addUser('ROLE_READ');
      await t.call('CreateUser', { spec: { email: 'op-holder@example.com', access: { accountAccess: { role: 'ROLE_READ' } } }, asyncOperationId: env.opId });
      env.sharedNs = await freshNamespace(env);
      env.sharedSink = await freshSink(env);
    });
    after(async () => {
      await store?.close();
      await fx?.destroy();
    });

    it('every served RPC has a rule and a request builder; every rule names a CloudService RPC', () => {
      const rpcNames = new Set(cloudMethods.map((m) => m.name));
      for (const name of Object.keys(RBAC)) assert.ok(rpcNames.has(name) || EXTENSIONS.has(name), `RBAC entry ${name} is not a CloudService RPC`);
      for (const rpc of served) {
        assert.ok(RBAC[rpc], `${rpc} is served but has no RBAC rule (it would deny everyone)`);
        assert.ok(BUILDERS[rpc], `${rpc} is served but control-rbac.test.ts has no request builder for it: add one`);
      }
    });

    // The other direction: a handler that disappears must fail here, not leave its matrix unrun.
    it('every RPC of the table and every request builder has a handler', () => {
      const rpcs = new Set([...Object.keys(RBAC).filter((name) => !EXTENSIONS.has(name)), ...Object.keys(BUILDERS)]);
      const missing = [...rpcs].filter((rpc) => !served.includes(rpc)).sort();
      assert.deepEqual(missing, [], `RPCs in the RBAC table without a handler: ${missing.join(', ')}`);
    });

    it('an RPC without a rule is denied to everyone, the owner too', () => {
      const caller: AccountCaller = {
        kind: 'account',
        accountId: 'a',
        userId: 'u',
        email: 'o@example.com',
        role: 'ROLE_OWNER',
        namespaceAccess: {},
        principal: { id: 'u', type: 'user', name: 'o@example.com' },
        via: 'apikey',
      };
      assert.throws(
        () => authorize(caller, 'GetRegions'),
        (err: unknown) => errorCode(err) === 'AS_ERR_PERMISSION_DENIED',
      );
    });

    // One test per RPC; the RPC list is only known once the fixture exists, so the matrix of
    // each RPC runs inside one `it` and reports every mismatch at once.
    const RPCS = Object.keys(BUILDERS);
    for (const rpc of RPCS) {
      it(`${rpc}: allowed exactly for what the rule grants`, async () => {
        assert.ok(served.includes(rpc), `${rpc} has a request builder but no handler`);
        const rule = RBAC[rpc];
        assert.ok(rule, `${rpc} has a request builder but no RBAC rule`);
        const audited = NOT_IN_CHAIN.has(rpc) ? undefined : operationForRpc(rpc);
        const refusedAfterRbac = ALLOWED_REFUSALS[rpc];
        const problems: string[] = [];
        const perms: readonly NsPerm[] = rule.kind === 'namespace' ? NS_PERMS : ['none'];
        const targets: readonly boolean[] = rule.kind === 'owner' ? [true, false] : [true];
        for (const role of ACCOUNT_ROLES) {
          const actor = actors.get(role)!;
          for (const perm of perms) {
            for (const self of targets) {
              const label = `${rpc} as ${role}${rule.kind === 'namespace' ? ` with ${perm}` : ''}${rule.kind === 'owner' ? (self ? ' on own key' : " on another user's key") : ''}`;
              const want = expectedAllowed(rule, role, perm, self);
              const prepared = await BUILDERS[rpc]!({ env, actor, keyOwner: self ? actor : env.victim });
              if (rule.kind === 'namespace') {
                assert.ok(prepared.namespace, `${rpc}: the builder must name the namespace`);
                await env.t.call('SetUserNamespaceAccess', {
                  namespace: prepared.namespace,
                  userId: actor.userId,
                  access: { permission: perm === 'none' ? 'PERMISSION_UNSPECIFIED' : perm },
                });
              }
              // Each call starts a fresh refused-read window, so the per-principal limit never hides a record.
              await refusedReads(env.t.control.cp).flushAll();
              const beforeState = await snapshot(store, actor.accountId);
              const beforeCount = await store.count(actor.accountId);
              let outcome: { ok: true; res: CloudResponse } | { ok: false; code: string; message: string };
              try {
                outcome = { ok: true, res: await callAsTransport(env.t, rpc, prepared.req, actor) };
              } catch (err) {
                outcome = { ok: false, code: errorCode(err), message: (err as Error).message };
              }
              const added = await lastRecords(store, actor.accountId, (await store.count(actor.accountId)) - beforeCount);
              const keyId = keyIdOfToken(actor.apiKey);
              if (want) {
                if (!outcome.ok && refusedAfterRbac) {
                  // Past RBAC and refused for the request itself, as the builder intends.
                  if (!refusedAfterRbac.codes.includes(outcome.code) || !refusedAfterRbac.message.test(outcome.message)) {
                    problems.push(
                      `${label}: expected past RBAC (${refusedAfterRbac.codes.join(' or ')} matching ${refusedAfterRbac.message}), got ${outcome.code} (${outcome.message})`,
                    );
                  }
                  if (added.length !== 0) problems.push(`${label}: added ${added.length} records, expected none`);
                  continue;
                }
                if (!outcome.ok) {
                  problems.push(`${label}: expected allowed, got ${outcome.code} (${outcome.message})`);
                  continue;
                }
                const expectRecords = audited ? 1 : 0;
                if (added.length !== expectRecords) problems.push(`${label}: allowed call added ${added.length} records, expected ${expectRecords}`);
                else if (audited) {
                  const r = added[0]!;
                  if (r.status !== 'OK' || r.operation !== audited.name || r.principal.id !== actor.userId || r.principal.api_key_id !== keyId) {
                    problems.push(`${label}: OK record is wrong: ${JSON.stringify(r)}`);
                  }
                }
              } else {
                if (outcome.ok) {
                  problems.push(`${label}: expected PERMISSION_DENIED, the call succeeded`);
                  continue;
                }
                const invisible = rule.kind === 'namespace' && !IMPLICIT_NS_ADMIN.includes(role) && perm === 'none';
                const denials = invisible ? ['AS_ERR_PERMISSION_DENIED', 'AS_ERR_NOT_FOUND'] : ['AS_ERR_PERMISSION_DENIED'];
                if (!denials.includes(outcome.code)) problems.push(`${label}: expected ${denials.join(' or ')}, got ${outcome.code} (${outcome.message})`);
                if ((await snapshot(store, actor.accountId)) !== beforeState) problems.push(`${label}: a denied call changed the account's state`);
                if (!audited) {
                  // A refused read leaves one ERROR record named after the RPC (src/control/refusals.ts).
                  const r = added[0];
                  if (
                    added.length !== 1 ||
                    r!.status !== 'ERROR' ||
                    r!.level !== 'LOG_LEVEL_ERROR' ||
                    r!.operation !== rpc ||
                    r!.principal.id !== actor.userId ||
                    !validateEmitted(r!).ok
                  ) {
                    problems.push(`${label}: a denied read should add one ERROR ${rpc} record, got ${JSON.stringify(added)}`);
                  }
                } else if (added.length !== 1) {
                  problems.push(`${label}: a denied mutation added ${added.length} records, expected one ERROR record`);
                } else {
                  const r = added[0]!;
                  const valid = validateEmitted(r);
                  if (
                    r.status !== 'ERROR' ||
                    r.level !== 'LOG_LEVEL_ERROR' ||
                    r.operation !== audited.name ||
                    r.user_email !== actor.email ||
                    r.principal.id !== actor.userId ||
                    r.principal.type !== 'user' ||
                    r.principal.name !== actor.email ||
                    r.principal.api_key_id !== keyId ||
                    !String(r.details['reason'] ?? '').includes(outcome.code) ||
                    !valid.ok
                  ) {
                    problems.push(`${label}: ERROR record is wrong (${valid.ok ? 'valid' : valid.message}): ${JSON.stringify(r)}`);
                  }
                }
              }
            }
          }
        }
        assert.deepEqual(problems, [], problems.join('\n'));
      });
    }

    it("a caller the rule denies is refused (one ERROR record), never answered from another caller's async_operation_id", async () => {
      const reader = actors.get('ROLE_READ')!;
      const req = {
        spec: { email: `${env.unique('replayed')}@example.com`, access: { accountAccess: { role: 'ROLE_READ' } } },
        asyncOperationId: env.unique('replay-op'),
      };
      const first = await callAsTransport(env.t, 'CreateUser', req, env.owner);
      const beforeCount = await store.count(reader.accountId);
      const outcome = await callAsTransport(env.t, 'CreateUser', req, reader).then(
        (res) => `succeeded with ${JSON.stringify(res)} (the owner's answer was ${JSON.stringify(first)})`,
        (err: unknown) => errorCode(err),
      );
      // PERMISSION_DENIED (the rule), or INVALID_ARGUMENT if operation ids are scoped to the caller
      // ("already used for a different request"): either way a refusal, never the owner's answer.
      assert.ok(['AS_ERR_PERMISSION_DENIED', 'AS_ERR_INVALID_ARGUMENT'].includes(outcome), outcome);
      const added = await lastRecords(store, reader.accountId, (await store.count(reader.accountId)) - beforeCount);
      assert.deepEqual(
        added.map((r) => [r.operation, r.status, r.principal.id]),
        [['InviteUsers', 'ERROR', reader.userId]],
      );
    });

    // Temporal's reference lets Global Admin and Owner view, update and delete ANY key, but create
    // keys only for themselves (and for service accounts, which auditstream does not serve):
    // otherwise a Global Admin could mint a key owned by the Owner and act as the Owner.
    it('a Global Admin cannot obtain a credential of another user (no escalation to Owner)', async () => {
      const admin = actors.get('ROLE_ADMIN')!;
      const outcome = await callAsTransport(
        env.t,
        'CreateApiKey',
        { spec: { ownerId: env.owner.userId, ownerType: 'OWNER_TYPE_USER', displayName: 'mine now' } },
        admin,
      ).then(
        (res) => `created a key of the Owner: ${String(res['keyId'])}`,
        (err: unknown) => errorCode(err),
      );
      assert.equal(outcome, 'AS_ERR_PERMISSION_DENIED');
    });

    it('ReissueInvitation (POST /api/v1/users/:id/invitation): allowed exactly for the roles of its rule', async () => {
      const rule = RBAC['ReissueInvitation']!;
      const config = resolveConfig({ AUDITSTREAM_AWS_PRINCIPAL_ARN: 'arn:aws:iam::999999999999:role/auditstream' });
      const control = createControlPlane({ store, config });
      const app = await buildApp({ store, config, auth: control.apiAuth, register: (a) => control.registerRoutes(a) });
      try {
        const problems: string[] = [];
        for (const role of ACCOUNT_ROLES) {
          const actor = actors.get(role)!;
          const target = await freshUser(env);
          const want = expectedAllowed(rule, role, 'none', true);
          const beforeState = await snapshot(store, actor.accountId);
          const beforeCount = await store.count(actor.accountId);
          const res = await app.inject({
            method: 'POST',
            url: `/api/v1/users/${target.userId}/invitation`,
            headers: { authorization: `Bearer ${actor.apiKey}` },
          });
          const added = await lastRecords(store, actor.accountId, (await store.count(actor.accountId)) - beforeCount);
          const rec = added.length === 1 ? added[0]! : undefined;
          if (want) {
            if (res.statusCode !== 200) problems.push(`${role}: expected 200, got ${res.statusCode} ${res.body}`);
            if (!rec || rec.status !== 'OK' || rec.operation !== 'InviteUsers' || rec.principal.id !== actor.userId)
              problems.push(`${role}: expected one OK InviteUsers record, got ${JSON.stringify(added)}`);
          } else {
            if (res.statusCode !== 403) problems.push(`${role}: expected 403, got ${res.statusCode} ${res.body}`);
            if (!rec || rec.status !== 'ERROR' || rec.operation !== 'InviteUsers' || rec.principal.id !== actor.userId || !validateEmitted(rec).ok) {
              problems.push(`${role}: expected one ERROR InviteUsers record, got ${JSON.stringify(added)}`);
            }
            if ((await snapshot(store, actor.accountId)) !== beforeState) problems.push(`${role}: a denied call changed the account's state`);
          }
        }
        assert.deepEqual(problems, [], problems.join('\n'));
      } finally {
        await app.close();
      }
    });

    // auditstream's sink extensions under /api/v1 (src/control/sink-routes.ts): each route is
    // governed by one rule of the table — reads by GetAccountAuditLogSink, verify by
    // ValidateAccountAuditLogSink, both replays by the extension entry ReplayAccountAuditLogSink.
    it('the /api/v1/audit-log-sinks/:name extensions (status, verify, replay, dead letters, setup): allowed exactly for the roles of their rule', async () => {
      const routes: { method: 'GET' | 'POST'; path: string; rule: string; body?: unknown; audited: boolean; ok: (body: Record<string, unknown>) => boolean }[] =
        [
          {
            method: 'GET',
            path: 'status',
            rule: 'GetAccountAuditLogSink',
            audited: false,
            ok: (b) => b['name'] === env.sharedSink && typeof b['backlog'] === 'number',
          },
          { method: 'GET', path: 'dead-letters', rule: 'GetAccountAuditLogSink', audited: false, ok: (b) => Array.isArray(b['dead_letters']) },
          {
            method: 'GET',
            path: 'setup',
            rule: 'GetAccountAuditLogSink',
            audited: false,
            ok: (b) => b['kind'] === 'kinesis' && typeof b['external_id'] === 'string',
          },
          // Allowed, it really writes: AWS points at a closed port here, so it answers Failed at once.
          {
            method: 'POST',
            path: 'verify',
            rule: 'ValidateAccountAuditLogSink',
            body: {},
            audited: false,
            ok: (b) => b['status'] === 'Failed' && b['cause'] === 'endpoint_unreachable',
          },
          {
            method: 'POST',
            path: 'replay',
            rule: 'ReplayAccountAuditLogSink',
            body: { since: '1h' },
            audited: true,
            ok: (b) => typeof b['replay_id'] === 'string',
          },
          { method: 'POST', path: 'dead-letters/replay', rule: 'ReplayAccountAuditLogSink', body: {}, audited: true, ok: (b) => 'replay_id' in b },
        ];
      const saved = { ...process.env };
      const closed = await closedPort();
      Object.assign(process.env, {
        AWS_ENDPOINT_URL: `http://127.0.0.1:${closed}`,
        AWS_ACCESS_KEY_ID: 'testing',
        AWS_SECRET_ACCESS_KEY: 'testing',
        AWS_REGION: 'us-east-1',
      });
      const config = resolveConfig({ AUDITSTREAM_AWS_PRINCIPAL_ARN: 'arn:aws:iam::999999999999:role/auditstream' });
      const control = createControlPlane({ store, config });
      const app = await buildApp({ store, config, auth: control.apiAuth, register: (a) => control.registerRoutes(a) });
      try {
        const problems: string[] = [];
        for (const route of routes) {
          const rule = RBAC[route.rule]!;
          for (const role of ACCOUNT_ROLES) {
            const actor = actors.get(role)!;
            const label = `${route.method} ${route.path} as ${role}`;
            const want = expectedAllowed(rule, role, 'none', true);
            // Each call starts a fresh refused-read window, so the per-principal limit never hides a record.
            await refusedReads(env.t.control.cp).flushAll();
            const beforeState = await snapshot(store, actor.accountId);
            const beforeCount = await store.count(actor.accountId);
            const res = await app.inject({
              method: route.method,
              url: `/api/v1/audit-log-sinks/${env.sharedSink}/${route.path}`,
              headers: { authorization: `Bearer ${actor.apiKey}` },
              ...(route.body !== undefined ? { payload: route.body as Record<string, unknown> } : {}),
            });
            const added = await lastRecords(store, actor.accountId, (await store.count(actor.accountId)) - beforeCount);
            if (want) {
              if (res.statusCode !== 200 || !route.ok(res.json() as Record<string, unknown>))
                problems.push(`${label}: expected 200, got ${res.statusCode} ${res.body}`);
              const rec = added[0];
              if (route.audited) {
                if (
                  added.length !== 1 ||
                  rec!.status !== 'OK' ||
                  rec!.operation !== 'UpdateAccount' ||
                  rec!.principal.id !== actor.userId ||
                  rec!.details['sink_name'] !== env.sharedSink
                ) {
                  problems.push(`${label}: expected one OK UpdateAccount record naming the sink, got ${JSON.stringify(added)}`);
                }
              } else if (added.length !== 0) problems.push(`${label}: a read added ${added.length} records`);
            } else {
              if (res.statusCode !== 403) problems.push(`${label}: expected 403, got ${res.statusCode} ${res.body}`);
              if ((await snapshot(store, actor.accountId)) !== beforeState) problems.push(`${label}: a denied call changed the account's state`);
              if (!route.audited) {
                const rec = added[0];
                if (
                  added.length !== 1 ||
                  rec!.status !== 'ERROR' ||
                  rec!.operation !== route.rule ||
                  rec!.principal.id !== actor.userId ||
                  !validateEmitted(rec!).ok
                ) {
                  problems.push(`${label}: a denied read should add one ERROR ${route.rule} record, got ${JSON.stringify(added)}`);
                }
              } else {
                const rec = added[0];
                if (
                  added.length !== 1 ||
                  rec!.status !== 'ERROR' ||
                  rec!.operation !== 'UpdateAccount' ||
                  rec!.principal.id !== actor.userId ||
                  rec!.details['sink_name'] !== env.sharedSink ||
                  !validateEmitted(rec!).ok
                ) {
                  problems.push(`${label}: expected one ERROR UpdateAccount record naming the sink, got ${JSON.stringify(added)}`);
                }
              }
            }
          }
        }
        assert.deepEqual(problems, [], problems.join('\n'));
      } finally {
        await app.close();
        for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
        Object.assign(process.env, saved);
      }
    });

    it('a Developer is Namespace Admin of the namespaces it creates (roles-and-permissions: "Developers can create Namespaces, and have Namespace Admin permissions for each Namespace they create")', async () => {
      const dev = actors.get('ROLE_DEVELOPER')!;
      const created = await env.t.call('CreateNamespace', { spec: namespaceSpec(env.unique('devns')) }, dev);
      const ns = created['namespace'] as string;
      const got = await env.t.call('GetNamespace', { namespace: ns }, dev);
      const spec = (got['namespace'] as { spec: CloudRequest }).spec;
      await env.t.call('UpdateNamespace', { namespace: ns, spec: { ...spec, retentionDays: 30 } }, dev);
      // ... which can be revoked (by an admin), like any explicit permission.
      await env.t.call('SetUserNamespaceAccess', { namespace: ns, userId: dev.userId, access: { permission: 'PERMISSION_UNSPECIFIED' } });
      await assert.rejects(env.t.call('DeleteNamespace', { namespace: ns }, dev), (err: unknown) =>
        ['AS_ERR_PERMISSION_DENIED', 'AS_ERR_NOT_FOUND'].includes(errorCode(err)),
      );
    });
  });
}
