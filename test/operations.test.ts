import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BUILTIN_OPERATIONS,
  buildDetails,
  getOperation,
  listOperations,
  operationForRpc,
  registerOperation,
  validateDetails,
} from '../src/record/operations.js';
import type { SchemaResult } from '../src/record/schema-errors.js';
import { findRepoRoot } from '../src/record/schema-files.js';

const seedLines = readFileSync(join(findRepoRoot(), 'test/fixtures/seed-records.jsonl'), 'utf8')
  .split('\n')
  .filter((l) => l !== '');
const seeds = seedLines.map((l) => JSON.parse(l) as { operation: string; details: Record<string, unknown> });

function assertFails(result: SchemaResult, field: string, message?: RegExp): void {
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.equal(result.field, field, result.message);
  if (message) assert.match(result.message, message);
}

const ADMIN_OPS = [
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
];

describe('registry', () => {
  test('every operation of the guide is registered as an admin operation', () => {
    for (const name of ADMIN_OPS) {
      const op = getOperation(name);
      assert.ok(op, name);
      assert.equal(op.category, 'LOG_CATEGORY_ADMIN', name);
      assert.ok(op.description.length > 0 && !op.description.includes('\n'));
    }
  });

  test('system operations', () => {
    for (const name of ['VerifyAuditLogSink', 'ChainCheckpoint']) assert.equal(getOperation(name)?.category, 'LOG_CATEGORY_SYSTEM');
  });

  test('unknown operation', () => {
    assert.equal(getOperation('Nope'), undefined);
    assert.equal(getOperation('updateaccount'), undefined, 'names are case-sensitive');
  });

  test('listOperations starts with the built-ins in order', () => {
    assert.deepEqual(
      listOperations()
        .slice(0, BUILTIN_OPERATIONS.length)
        .map((o) => o.name),
      BUILTIN_OPERATIONS.map((o) => o.name),
    );
  });

  test('Cloud Ops RPC → operation', () => {
    const cases: [string, string][] = [
      ['CreateUser', 'InviteUsers'],
      ['UpdateUser', 'UpdateUser'],
      ['DeleteUser', 'DeleteUser'],
      ['SetUserNamespaceAccess', 'UpdateUserNamespacePermissions'],
      ['CreateNamespace', 'CreateNamespace'],
      ['UpdateNamespace', 'UpdateNamespace'],
      ['DeleteNamespace', 'DeleteNamespace'],
      ['RenameCustomSearchAttribute', 'RenameCustomSearchAttribute'],
      ['FailoverNamespaceRegion', 'FailoverNamespace'],
      ['CreateApiKey', 'CreateAPIKey'],
      ['UpdateApiKey', 'UpdateAPIKey'],
      ['DeleteApiKey', 'DeleteAPIKey'],
      ['UpdateAccount', 'UpdateAccount'],
      ['CreateAccountAuditLogSink', 'UpdateAccount'],
      ['ValidateAccountAuditLogSink', 'VerifyAuditLogSink'],
    ];
    for (const [rpc, op] of cases) assert.equal(operationForRpc(rpc)?.name, op, rpc);
    assert.equal(operationForRpc('GetUsers'), undefined, 'reads are not audited');
  });

  test('no RPC maps to two operations', () => {
    const seen = new Map<string, string>();
    for (const op of BUILTIN_OPERATIONS) {
      for (const rpc of op.rpcs) {
        assert.equal(seen.get(rpc), undefined, `${rpc} in ${op.name} and ${seen.get(rpc) ?? ''}`);
        seen.set(rpc, op.name);
      }
    }
  });

  test('definitions are frozen', () => {
    const op = getOperation('DeleteUser')!;
    assert.ok(Object.isFrozen(op));
    assert.throws(() => (op.rpcs as string[]).push('X'));
  });
});

describe('validateDetails', () => {
  seeds.forEach((s, i) => {
    test(`seed sample ${i} (${s.operation}) details fit`, () => {
      assert.deepEqual(validateDetails(s.operation, s.details), { ok: true });
    });
  });

  test('required fields', () => {
    assertFails(validateDetails('DeleteUser', { search_attribute_update: {} }), 'details.target_users', /details\.target_users is required/);
    assertFails(validateDetails('UpdateNamespace', {}), 'details.namespace', /required \(operation UpdateNamespace\)/);
    assertFails(validateDetails('DeleteAPIKey', {}), 'details.target_api_keys');
  });

  test('types', () => {
    assertFails(validateDetails('DeleteUser', { target_users: 'u1' }), 'details.target_users', /must be an array/);
    assertFails(validateDetails('DeleteUser', { target_users: ['u1', 7] }), 'details.target_users[1]', /must be a string/);
    assertFails(validateDetails('UpdateNamespace', { namespace: 3 }), 'details.namespace', /must be a string/);
    assertFails(
      validateDetails('UpdateNamespace', { namespace: 'ns.acct', search_attribute_update: [] }),
      'details.search_attribute_update',
      /must be an object/,
    );
    assertFails(
      validateDetails('UpdateNamespace', { namespace: 'ns.acct', search_attribute_update: { CustomerId: 1 } }),
      'details.search_attribute_update.CustomerId',
    );
    assertFails(validateDetails('ChainCheckpoint', { head_hash: 'xyz' }), 'details.head_hash');
    assertFails(
      validateDetails('UpdateNamespace', { namespace: 'ns.acct', retention_days: -1 }),
      'details.retention_days',
      /^details\.retention_days must be at least 0 \(operation UpdateNamespace\)$/,
    );
  });

  test('extra properties are allowed (open registry)', () => {
    assert.deepEqual(validateDetails('DeleteUser', { target_users: ['u'], something_new: { a: 1 } }), { ok: true });
  });

  test('unknown operations: details must only be an object', () => {
    assert.deepEqual(validateDetails('TenantDidSomething', { anything: [1, 2] }), { ok: true });
    assert.deepEqual(validateDetails('TenantDidSomething', {}), { ok: true });
    for (const d of [null, [], 'x', 1, undefined]) {
      assertFails(validateDetails('TenantDidSomething', d), 'details', /^details must be an object$/);
      assertFails(validateDetails('DeleteUser', d), 'details');
    }
  });
});

