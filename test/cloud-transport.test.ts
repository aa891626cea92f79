/**
 * The Cloud Ops API transport: the gRPC server driven by Temporal's official `@temporalio/cloud`
 * client over TLS, and the HTTP mapping driven through Fastify's `inject`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance, type InjectOptions } from 'fastify';
import { AuditError } from '../src/errors.js';
import { durationFromMs, structFromJson, timestampFromDate, type CallContext, type CloudHandlers, type CloudRequest } from '../src/api/cloud/handlers.js';
import { cloudMethods } from '../src/api/cloud/proto.js';
import { registerCloudHttpRoutes } from '../src/api/cloud/http-routes.js';
import { makeTestTls } from './helpers/tls.js';

// grpc-js reads the trusted roots when it is first loaded: set them, then load it.
const tls = makeTestTls();
process.env.GRPC_DEFAULT_SSL_ROOTS_FILE_PATH = tls.caPath;
const grpc = await import('@grpc/grpc-js');
const { startGrpcServer } = await import('../src/api/cloud/grpc-server.js');
const { CloudOperationsClient, CloudOperationsConnection } = await import('@temporalio/cloud');
type CloudOperationsClientType = InstanceType<typeof CloudOperationsClient>;
type GetAuditLogsRequest = Parameters<CloudOperationsClientType['cloudService']['getAuditLogs']>[0];

interface Call {
  req: CloudRequest;
  ctx: CallContext;
}
const calls = new Map<string, Call[]>();
const record = (req: CloudRequest, ctx: CallContext) => calls.set(ctx.method, [...(calls.get(ctx.method) ?? []), { req, ctx }]);
const callsOf = (method: string) => calls.get(method) ?? [];
const lastCall = (method: string): Call => {
  const list = callsOf(method);
  assert.ok(list.length > 0, `${method} was not called`);
  return list[list.length - 1]!;
};

const ANY_INPUT = Buffer.from(
  // a google.protobuf.Duration of 7s, wrapped in an Any below
  [0x08, 0x07],
);

let flakyFailures = 0;
const handlers: CloudHandlers = {
  async GetCurrentIdentity(req, ctx) {
    record(req, ctx);
    return {
      user: {
        id: 'u-1',
        spec: { email: 'owner@example.com' },
        state: 'RESOURCE_STATE_ACTIVE',
        stateDeprecated: 'active',
        createdTime: timestampFromDate(new Date('2024-05-06T07:08:09.123Z')),
      },
    };
  },
  async GetUsers(req, ctx) {
    record(req, ctx);
    return { users: [], nextPageToken: `size=${String(req.pageSize)};token=${String(req.pageToken)};email=${String(req.email)}` };
  },
  async GetAuditLogs(req, ctx) {
    record(req, ctx);
    return {
      logs: [
        {
          emitTime: { seconds: '1700000000', nanos: 123456789 },
          operation: 'CreateUser',
          status: 'OK',
          version: 1,
          logId: 'log-1',
          principal: { type: 'user', id: 'u-1', name: 'owner@example.com' },
          rawDetails: structFromJson({ n: 1, list: [true, null, 'x'] }),
        },
      ],
      nextPageToken: '',
    };
  },
  async CreateNamespace(req, ctx) {
    record(req, ctx);
    throw new AuditError('AS_ERR_INVALID_ARGUMENT', 'spec.name is required', { field: 'spec.name' });
  },
  async DeleteUser(req, ctx) {
    record(req, ctx);
    throw new Error('connection to db-7 refused (secret detail)');
  },
  async GetUser(req, ctx) {
    record(req, ctx);
    if (flakyFailures-- > 0) throw new AuditError('AS_ERR_UNAVAILABLE', 'try again');
    return { user: { id: String(req.userId) } };
  },
  async GetRegion(req, ctx) {
    record(req, ctx);
    return { region: { id: 'r', cloudProviderTypo: 'aws' } };
  },
  async GetAsyncOperation(req, ctx) {
    record(req, ctx);
    return {
      asyncOperation: {
        id: String(req.asyncOperationId),
        state: 'STATE_FULFILLED',
        stateDeprecated: 'fulfilled',
        checkDuration: durationFromMs(5000),
        operationType: 'CreateUser',
        operationInput: { type_url: 'type.googleapis.com/google.protobuf.Duration', value: ANY_INPUT },
        startedTime: { seconds: '0', nanos: 0 },
      },
    };
  },
  async CreateBillingReport(req, ctx) {
    record(req, ctx);
    return { billingReportId: 'br-1', asyncOperation: { id: String(req.asyncOperationId), state: 'STATE_PENDING' } };
  },
  async UpdateAccountAuditLogSink(req, ctx) {
    record(req, ctx);
    return { asyncOperation: { id: 'op-sink' } };
  },
  async GetNamespaceExportSink(req, ctx) {
    record(req, ctx);
    return { sink: { name: String(req.name) } };
  },
};

const logged: { obj: object; msg: string }[] = [];
const logger = { error: (obj: object, msg: string) => void logged.push({ obj, msg }) };

describe('proto reflection', () => {
  test('every CloudService RPC is unary and has an HTTP rule', () => {
    assert.equal(cloudMethods.length, 76);
    for (const m of cloudMethods) {
      assert.ok(m.http, `${m.name} has no google.api.http rule`);
      assert.match(m.http.path, /^\/cloud\//);
    }
  });
});

describe('gRPC with the official @temporalio/cloud client over TLS', () => {
  let server: Awaited<ReturnType<typeof startGrpcServer>>;
  let connection: Awaited<ReturnType<typeof CloudOperationsConnection.connect>>;
  let client: CloudOperationsClientType;

  before(async () => {
    server = await startGrpcServer({ host: '127.0.0.1', port: 0, tls: { cert: tls.certPem, key: tls.keyPem }, handlers, logger });
    connection = await CloudOperationsConnection.connect({ address: `127.0.0.1:${server.port}`, apiKey: 'test-key', connectTimeout: '5s' });
    client = new CloudOperationsClient({ connection });
  });
  after(async () => {
    connection?.close();
    await server?.close(1000);
  });

  test('round trip with authorization, client headers, peer and request id', async () => {
    const res = await client.withMetadata({ 'x-forwarded-for': '203.0.113.9', 'x-request-id': 'req-42' }, () => client.cloudService.getCurrentIdentity({}));
    assert.equal(res.user?.id, 'u-1');
    assert.equal(res.user?.spec?.email, 'owner@example.com');
    assert.equal(res.user?.state, 3); // RESOURCE_STATE_ACTIVE
    assert.equal(Number(res.user?.createdTime?.seconds), Date.parse('2024-05-06T07:08:09Z') / 1000);
    assert.equal(res.user?.createdTime?.nanos, 123_000_000);
    const { ctx } = lastCall('GetCurrentIdentity');
    assert.equal(ctx.transport, 'grpc');
    assert.equal(ctx.authorization, 'Bearer test-key');
    assert.equal(ctx.headers.authorization, undefined);
    assert.equal(ctx.headers['client-name'], 'temporal-typescript');
    assert.ok(ctx.headers['client-version']);
    assert.equal(ctx.peer, '127.0.0.1');
    assert.equal(ctx.forwardedFor, '203.0.113.9');
    assert.equal(ctx.requestId, 'req-42');
  });

  test('request fields reach the handler in the plain-object conventions', async () => {
    const res = await client.cloudService.getUsers({ pageSize: 25, pageToken: 'tok' });
    assert.equal(res.nextPageToken, 'size=25;token=tok;email=');
    const logs = await client.cloudService.getAuditLogs({
      startTimeInclusive: { seconds: 1704164645, nanos: 5 }, // a number where the typings say Long: protobufjs accepts both
    } as unknown as GetAuditLogsRequest);
    assert.deepEqual(lastCall('GetAuditLogs').req.startTimeInclusive, { seconds: '1704164645', nanos: 5 });
    assert.equal(lastCall('GetAuditLogs').req.endTimeExclusive, null);
    const log = logs.logs[0]!;
    assert.equal(Number(log.emitTime?.seconds), 1700000000);
    assert.equal(log.emitTime?.nanos, 123456789);
    assert.equal(log.principal?.id, 'u-1');
    assert.equal(log.rawDetails?.fields?.n?.numberValue, 1);
  });

  test('a method without a handler is UNIMPLEMENTED', async () => {
    await assert.rejects(client.cloudService.getRegions({}), (err: { code: number; details: string }) => {
      assert.equal(err.code, grpc.status.UNIMPLEMENTED);
      assert.match(err.details, /GetRegions is not implemented/);
      return true;
    });
  });

  test('an AuditError passes through with its code and is not retried', async () => {
    await assert.rejects(
      client.cloudService.createNamespace({ spec: { name: '' } }),
      (err: { code: number; details: string; metadata: { get(k: string): unknown[] } }) => {
        assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
        assert.equal(err.details, 'spec.name is required');
        assert.deepEqual(err.metadata.get('auditstream-error-code'), ['AS_ERR_INVALID_ARGUMENT']);
        return true;
      },
    );
    assert.equal(callsOf('CreateNamespace').length, 1);
  });

  test('any other error is INTERNAL with a generic message, logged, and not retried', async () => {
    await assert.rejects(client.cloudService.deleteUser({ userId: 'u-9' }), (err: { code: number; details: string }) => {
      assert.equal(err.code, grpc.status.INTERNAL);
      assert.equal(err.details, 'internal error');
      return true;
    });
    assert.equal(callsOf('DeleteUser').length, 1);
    assert.ok(logged.some((l) => String((l.obj as { err?: Error }).err?.message).includes('db-7')));
  });

  test('a handler response that does not fit the schema is INTERNAL, not silently trimmed', async () => {
    await assert.rejects(client.cloudService.getRegion({ region: 'r' }), { code: grpc.status.INTERNAL });
    assert.ok(logged.some((l) => String((l.obj as { err?: Error }).err?.message).includes('cloudProviderTypo')));
  });

  test('UNAVAILABLE from a handler is retried by the client', async () => {
    flakyFailures = 1;
    const before = callsOf('GetUser').length;
    const res = await client.cloudService.getUser({ userId: 'u-7' });
    assert.equal(res.user?.id, 'u-7');
    assert.equal(callsOf('GetUser').length - before, 2);
  });

  test('grpc.health.v1.Health answers SERVING', async () => {
    const whole = await connection.healthService.check({});
    assert.equal(whole.status, 1); // SERVING
    const cloud = await connection.healthService.check({ service: 'temporal.api.cloud.cloudservice.v1.CloudService' });
    assert.equal(cloud.status, 1);
    await assert.rejects(connection.healthService.check({ service: 'nope' }), { code: grpc.status.NOT_FOUND });
  });
});

describe('gRPC without TLS', () => {
  test('plaintext listener; a malformed request is INVALID_ARGUMENT, not INTERNAL', async () => {
    const server = await startGrpcServer({ host: '127.0.0.1', port: 0, handlers, logger });
    const raw = new grpc.Client(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
    try {
      const call = (bytes: Buffer) =>
        new Promise<{ code: number; details: string } | Buffer>((resolve) => {
          raw.makeUnaryRequest(
            '/temporal.api.cloud.cloudservice.v1.CloudService/GetUsers',
            (b: Buffer) => b,
            (b: Buffer) => b,
            bytes,
            (err, value) => resolve(err ? { code: err.code, details: err.details } : value!),
          );
        });
      const bad = await call(Buffer.from([0x0a, 0xff, 0x01])); // field 1, length 255, 1 byte of data
      assert.deepEqual(bad, { code: grpc.status.INVALID_ARGUMENT, details: 'malformed GetUsersRequest message' });
      const ok = await call(Buffer.alloc(0));
      assert.ok(Buffer.isBuffer(ok));
    } finally {
      raw.close();
      await server.close(1000);
    }
  });
});

describe('HTTP mapping', () => {
  let app: FastifyInstance;
  before(async () => {
    app = Fastify({ logger: false });
    registerCloudHttpRoutes(app, handlers);
    await app.ready();
  });
  after(() => app.close());

  test('GET with query parameters in snake_case and camelCase', async () => {
    for (const qs of ['page_size=5&page_token=abc&email=a%40b.c', 'pageSize=5&pageToken=abc&email=a%40b.c', 'page_size=5&pageToken=abc&email=a@b.c']) {
      const res = await app.inject({ method: 'GET', url: `/cloud/users?${qs}`, headers: { authorization: 'Bearer k', 'x-request-id': 'r-1' } });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { users: [], nextPageToken: 'size=5;token=abc;email=a@b.c' });
    }
    const { req, ctx } = lastCall('GetUsers');
    assert.equal(req.pageSize, 5);
    assert.equal(ctx.transport, 'http');
    assert.equal(ctx.authorization, 'Bearer k');
    assert.equal(ctx.requestId, 'r-1');
    assert.equal(ctx.peer, '127.0.0.1');
  });

  test('a Timestamp query parameter and a response with RFC 3339 timestamps and a Struct', async () => {
    const res = await app.inject({ method: 'GET', url: '/cloud/audit-logs?start_time_inclusive=2024-01-02T03:04:05.5%2B01:00' });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(lastCall('GetAuditLogs').req.startTimeInclusive, { seconds: String(Date.parse('2024-01-02T02:04:05Z') / 1000), nanos: 500_000_000 });
    const log = res.json().logs[0];
    assert.equal(log.emitTime, '2023-11-14T22:13:20.123456789Z');
    assert.deepEqual(log.rawDetails, { n: 1, list: [true, null, 'x'] });
    assert.deepEqual(log.principal, { type: 'user', id: 'u-1', name: 'owner@example.com', apiKeyId: '' });
  });

  test('enum names, Durations, Any and unpopulated fields in responses', async () => {
    const res = await app.inject({ method: 'GET', url: '/cloud/operations/op-1' });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), {
      asyncOperation: {
        id: 'op-1',
        stateDeprecated: 'fulfilled',
        state: 'STATE_FULFILLED',
        checkDuration: '5s',
        operationType: 'CreateUser',
        operationInput: { '@type': 'type.googleapis.com/google.protobuf.Duration', value: '7s' },
        failureReason: '',
        startedTime: '1970-01-01T00:00:00Z',
        finishedTime: null,
      },
    });
  });

  test('POST with a body carrying an RFC 3339 Timestamp, a Duration and an enum', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/cloud/billing-reports',
      payload: {
        spec: {
          start_time_inclusive: '2024-01-01T00:00:00Z',
          endTimeExclusive: '2024-02-01T00:00:00.000001+01:00',
          download_url_expiration_duration: '5s',
          granularity: 'BILLING_REPORT_GRANULARITY_DAILY',
        },
        async_operation_id: 'op-b',
      },
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().billingReportId, 'br-1');
    assert.equal(res.json().asyncOperation.state, 'STATE_PENDING');
    const { req } = lastCall('CreateBillingReport');
    const spec = req.spec as Record<string, unknown>;
    assert.deepEqual(spec.startTimeInclusive, { seconds: String(Date.parse('2024-01-01T00:00:00Z') / 1000), nanos: 0 });
    assert.deepEqual(spec.endTimeExclusive, { seconds: String(Date.parse('2024-01-31T23:00:00Z') / 1000), nanos: 1000 });
    assert.deepEqual(spec.downloadUrlExpirationDuration, { seconds: '5', nanos: 0 });
    assert.equal(spec.granularity, 'BILLING_REPORT_GRANULARITY_DAILY');
    assert.equal(spec.description, '');
    assert.equal(req.asyncOperationId, 'op-b');
  });

  test('path variables: nested {spec.name}, ids with dots and encoded slashes', async () => {
    const sink = await app.inject({
      method: 'POST',
      url: '/cloud/audit-log-sinks/my-sink',
      payload: { spec: { enabled: true, kinesis_sink: { role_name: 'r' } }, resourceVersion: '7' },
    });
    assert.equal(sink.statusCode, 200, sink.body);
    const spec = lastCall('UpdateAccountAuditLogSink').req.spec as Record<string, unknown>;
    assert.equal(spec.name, 'my-sink');
    assert.equal(spec.sinkType, 'kinesisSink');
    const get = await app.inject({ method: 'GET', url: '/cloud/namespaces/ns-1.acct-2/export-sinks/a%2Fb.c' });
    assert.equal(get.statusCode, 200, get.body);
    assert.equal(lastCall('GetNamespaceExportSink').req.namespace, 'ns-1.acct-2');
    assert.equal(lastCall('GetNamespaceExportSink').req.name, 'a/b.c');
  });

  const expectError = async (opts: InjectOptions, status: number, code: number, message: RegExp) => {
    const res = await app.inject(opts);
    assert.equal(res.statusCode, status, res.body);
    const body = res.json();
    assert.equal(body.code, code);
    assert.match(body.message, message);
    assert.ok(Array.isArray(body.details));
    assert.doesNotMatch(res.body, /at .*\.js:\d+/); // no stack trace
    return body;
  };

  test('501 in grpc-gateway shape for a method without a handler', async () => {
    await expectError({ method: 'GET', url: '/cloud/regions' }, 501, 12, /GetRegions is not implemented/);
  });

  test('AuditError maps to its HTTP status; other errors to a generic 500', async () => {
    const body = await expectError({ method: 'POST', url: '/cloud/namespaces', payload: { spec: { name: '' } } }, 400, 3, /^spec\.name is required$/);
    assert.deepEqual(body.details, [
      { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'AS_ERR_INVALID_ARGUMENT', domain: 'auditstream', metadata: { field: 'spec.name' } },
    ]);
    await expectError({ method: 'DELETE', url: '/cloud/users/u-1' }, 500, 13, /^internal error$/);
  });

  test('400 for malformed JSON, unknown fields, wrong types and bad query parameters', async () => {
    const post = (payload: string) => ({ method: 'POST' as const, url: '/cloud/billing-reports', payload, headers: { 'content-type': 'application/json' } });
    await expectError(post('{"spec": '), 400, 3, /malformed JSON body/);
    await expectError(post('{"spec": {"nmae": "x"}}'), 400, 3, /field spec\.nmae: unknown field/);
    await expectError(post('{"spec": {"granularity": "WEEKLY"}}'), 400, 3, /field spec\.granularity: expected one of/);
    await expectError(post('{"spec": {"start_time_inclusive": "yesterday"}}'), 400, 3, /field spec\.start_time_inclusive: expected an RFC 3339/);
    await expectError(post('{"spec": {"downloadUrlExpirationDuration": 5}}'), 400, 3, /expected a string/);
    await expectError(post('[]'), 400, 3, /expected a JSON object/);
    await expectError({ method: 'GET', url: '/cloud/users?page_sise=5' }, 400, 3, /field page_sise: unknown field/);
    await expectError({ method: 'GET', url: '/cloud/users?page_size=abc' }, 400, 3, /field page_size: expected an integer/);
    await expectError({ method: 'GET', url: '/cloud/users?page_size=1&pageSize=2' }, 400, 3, /given more than once/);
    await expectError({ method: 'GET', url: '/cloud/users/u-1?user_id=u-2' }, 400, 3, /already given by the URL path/);
    await expectError({ method: 'GET', url: '/cloud/namespaces//export-sinks/s' }, 400, 3, /field namespace: is empty in the URL path/);
    await expectError({ method: 'POST', url: '/cloud/billing-reports?async_operation_id=x', payload: {} }, 400, 3, /query parameters are not accepted/);
  });

  test('415 for non-JSON bodies, 404 in the same shape for unknown paths; empty body is an empty message', async () => {
    await expectError(
      { method: 'POST', url: '/cloud/namespaces', payload: 'a=b', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
      415,
      3,
      /unsupported content type/,
    );
    await expectError({ method: 'GET', url: '/cloud/nothing-here' }, 404, 5, /no Cloud API route/);
    const res = await app.inject({ method: 'POST', url: '/cloud/billing-reports', headers: { 'content-type': 'application/json' }, payload: '' });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(lastCall('CreateBillingReport').req.spec, null);
  });

  test('every binding is routed (501 from an app with no handlers)', async () => {
    const bare = Fastify({ logger: false });
    registerCloudHttpRoutes(bare, {});
    await bare.ready();
    try {
      for (const m of cloudMethods) {
        for (const rule of m.httpBindings) {
          const url = rule.path.replace(/\{[^}]+\}/g, 'x.y');
          const res = await bare.inject({ method: rule.method, url, ...(rule.body ? { payload: {} } : {}) });
          assert.equal(res.statusCode, 501, `${m.name} ${rule.method} ${url}: ${res.body}`);
          assert.match(res.json().message, new RegExp(`^${m.name} is not implemented`));
        }
      }
    } finally {
      await bare.close();
    }
  });
});

after(() => tls.cleanup());
