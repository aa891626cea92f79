/**
 * The audit log sink RPCs driven by Temporal's official `CloudOperationsClient` over TLS against
 * the real server: create, get, list, update (pause), validate (a refused spec), delete — each
 * change audited once as UpdateAccount with the client's principal. No destination is needed for
 * these calls (delivery itself is tested against moto and the Pub/Sub emulator elsewhere).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTestTls } from './helpers/tls.js';
import { resolveConfig } from '../src/config.js';
import { createAccount } from '../src/control/accounts.js';
import { keyIdOfToken } from '../src/control/secrets.js';
import type { AuditRecord } from '../src/record/record.js';

// grpc-js reads the roots file once, when it loads: set it before anything imports grpc-js.
const tls = makeTestTls();
process.env.GRPC_DEFAULT_SSL_ROOTS_FILE_PATH = tls.caPath;
const { startServer } = await import('../src/server.js');
const { CloudOperationsClient, CloudOperationsConnection } = await import('@temporalio/cloud');

describe('audit log sink RPCs with the official @temporalio/cloud client', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'auditstream-sinks-client-'));
  let server: Awaited<ReturnType<typeof startServer>>;
  let connection: Awaited<ReturnType<typeof CloudOperationsConnection.connect>>;
  let account: { account_id: string; user_id: string; api_key: string };

  before(async () => {
    server = await startServer(
      resolveConfig({
        DATABASE_URL: join(dataDir, 'audit.db'),
        AUDITSTREAM_HTTP_PORT: '0',
        AUDITSTREAM_GRPC_PORT: '0',
        AUDITSTREAM_TLS_CERT: join(tls.dir, 'server.pem'),
        AUDITSTREAM_TLS_KEY: join(tls.dir, 'server.key'),
        AUDITSTREAM_DATA_DIR: dataDir,
        LOG_LEVEL: 'silent',
      }),
    );
    account = await createAccount(server.store, { email: 'owner@example.com' });
    connection = await CloudOperationsConnection.connect({ address: server.grpcAddress, apiKey: account.api_key, connectTimeout: '5s' });
  });
  after(async () => {
    connection?.close();
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const records = async () =>
    (await server.store.query({ accountId: account.account_id }, { order: 'asc', limit: 1000 })).items.map((r) => JSON.parse(r.recordJson) as AuditRecord);

  it('creates, reads, pauses and deletes a sink; every change is one UpdateAccount record', async () => {
    const cloud = new CloudOperationsClient({ connection }).cloudService;
    const spec = {
      name: 'audit-kinesis',
      enabled: true,
      kinesisSink: { roleName: 'auditstream-writer', destinationUri: 'arn:aws:kinesis:us-east-1:123456789012:stream/audit', region: 'us-east-1' },
    };
    const before = (await records()).length;
    const created = await cloud.createAccountAuditLogSink({ spec, asyncOperationId: 'sink-create-1' });
    assert.equal(created.asyncOperation?.state, 5 /* STATE_FULFILLED */);
    // A retry of the same call (the client retries up to 10 times) changes nothing.
    await cloud.createAccountAuditLogSink({ spec, asyncOperationId: 'sink-create-1' });

    const got = await cloud.getAccountAuditLogSink({ name: 'audit-kinesis' });
    assert.equal(got.sink?.name, 'audit-kinesis');
    assert.equal(got.sink?.spec?.kinesisSink?.destinationUri, spec.kinesisSink.destinationUri);
    assert.ok(got.sink?.resourceVersion);
    const list = await cloud.getAccountAuditLogSinks({});
    assert.deepEqual(
      list.sinks?.map((s) => s.name),
      ['audit-kinesis'],
    );

    await cloud.updateAccountAuditLogSink({ spec: { ...spec, enabled: false }, resourceVersion: got.sink!.resourceVersion! });
    assert.equal((await cloud.getAccountAuditLogSink({ name: 'audit-kinesis' })).sink?.spec?.enabled, false);

    // A stale resource_version is FAILED_PRECONDITION (9), never a code the client retries.
    await assert.rejects(cloud.updateAccountAuditLogSink({ spec, resourceVersion: got.sink!.resourceVersion! }), (err: { code?: number }) => err.code === 9);
    // A malformed ARN is refused by validation with INVALID_ARGUMENT (3).
    await assert.rejects(
      cloud.validateAccountAuditLogSink({ spec: { ...spec, kinesisSink: { ...spec.kinesisSink, destinationUri: 'not-an-arn' } } }),
      (err: { code?: number }) => err.code === 3,
    );

    await cloud.deleteAccountAuditLogSink({ name: 'audit-kinesis' });
    await assert.rejects(cloud.getAccountAuditLogSink({ name: 'audit-kinesis' }), (err: { code?: number }) => err.code === 5);

    const added = (await records()).slice(before);
    assert.deepEqual(
      added.map((r) => [r.operation, r.status, r.details['sink_name'], r.details['sink_action']]),
      [
        ['UpdateAccount', 'OK', 'audit-kinesis', 'create'],
        ['UpdateAccount', 'OK', 'audit-kinesis', 'update'],
        ['UpdateAccount', 'ERROR', 'audit-kinesis', 'update'],
        ['UpdateAccount', 'OK', 'audit-kinesis', 'delete'],
      ],
    );
    const keyId = keyIdOfToken(account.api_key);
    for (const r of added) {
      assert.deepEqual(r.principal, { id: account.user_id, type: 'user', name: 'owner@example.com', api_key_id: keyId });
      assert.match(r.caller_ip_address, /127\.0\.0\.1$/);
    }
    assert.equal(added[0]!.request_id, 'sink-create-1');
  });
});