describe('registerOperation', () => {
  test('adds an operation and its RPC', () => {
    registerOperation({
      name: 'CreateServiceAccount',
      category: 'LOG_CATEGORY_ADMIN',
      description: 'A service account created.',
      rpcs: ['CreateServiceAccount'],
      detailsSchema: {
        type: 'object',
        required: ['target_service_accounts'],
        properties: { target_service_accounts: { type: 'array', items: { type: 'string' } } },
      },
    });
    assert.equal(getOperation('CreateServiceAccount')?.category, 'LOG_CATEGORY_ADMIN');
    assert.equal(operationForRpc('CreateServiceAccount')?.name, 'CreateServiceAccount');
    assert.ok(listOperations().some((o) => o.name === 'CreateServiceAccount'));
    assert.deepEqual(validateDetails('CreateServiceAccount', { target_service_accounts: ['sa'] }), { ok: true });
    assertFails(validateDetails('CreateServiceAccount', {}), 'details.target_service_accounts');
  });

  test('replacing an operation drops its old RPC mapping', () => {
    registerOperation({ name: 'TmpOp', category: 'LOG_CATEGORY_SYSTEM', description: 't', rpcs: ['TmpRpc'], detailsSchema: { type: 'object' } });
    registerOperation({ name: 'TmpOp', category: 'LOG_CATEGORY_SYSTEM', description: 't', rpcs: ['TmpRpc2'], detailsSchema: { type: 'object' } });
    assert.equal(operationForRpc('TmpRpc'), undefined);
    assert.equal(operationForRpc('TmpRpc2')?.name, 'TmpOp');
  });

  test('refuses bad definitions', () => {
    const ok = { name: 'X1', category: 'LOG_CATEGORY_ADMIN' as const, description: 'x', rpcs: [], detailsSchema: { type: 'object' } };
    assert.throws(() => registerOperation({ ...ok, name: '' }), TypeError);
    assert.throws(() => registerOperation({ ...ok, name: 'has space' }), TypeError);
    assert.throws(() => registerOperation({ ...ok, category: 'LOG_CATEGORY_DATA' as unknown as 'LOG_CATEGORY_ADMIN' }), TypeError);
    assert.throws(() => registerOperation({ ...ok, detailsSchema: { type: 'array' } }), TypeError);
    assert.throws(() => registerOperation({ ...ok, detailsSchema: { type: 'object', properties: { a: { type: 'strng' } } } }));
    assert.equal(getOperation('X1'), undefined);
  });
});

describe('buildDetails', () => {
  test('reproduces the seed details byte for byte', () => {
    for (const s of seeds) {
      const input: Record<string, unknown> = { ...s.details };
      delete input['search_attribute_update'];
      assert.equal(JSON.stringify(buildDetails(s.operation, input)), JSON.stringify(s.details), s.operation);
    }
  });

  test('always includes search_attribute_update', () => {
    assert.deepEqual(buildDetails('DeleteNamespace', { namespace: 'ns.acct' }), { namespace: 'ns.acct', search_attribute_update: {} });
    assert.deepEqual(buildDetails('UserLogin'), { search_attribute_update: {} });
    assert.deepEqual(buildDetails('UpdateNamespace', { namespace: 'n.a', search_attribute_update: { CustomerId: 'Keyword' } }), {
      namespace: 'n.a',
      search_attribute_update: { CustomerId: 'Keyword' },
    });
  });

  test('rename and failover fields, undefined left out, inputs copied', () => {
    const users = ['u1'];
    const d = buildDetails('RenameCustomSearchAttribute', { namespace: 'n.a', old_name: 'A', new_name: 'B', region: undefined });
    assert.equal(JSON.stringify(d), '{"namespace":"n.a","old_name":"A","new_name":"B","search_attribute_update":{}}');
    const f = buildDetails('FailoverNamespace', { namespace: 'n.a', region: 'aws-us-west-2' });
    assert.equal(f['region'], 'aws-us-west-2');
    const del = buildDetails('DeleteUser', { target_users: users });
    users.push('u2');
    assert.deepEqual(del['target_users'], ['u1']);
  });

  test('throws on details that do not fit the operation', () => {
    assert.throws(() => buildDetails('DeleteUser', {}), /details\.target_users is required/);
    assert.throws(() => buildDetails('UpdateNamespace', { namespace: 5 as unknown as string }), /details\.namespace must be a string/);
  });
});
