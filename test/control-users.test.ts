/**
 * Users, API keys, async operations and audit logs through the Cloud Ops handlers, on both
 * engines: state changes, exactly one record per mutation, ERROR records for refusals,
 * idempotent retries.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { engines } from './helpers/stores.js';
import { controlSuite } from './helpers/suites.js';
import { validateEmitted } from '../src/record/schema.js';
import { isAuditError } from '../src/errors.js';
import { verifyAccount } from '../src/chain/verify.js';

const code = (c: string) => (err: unknown) => isAuditError(err) && err.code === c;

for (const engine of engines()) {
  describe(`control plane users and keys: ${engine}`, () => {
    const s = controlSuite(engine);

    it('invites a user: one InviteUsers record with the caller, caller IP and request id', async () => {
      const before = (await s.t.records(s.t.owner.accountId)).length;
      const res = await s.t.call('CreateUser', {
        spec: { email: 'New.Person@Example.com', access: { accountAccess: { role: 'ROLE_DEVELOPER' } } },
        asyncOperationId: 'op-invite-1',
      });
      assert.match(res['userId'] as string, /^[0-9a-f-]{36}$/);
      assert.equal((res['asyncOperation'] as { state: string }).state, 'STATE_FULFILLED');
      const recs = (await s.t.records(s.t.owner.accountId)).slice(before);
      assert.equal(recs.length, 1);
      const r = recs[0]!;
      assert.ok(validateEmitted(r).ok);
      assert.equal(r.operation, 'InviteUsers');
      assert.deepEqual(r.details, { target_users: ['new.person@example.com'], account_role: 'ROLE_DEVELOPER', search_attribute_update: {} });
      assert.equal(r.status, 'OK');
      assert.equal(r.user_email, 'owner@example.com');
      assert.equal(r.caller_ip_address, '203.0.113.7, 10.0.0.1');
      assert.equal(r.request_id, 'op-invite-1');
      assert.deepEqual(r.principal, { id: s.t.owner.userId, type: 'user', name: 'owner@example.com', api_key_id: s.t.owner.apiKey.split('_')[1] });

      const got = await s.t.call('GetUser', { userId: res['userId'] });
      const user = got['user'] as {
        spec: { email: string; access: { accountAccess: { role: string; roleDeprecated: string } } };
        invitation?: unknown;
        state: string;
        stateDeprecated: string;
      };
      assert.equal(user.spec.email, 'new.person@example.com');
      assert.deepEqual(user.spec.access.accountAccess, { role: 'ROLE_DEVELOPER', roleDeprecated: 'developer' });
      assert.ok(user.invitation, 'pending invitation is shown');
      assert.equal(user.state, 'RESOURCE_STATE_ACTIVE');
      assert.equal(user.stateDeprecated, 'active');
    });

    it('answers a retry with the same async_operation_id once, and refuses the id for another request', async () => {
      const before = (await s.t.records(s.t.owner.accountId)).length;
      const req = { spec: { email: 'retry@example.com', access: { accountAccess: { role: 'ROLE_READ' } } }, asyncOperationId: 'op-retry' };
      const first = await s.t.call('CreateUser', req);
      const second = await s.t.call('CreateUser', structuredClone(req));
      assert.deepEqual(second, first);
      assert.equal((await s.t.records(s.t.owner.accountId)).length, before + 1);
      await assert.rejects(s.t.call('CreateUser', { ...req, spec: { ...req.spec, email: 'other@example.com' } }), code('AS_ERR_INVALID_ARGUMENT'));
      const op = await s.t.call('GetAsyncOperation', { asyncOperationId: 'op-retry' });
      assert.equal((op['asyncOperation'] as { state: string }).state, 'STATE_FULFILLED');
      await assert.rejects(s.t.call('GetAsyncOperation', { asyncOperationId: 'nope' }), code('AS_ERR_NOT_FOUND'));
    });

    it('refuses bad input and conflicts with one ERROR record each and no change', async () => {
      const dev = await s.t.addUser('ROLE_DEVELOPER');
      const user = (await s.t.call('GetUser', { userId: dev.userId }))['user'] as { resourceVersion: string; spec: Record<string, unknown> };
      const cases: [string, Record<string, unknown>, string, string][] = [
        ['CreateUser', { spec: { email: 'not-an-email', access: { accountAccess: { role: 'ROLE_READ' } } } }, 'AS_ERR_INVALID_ARGUMENT', 'InviteUsers'],
        ['CreateUser', { spec: { email: dev.email, access: { accountAccess: { role: 'ROLE_READ' } } } }, 'AS_ERR_ALREADY_EXISTS', 'InviteUsers'],
        ['CreateUser', { spec: { email: 'x@example.com', access: { accountAccess: { role: 'ROLE_UNSPECIFIED' } } } }, 'AS_ERR_INVALID_ARGUMENT', 'InviteUsers'],
        ['UpdateUser', { userId: dev.userId, resourceVersion: 'stale', spec: user.spec }, 'AS_ERR_FAILED_PRECONDITION', 'UpdateUser'],
        ['DeleteUser', { userId: '00000000-0000-0000-0000-000000000000' }, 'AS_ERR_NOT_FOUND', 'DeleteUser'],
        ['DeleteUser', { userId: s.t.owner.userId }, 'AS_ERR_FAILED_PRECONDITION', 'DeleteUser'],
        [
          'SetUserNamespaceAccess',
          { namespace: 'missing.ns', userId: dev.userId, access: { permission: 'PERMISSION_READ' } },
          'AS_ERR_NOT_FOUND',
          'UpdateUserNamespacePermissions',
        ],
      ];
      for (const [rpc, req, errCode, operation] of cases) {
        const before = await s.t.records(s.t.owner.accountId);
        await assert.rejects(s.t.call(rpc, req), code(errCode), `${rpc} ${errCode}`);
        const added = (await s.t.records(s.t.owner.accountId)).slice(before.length);
        assert.equal(added.length, 1, `${rpc}: one ERROR record`);
        assert.equal(added[0]!.status, 'ERROR');
        assert.equal(added[0]!.level, 'LOG_LEVEL_ERROR');
        assert.equal(added[0]!.operation, operation);
        assert.match(String(added[0]!.details['reason']), new RegExp(errCode));
        assert.ok(validateEmitted(added[0]).ok);
      }
      const after = (await s.t.call('GetUser', { userId: dev.userId }))['user'] as { resourceVersion: string };
      assert.equal(after.resourceVersion, user.resourceVersion, 'nothing changed');
    });

    it('updates and deletes users, honouring resource_version, with seed-shaped details', async () => {
      const dev = await s.t.addUser('ROLE_DEVELOPER');
      const user = (await s.t.call('GetUser', { userId: dev.userId }))['user'] as { resourceVersion: string };
      const before = (await s.t.records(s.t.owner.accountId)).length;
      await s.t.call('UpdateUser', {
        userId: dev.userId,
        resourceVersion: user.resourceVersion,
        spec: { email: dev.email, access: { accountAccess: { role: 'ROLE_ADMIN' } } },
      });
      const updated = (await s.t.call('GetUser', { userId: dev.userId }))['user'] as {
        resourceVersion: string;
        spec: { access: { accountAccess: { role: string } } };
      };
      assert.equal(updated.spec.access.accountAccess.role, 'ROLE_ADMIN');
      assert.notEqual(updated.resourceVersion, user.resourceVersion);
      await s.t.call('DeleteUser', { userId: dev.userId, resourceVersion: updated.resourceVersion });
      await assert.rejects(s.t.call('GetUser', { userId: dev.userId }), code('AS_ERR_NOT_FOUND'));
      // The deleted user's API key stops working.
      await assert.rejects(s.t.call('GetUsers', {}, dev), code('AS_ERR_UNAUTHENTICATED'));
      const recs = (await s.t.records(s.t.owner.accountId)).slice(before);
      assert.deepEqual(
        recs.map((r) => r.operation),
        ['UpdateUser', 'DeleteUser'],
      );
      assert.deepEqual(recs[0]!.details['target_users'], [dev.email]);
      assert.deepEqual(recs[1]!.details, { target_users: [dev.userId], search_attribute_update: {} });
    });

    it('only an owner grants the owner role, and the last owner stays', async () => {
      const admin = await s.t.addUser('ROLE_ADMIN');
      await assert.rejects(
        s.t.call('CreateUser', { spec: { email: 'boss@example.com', access: { accountAccess: { role: 'ROLE_OWNER' } } } }, admin),
        code('AS_ERR_PERMISSION_DENIED'),
      );
      const ownerUser = (await s.t.call('GetUser', { userId: s.t.owner.userId }))['user'] as { resourceVersion: string };
      await assert.rejects(
        s.t.call('UpdateUser', {
          userId: s.t.owner.userId,
          resourceVersion: ownerUser.resourceVersion,
          spec: { email: s.t.owner.email, access: { accountAccess: { role: 'ROLE_ADMIN' } } },
        }),
        code('AS_ERR_FAILED_PRECONDITION'),
      );
    });

    it('creates, lists, updates, disables and deletes API keys; the secret works once shown and never again after delete', async () => {
      const before = (await s.t.records(s.t.owner.accountId)).length;
      const created = await s.t.call('CreateApiKey', {
        spec: {
          ownerId: s.t.owner.userId,
          ownerType: 'OWNER_TYPE_USER',
          displayName: 'ci key',
          expiryTime: { seconds: String(Math.floor(Date.now() / 1000) + 86400), nanos: 0 },
        },
      });
      const keyId = created['keyId'] as string;
      const token = created['token'] as string;
      assert.match(token, /^as_[0-9a-z]{24}_/);
      const me = { ...s.t.owner, apiKey: token };
      assert.ok((await s.t.call('GetApiKeys', {}, me))['apiKeys']);
      const key = (await s.t.call('GetApiKey', { keyId }))['apiKey'] as { resourceVersion: string; spec: Record<string, unknown> };
      assert.equal(key.spec['displayName'], 'ci key');
      assert.equal(key.spec['ownerTypeDeprecated'], 'user');
      await s.t.call('UpdateApiKey', { keyId, resourceVersion: key.resourceVersion, spec: { ...key.spec, disabled: true } });
      await assert.rejects(
        s.t.call('GetApiKeys', {}, me),
        (e: unknown) => isAuditError(e) && e.code === 'AS_ERR_UNAUTHENTICATED' && /disabled/.test(e.message),
      );
      await s.t.call('DeleteApiKey', { keyId });
      await assert.rejects(s.t.call('GetApiKey', { keyId }), code('AS_ERR_NOT_FOUND'));
      const recs = (await s.t.records(s.t.owner.accountId)).slice(before);
      assert.deepEqual(
        recs.map((r) => r.operation),
        ['CreateAPIKey', 'UpdateAPIKey', 'DeleteAPIKey'],
      );
      assert.deepEqual(recs[0]!.details['target_api_keys'], [keyId]);
      // The secret never appears in any record.
      // (The secret is base64url and may itself contain "_": take everything after the key id.)
      const secret = token.slice(token.indexOf('_', 3) + 1);
      assert.ok(secret.length >= 43);
      for (const r of await s.t.records(s.t.owner.accountId)) assert.ok(!JSON.stringify(r).includes(secret));
      await assert.rejects(
        s.t.call('CreateApiKey', { spec: { ownerId: s.t.owner.userId, displayName: 'old', expiryTime: { seconds: '1000', nanos: 0 } } }),
        code('AS_ERR_INVALID_ARGUMENT'),
      );
    });

    it('lets a developer manage only its own keys', async () => {
      const dev = await s.t.addUser('ROLE_DEVELOPER');
      const own = await s.t.call('CreateApiKey', { spec: { ownerId: dev.userId, displayName: 'mine' } }, dev);
      assert.ok(own['keyId']);
      await assert.rejects(s.t.call('CreateApiKey', { spec: { ownerId: s.t.owner.userId, displayName: 'theirs' } }, dev), code('AS_ERR_PERMISSION_DENIED'));
      const listed = (await s.t.call('GetApiKeys', {}, dev))['apiKeys'] as { spec: { ownerId: string } }[];
      assert.ok(listed.length >= 1 && listed.every((k) => k.spec.ownerId === dev.userId));
    });

    it('serves the account audit log as LogRecords with time range and page tokens', async () => {
      const all = await s.t.records(s.t.owner.accountId);
      const page1 = await s.t.call('GetAuditLogs', { pageSize: 3 });
      const logs = page1['logs'] as {
        logId: string;
        operation: string;
        principal: { id: string };
        xForwardedFor: string;
        rawDetails: unknown;
        emitTime: { seconds: string };
      }[];
      assert.equal(logs.length, 3);
      assert.deepEqual(
        logs.map((l) => l.logId),
        all.slice(0, 3).map((r) => r.log_id),
      );
      const page2 = await s.t.call('GetAuditLogs', { pageSize: 3, pageToken: page1['nextPageToken'] });
      assert.deepEqual(
        (page2['logs'] as { logId: string }[]).map((l) => l.logId),
        all.slice(3, 6).map((r) => r.log_id),
      );
      await assert.rejects(s.t.call('GetAuditLogs', { pageToken: 'bogus' }), code('AS_ERR_INVALID_ARGUMENT'));
      await assert.rejects(s.t.call('GetAuditLogs', { pageSize: 5000 }), code('AS_ERR_INVALID_ARGUMENT'));
      const future = await s.t.call('GetAuditLogs', { startTimeInclusive: { seconds: String(Math.floor(Date.now() / 1000) + 3600), nanos: 0 } });
      assert.deepEqual(future['logs'], []);
      const dev = await s.t.addUser('ROLE_DEVELOPER');
      await assert.rejects(s.t.call('GetAuditLogs', {}, dev), code('AS_ERR_PERMISSION_DENIED'));
      assert.equal((await verifyAccount(s.store, s.t.owner.accountId, { trustedKeys: new Map() })).ok, true);
    });

    it('refuses unknown, malformed and missing keys without writing to any account', async () => {
      const before = await s.store.count();
      for (const authorization of [undefined, 'Bearer nope', `Bearer as_${'a'.repeat(24)}_${'b'.repeat(43)}`, `Bearer ${s.t.owner.apiKey}x`]) {
        await assert.rejects(
          s.t.control.handlers['GetUsers']!(
            {},
            { method: 'GetUsers', transport: 'grpc', headers: {}, peer: '10.0.0.1', ...(authorization ? { authorization } : {}) },
          ),
          code('AS_ERR_UNAUTHENTICATED'),
        );
        await assert.rejects(
          s.t.control.handlers['CreateUser']!(
            { spec: {} },
            { method: 'CreateUser', transport: 'grpc', headers: {}, peer: '10.0.0.1', ...(authorization ? { authorization } : {}) },
          ),
          code('AS_ERR_UNAUTHENTICATED'),
        );
      }
      assert.equal(await s.store.count(), before);
    });
  });
}
