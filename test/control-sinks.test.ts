/**
 * Audit log sinks through the Cloud Ops API handlers (src/control/handlers/sinks.ts) and the
 * `/api/v1/audit-log-sinks/...` extensions (src/control/sink-routes.ts), with a real delivery
 * engine and the real Kinesis adapter writing to moto_server (through the fault proxy, which
 * records AssumeRole calls and can take the endpoint down). Both store engines.
 *
 * - Create: one `UpdateAccount` record naming the sink and the action; the sink starts at the
 *   head, so the first record it delivers is its own creation record.
 * - Get / list: the `AuditLogSink` message (state, health HEALTH_OK or
 *   HEALTH_ERROR_USER_CONFIGURATION with error_message, last_succeeded_time), paging.
 * - Update: pause keeps the cursor, resume delivers everything from it; a stale resource_version
 *   is FAILED_PRECONDITION with one ERROR record; a new destination continues from the cursor.
 * - Spec refusals with precise messages; duplicate names ALREADY_EXISTS.
 * - Validate: success writes one `VerifyAuditLogSink` record (LOG_CATEGORY_SYSTEM, emitted-schema
 *   valid) to the destination and nothing to the chain; failures are FAILED_PRECONDITION naming
 *   the cause (role not assumable — moto with IAM enforcement, see docs/decisions/0020 —, stream not
 *   found, wrong region, endpoint unreachable).
 * - Delete: its own record; once it returns, nothing more reaches the stream.
 * - Idempotent retries by async_operation_id.
 * - /api/v1: status fields, verify, replay of a time range, dead letters, set-up (ExternalId,
 *   quick-create link and template for Kinesis; gcloud commands for Pub/Sub; a 4xx naming the
 *   missing setting otherwise).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { CreateAccessKeyCommand, CreateRoleCommand, CreateUserCommand, IAMClient, PutRolePolicyCommand, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { createFixture, engines, type StoreFixture } from './helpers/stores.js';
import { createControlFixture, type ControlFixture } from './helpers/control.js';
import { makeRecord } from './helpers/records.js';
import { until } from './helpers/fake-sink.js';
import { createStream, isSubsequence, kinesisClient, MOTO_ACCOUNT, readStream, startMoto, useAwsEndpoint, type Moto } from './helpers/moto.js';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';
import { DeliveryEngine } from '../src/delivery/engine.js';
import { sinkRegistry } from '../src/sinks/index.js';
import { sinkByName } from '../src/delivery/sql/sink-by-name.js';
import { createControlPlane } from '../src/control/control-plane.js';
import { ensureExternalId, readExternalId } from '../src/control/sinks-service.js';
import { findCloudMethod } from '../src/api/cloud/proto.js';
import { requestToPlain, responseFromPlain } from '../src/api/cloud/plain.js';
import { buildApp } from '../src/api/app.js';
import { resolveConfig } from '../src/config.js';
import { validateEmitted } from '../src/record/schema.js';
import { isAuditError } from '../src/errors.js';
import { keyIdOfToken } from '../src/control/secrets.js';
import type { CloudRequest, CloudResponse } from '../src/api/cloud/handlers.js';
import type { AuditRecord } from '../src/record/record.js';
import type { AuditStore } from '../src/store/store.js';
import type { FastifyInstance } from 'fastify';

let moto: Moto;
let proxy: FaultProxy;
let kinesis: KinesisClient;

before(async () => {
  moto = await startMoto();
  proxy = await startFaultProxy(moto.url);
  useAwsEndpoint(proxy.url);
  kinesis = kinesisClient(moto.url);
});
after(async () => {
  kinesis?.destroy();
  await proxy?.close();
  await moto?.stop();
});

const arnOf = (stream: string, region = 'us-east-1') => `arn:aws:kinesis:${region}:${MOTO_ACCOUNT}:stream/${stream}`;

function kinesisSpec(name: string, stream: string, over: Record<string, unknown> = {}, enabled = true): CloudRequest {
  return { name, enabled, kinesisSink: { roleName: 'auditstream-writer', destinationUri: arnOf(stream), region: 'us-east-1', ...over } };
}

function pubSubSpec(name: string, over: Record<string, unknown> = {}, enabled = false): CloudRequest {
  return {
    name,
    enabled,
    pubSubSink: { serviceAccountId: 'audit-writer@customer-proj.iam.gserviceaccount.com', topicName: 'audit-logs', gcpProjectId: 'customer-proj', ...over },
  };
}

const codeOf = (err: unknown) => (isAuditError(err) ? err.code : `non-AuditError: ${(err as Error)?.message}`);
const refused = (code: string, re: RegExp) => (err: unknown) => {
  assert.equal(codeOf(err), code, (err as Error).message);
  assert.match((err as Error).message, re);
  return true;
};

interface SinkMsg {
  name: string;
  resourceVersion: string;
  state: string;
  spec: { name: string; enabled: boolean; kinesisSink?: { destinationUri: string; roleName: string; region: string }; pubSubSink?: Record<string, string> };
  health: string;
  errorMessage: string;
  lastSucceededTime?: { seconds: string; nanos: number };
}

interface Status {
  name: string;
  enabled: boolean;
  state: string;
  health: string;
  errorKind: string | null;
  errorMessage: string | null;
  errorSinceMs: number | null;
  lastSuccessMs: number | null;
  cursorSeq: number;
  headSeq: number;
  backlog: number;
  lagMs: number;
  deliveredCount: number;
  deadLetters: number;
  deadLetteredTotal: number;
  expiredUndelivered: number;
  leaseOwner: string | null;
  replays: { id: string; state: string; fromSeq: number; toSeq: number; deliveredCount: number }[];
}

for (const engineName of engines()) {
  describe(`audit log sinks through the Cloud Ops API: ${engineName}`, () => {
    let fx: StoreFixture;
    let store: AuditStore;
    let engine: DeliveryEngine;
    let t: ControlFixture;
    let app: FastifyInstance;
    const stream = (s: string) => `${engineName}-${s}`;

    before(async () => {
      fx = await createFixture(engineName);
      store = await fx.open();
      engine = new DeliveryEngine({
        sinks: sinkRegistry,
        store,
        flushIntervalMs: 50,
        idlePollMs: 200,
        scanIntervalMs: 100,
        leaseTtlMs: 5000,
        backoff: { baseMs: 50, maxMs: 400 },
        fatalBackoff: { baseMs: 100, maxMs: 500 },
      });
      engine.start();
      t = await createControlFixture(store, `owner-${engineName}@example.com`, { delivery: engine });
      app = await buildApp({ store, config: resolveConfig({}), auth: t.control.apiAuth, register: (a) => t.control.registerRoutes(a) });
    });
    after(async () => {
      await app?.close();
      await engine?.stop(2000);
      await store?.close();
      await fx?.destroy();
    });

    /** Calls a handler as the transports do (proto conversion in, encodability of the answer checked). */
    const call = async (rpc: string, req: CloudRequest, actor = t.owner): Promise<CloudResponse> => {
      const method = findCloudMethod(rpc)!;
      const res = await t.call(rpc, requestToPlain(method.requestType, method.requestType.fromObject(req)), actor);
      responseFromPlain(method.responseType, res);
      return res;
    };
    const getSink = async (name: string) => (await call('GetAccountAuditLogSink', { name }))['sink'] as SinkMsg;
    const api = async (method: 'GET' | 'POST', url: string, payload?: Record<string, unknown>) => {
      const res = await app.inject({ method, url, headers: { authorization: `Bearer ${t.owner.apiKey}` }, ...(payload ? { payload } : {}) });
      return { status: res.statusCode, body: res.json() as Record<string, unknown> };
    };
    const status = async (name: string) => {
      const res = await api('GET', `/api/v1/audit-log-sinks/${name}/status`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body as unknown as Status;
    };
    const chain = () => t.records(t.owner.accountId);
    const logIds = async (s: string) => (await readStream(kinesis, s)).map((r) => r.logId);
    /** Records added to the chain by `fn`. */
    const added = async (fn: () => Promise<unknown>): Promise<AuditRecord[]> => {
      const before = await store.count(t.owner.accountId);
      await fn().catch(() => {});
      return (await chain()).slice(before);
    };
    /** A control-plane operation of the owner (an audited record). */
    let users = 0;
    const operate = async () =>
      call('CreateUser', { spec: { email: `invitee-${engineName}-${++users}@example.com`, access: { accountAccess: { role: 'ROLE_READ' } } } });
    const keyId = () => keyIdOfToken(t.owner.apiKey);

    // First, while no sink delivers: IAM enforcement is switched on for the whole moto server.
    it('Validate: role_not_assumable when the role refuses the account ExternalId (moto with IAM enforcement); Success with it', async () => {
      const s = stream('iam');
      await createStream(kinesis, s);
      // The account's ExternalId (created on first use; shown by the set-up page) goes into the role's trust policy.
      const externalId = await store.transaction((tx) => ensureExternalId(tx, t.owner.accountId));
      const iam = new IAMClient({ endpoint: moto.url, region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
      const user = `auditstream-${engineName}`;
      await iam.send(new CreateUserCommand({ UserName: user }));
      const key = (await iam.send(new CreateAccessKeyCommand({ UserName: user }))).AccessKey!;
      await iam.send(
        new PutUserPolicyCommand({
          UserName: user,
          PolicyName: 'assume',
          PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: '*' }] }),
        }),
      );
      const trust = (id: string) =>
        JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: { AWS: `arn:aws:iam::${MOTO_ACCOUNT}:user/${user}` },
              Action: 'sts:AssumeRole',
              Condition: { StringEquals: { 'sts:ExternalId': id } },
            },
          ],
        });
      // moto denies resource-scoped Kinesis statements wrongly under enforcement: "*" here.
      const write = JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: ['kinesis:PutRecords', 'kinesis:PutRecord'], Resource: '*' }],
      });
      for (const [role, id] of [
        [`good-${engineName}`, externalId],
        [`other-${engineName}`, 'the-external-id-of-another-account'],
      ] as const) {
        await iam.send(new CreateRoleCommand({ RoleName: role, AssumeRolePolicyDocument: trust(id) }));
        await iam.send(new PutRolePolicyCommand({ RoleName: role, PolicyName: 'w', PolicyDocument: write }));
      }
      iam.destroy();
      const saved = { id: process.env['AWS_ACCESS_KEY_ID'], secret: process.env['AWS_SECRET_ACCESS_KEY'] };
      process.env['AWS_ACCESS_KEY_ID'] = key.AccessKeyId!;
      process.env['AWS_SECRET_ACCESS_KEY'] = key.SecretAccessKey!;
      const callsBefore = proxy.assumeRoleCalls().length;
      await moto.enforceIam(true);
      try {
        await call('ValidateAccountAuditLogSink', { spec: kinesisSpec('probe', s, { roleName: `good-${engineName}` }) });
        // Only a role that exists: moto (5.x) hands out credentials for a role that does not exist
        // even under enforcement, and then answers PutRecords with an HTML 500 page, where AWS
        // refuses the AssumeRole itself (AccessDenied).
        for (const role of [`other-${engineName}`]) {
          await assert.rejects(
            call('ValidateAccountAuditLogSink', { spec: kinesisSpec('probe', s, { roleName: role }) }),
            refused(
              'AS_ERR_FAILED_PRECONDITION',
              new RegExp(`verification failed \\(role_not_assumable\\): cannot assume role arn:aws:iam::${MOTO_ACCOUNT}:role/${role}.*ExternalId`),
            ),
          );
        }
      } finally {
        await moto.enforceIam(false);
        process.env['AWS_ACCESS_KEY_ID'] = saved.id;
        process.env['AWS_SECRET_ACCESS_KEY'] = saved.secret;
      }
      const calls = proxy.assumeRoleCalls().slice(callsBefore);
      assert.ok(calls.length >= 2);
      assert.ok(
        calls.every((c) => c['ExternalId'] === externalId),
        'every AssumeRole carries the account ExternalId',
      );
      assert.deepEqual(
        (await readStream(kinesis, s)).map((r) => r.json['operation']),
        ['VerifyAuditLogSink'],
      );
    });

    it('Create: one UpdateAccount record naming the sink; the sink starts at the head, so its first delivered record is its own creation', async () => {
      const s = stream('create');
      await createStream(kinesis, s);
      await operate(); // before the sink: never delivered
      const recs = await added(() => call('CreateAccountAuditLogSink', { spec: kinesisSpec('main', s), asyncOperationId: `create-main-${engineName}` }));
      assert.equal(recs.length, 1);
      const r = recs[0]!;
      assert.deepEqual(validateEmitted(r), { ok: true });
      assert.equal(r.operation, 'UpdateAccount');
      assert.equal(r.status, 'OK');
      assert.equal(r.category, 'LOG_CATEGORY_ADMIN');
      assert.equal(r.request_id, `create-main-${engineName}`);
      assert.deepEqual(r.principal, { id: t.owner.userId, type: 'user', name: t.owner.email, api_key_id: keyId() });
      assert.deepEqual(r.details, { sink_name: 'main', search_attribute_update: {}, sink_action: 'create', sink_destination: arnOf(s), sink_enabled: true });
      const after1 = await operate();
      assert.ok(after1['asyncOperation']);
      const ids = (await chain()).slice(-2).map((x) => x.log_id);
      await until(async () => (await logIds(s)).length >= 2, 'delivery', 10_000, 100);
      assert.deepEqual(await logIds(s), ids, 'the creation record first, then what followed; nothing from before');
      const got = await readStream(kinesis, s);
      assert.ok(got.every((x) => x.partitionKey === t.owner.accountId));
    });

    it('Get and list: the AuditLogSink message with state, health and last_succeeded_time; paging', async () => {
      await until(async () => (await getSink('main')).lastSucceededTime !== undefined, 'a success is recorded');
      const sink = await getSink('main');
      assert.equal(sink.name, 'main');
      assert.equal(sink.state, 'RESOURCE_STATE_ACTIVE');
      assert.equal(sink.health, 'HEALTH_OK');
      assert.equal(sink.errorMessage, '');
      assert.match(sink.resourceVersion, /^[0-9a-f]{16}$/);
      assert.deepEqual(sink.spec, kinesisSpec('main', stream('create')));
      const last = Number(sink.lastSucceededTime!.seconds) * 1000;
      assert.ok(Math.abs(Date.now() - last) < 60_000, `last_succeeded_time ${last} is recent`);

      await call('CreateAccountAuditLogSink', { spec: pubSubSpec('paused-ps') });
      await call('CreateAccountAuditLogSink', { spec: kinesisSpec('zz-paused', stream('never'), {}, false) });
      const page1 = await call('GetAccountAuditLogSinks', { pageSize: 2 });
      const page2 = await call('GetAccountAuditLogSinks', { pageSize: 2, pageToken: page1['nextPageToken'] as string });
      assert.deepEqual(
        (page1['sinks'] as SinkMsg[]).map((x) => x.name),
        ['main', 'paused-ps'],
      );
      assert.deepEqual(
        (page2['sinks'] as SinkMsg[]).map((x) => x.name),
        ['zz-paused'],
      );
      assert.equal(page2['nextPageToken'], '');
      const ps = (page1['sinks'] as SinkMsg[])[1]!;
      assert.deepEqual(ps.spec, pubSubSpec('paused-ps'));
      assert.equal(ps.lastSucceededTime, undefined, 'never delivered');
      await assert.rejects(call('GetAccountAuditLogSinks', { pageToken: 'garbage' }), refused('AS_ERR_INVALID_ARGUMENT', /page_token/));
      await assert.rejects(call('GetAccountAuditLogSink', { name: 'absent' }), refused('AS_ERR_NOT_FOUND', /audit log sink absent not found/));
      for (const name of ['paused-ps', 'zz-paused']) await call('DeleteAccountAuditLogSink', { name });
    });

    it('health: a stream that does not exist is HEALTH_ERROR_USER_CONFIGURATION with the cause; status agrees', async () => {
      await call('CreateAccountAuditLogSink', { spec: kinesisSpec('broken', stream('does-not-exist')) });
      await until(async () => (await getSink('broken')).health !== 'HEALTH_OK', 'error health', 10_000, 100);
      const sink = await getSink('broken');
      assert.equal(sink.health, 'HEALTH_ERROR_USER_CONFIGURATION');
      assert.match(sink.errorMessage, /stream not found: ResourceNotFoundException/);
      const st = await status('broken');
      assert.equal(st.health, 'error');
      assert.equal(st.errorKind, 'user_configuration');
      assert.ok(st.errorSinceMs !== null && st.errorSinceMs <= Date.now());
      assert.ok(st.backlog >= 1, 'its creation record waits');
      assert.equal(st.lastSuccessMs, null);
      await call('DeleteAccountAuditLogSink', { name: 'broken' });
    });

    it('Update: pause keeps the cursor (nothing arrives), resume delivers everything from it; a stale resource_version is FAILED_PRECONDITION with one ERROR record', async () => {
      const s = stream('create');
      await until(async () => (await status('main')).backlog === 0, 'caught up');
      const cursor = (await status('main')).cursorSeq;
      const delivered = (await logIds(s)).length;
      const v1 = (await getSink('main')).resourceVersion;
      const pause = await added(() => call('UpdateAccountAuditLogSink', { spec: kinesisSpec('main', s, {}, false), resourceVersion: v1 }));
      assert.equal(pause.length, 1);
      assert.deepEqual(pause[0]!.details, {
        sink_name: 'main',
        search_attribute_update: {},
        sink_action: 'update',
        sink_destination: arnOf(s),
        sink_enabled: false,
      });
      for (let i = 0; i < 3; i++) await operate();
      await new Promise((r) => setTimeout(r, 700));
      assert.equal((await logIds(s)).length, delivered, 'nothing arrives while paused');
      const st = await status('main');
      assert.equal(st.enabled, false);
      assert.equal(st.cursorSeq, cursor, 'the cursor is kept');
      assert.equal(st.backlog, 4);
      const sink = await getSink('main');
      assert.equal(sink.spec.enabled, false);
      assert.notEqual(sink.resourceVersion, v1);

      // Stale version: refused, one ERROR record, nothing changed.
      const stale = await added(() =>
        assert.rejects(
          call('UpdateAccountAuditLogSink', { spec: kinesisSpec('main', s), resourceVersion: v1 }),
          refused('AS_ERR_FAILED_PRECONDITION', /modified since resource_version/),
        ),
      );
      assert.equal(stale.length, 1);
      assert.equal(stale[0]!.status, 'ERROR');
      assert.equal(stale[0]!.level, 'LOG_LEVEL_ERROR');
      assert.equal(stale[0]!.operation, 'UpdateAccount');
      assert.equal(stale[0]!.details['sink_name'], 'main');
      assert.match(String(stale[0]!.details['reason']), /^AS_ERR_FAILED_PRECONDITION: /);
      assert.deepEqual(validateEmitted(stale[0]!), { ok: true });
      assert.equal((await getSink('main')).spec.enabled, false);
      assert.equal((await getSink('main')).resourceVersion, sink.resourceVersion);

      // Resume: everything from the cursor on, in order, once.
      await call('UpdateAccountAuditLogSink', { spec: kinesisSpec('main', s), resourceVersion: sink.resourceVersion });
      const all = (await chain()).map((r) => r.log_id);
      await until(async () => (await logIds(s)).includes(all.at(-1)!), 'resumed delivery', 10_000, 100);
      const got = await logIds(s);
      const first = all.indexOf(got[0]!);
      assert.deepEqual(got, all.slice(first), 'every record from the creation on, in chain order, each once (the ERROR record too)');
    });

    it('Update: a new destination continues from the cursor', async () => {
      const s1 = stream('create');
      const s2 = stream('moved');
      await createStream(kinesis, s2);
      await until(async () => (await status('main')).backlog === 0, 'caught up');
      const before = (await logIds(s1)).length;
      await call('UpdateAccountAuditLogSink', { spec: kinesisSpec('main', s2) });
      await operate();
      const all = (await chain()).map((r) => r.log_id);
      await until(async () => (await logIds(s2)).includes(all.at(-1)!), 'delivery to the new stream', 10_000, 100);
      assert.deepEqual(await logIds(s2), all.slice(-2), 'the update record and what followed');
      assert.equal((await logIds(s1)).length, before, 'nothing more to the old stream');
    });

    it('spec refusals name the field and the rule; a duplicate name is ALREADY_EXISTS; each leaves one ERROR record', async () => {
      const cases: [CloudRequest, string, RegExp][] = [
        [
          kinesisSpec('bad-arn', 'x', { destinationUri: 'arn:aws:kinesis:us-east-1:1234:stream/x' }),
          'AS_ERR_INVALID_ARGUMENT',
          /destination_uri "arn:aws:kinesis:us-east-1:1234:stream\/x" is not a Kinesis stream ARN: the account id "1234" must be 12 digits/,
        ],
        [kinesisSpec('bad-arn', 'x', { destinationUri: 'my-stream' }), 'AS_ERR_INVALID_ARGUMENT', /destination_uri "my-stream" is not a Kinesis stream ARN/],
        [
          kinesisSpec('bad-region', 'x', { region: 'eu-west-1' }),
          'AS_ERR_INVALID_ARGUMENT',
          /region "eu-west-1" does not match the stream ARN's region "us-east-1"/,
        ],
        [kinesisSpec('bad-role', 'x', { roleName: `arn:aws:iam::${MOTO_ACCOUNT}:role/w` }), 'AS_ERR_INVALID_ARGUMENT', /role_name must be the role's name/],
        [pubSubSpec('bad-topic', { topicName: 'projects/customer-proj/topics/audit' }), 'AS_ERR_INVALID_ARGUMENT', /topic_name must be the short topic id/],
        [pubSubSpec('bad-topic', { topicName: 'goog-audit' }), 'AS_ERR_INVALID_ARGUMENT', /topic_name "goog-audit" must not start with "goog"/],
        [pubSubSpec('bad-project', { gcpProjectId: 'Customer_Proj' }), 'AS_ERR_INVALID_ARGUMENT', /gcp_project_id "Customer_Proj" is not a GCP project id/],
        [
          pubSubSpec('bad-sa', { serviceAccountId: 'someone@gmail.com' }),
          'AS_ERR_INVALID_ARGUMENT',
          /service_account_id "someone@gmail.com" is not a service account email/,
        ],
        [{ ...kinesisSpec('bad name', 'x') }, 'AS_ERR_INVALID_ARGUMENT', /spec.name "bad name" must be 1-64/],
        [{ name: 'nowhere', enabled: true }, 'AS_ERR_INVALID_ARGUMENT', /one of kinesis_sink or pub_sub_sink/],
        [kinesisSpec('main', 'x'), 'AS_ERR_ALREADY_EXISTS', /an audit log sink named main already exists/],
      ];
      const sinksBefore = JSON.stringify(
        await store.sql.all('SELECT id, spec_json, resource_version FROM audit_log_sinks WHERE account_id = ? ORDER BY id', [t.owner.accountId]),
      );
      for (const [spec, code, re] of cases) {
        const recs = await added(() => assert.rejects(call('CreateAccountAuditLogSink', { spec }), refused(code, re)));
        assert.equal(recs.length, 1, `${JSON.stringify(spec)}: one ERROR record`);
        assert.equal(recs[0]!.status, 'ERROR');
        assert.equal(recs[0]!.operation, 'UpdateAccount');
        assert.equal(recs[0]!.details['sink_action'], 'create');
        assert.ok(String(recs[0]!.details['reason']).startsWith(`${code}: `));
        assert.deepEqual(validateEmitted(recs[0]!), { ok: true });
      }
      // Update and delete of a sink that does not exist.
      await assert.rejects(
        call('UpdateAccountAuditLogSink', { spec: kinesisSpec('ghost', 'x') }),
        refused('AS_ERR_NOT_FOUND', /audit log sink ghost not found/),
      );
      await assert.rejects(call('DeleteAccountAuditLogSink', { name: 'ghost' }), refused('AS_ERR_NOT_FOUND', /audit log sink ghost not found/));
      await assert.rejects(call('DeleteAccountAuditLogSink', { name: '' }), refused('AS_ERR_INVALID_ARGUMENT', /name is required/));
      const sinksAfter = JSON.stringify(
        await store.sql.all('SELECT id, spec_json, resource_version FROM audit_log_sinks WHERE account_id = ? ORDER BY id', [t.owner.accountId]),
      );
      assert.equal(sinksAfter, sinksBefore, 'no refusal changed a sink');
    });

    it('Validate: Success writes exactly one VerifyAuditLogSink record to that destination and nothing to the chain', async () => {
      const s = stream('verify');
      await createStream(kinesis, s);
      const count = await store.count(t.owner.accountId);
      const res = await call('ValidateAccountAuditLogSink', { spec: kinesisSpec('probe', s) });
      assert.deepEqual(res, {});
      const got = await readStream(kinesis, s);
      assert.equal(got.length, 1);
      const r = got[0]!.json;
      assert.deepEqual(validateEmitted(r), { ok: true });
      assert.equal(r['operation'], 'VerifyAuditLogSink');
      assert.equal(r['category'], 'LOG_CATEGORY_SYSTEM');
      assert.equal(r['status'], 'OK');
      assert.equal(r['user_email'], t.owner.email);
      assert.deepEqual((r['principal'] as Record<string, unknown>)['id'], t.owner.userId);
      assert.deepEqual(r['details'], { sink_name: 'probe', search_attribute_update: {} });
      assert.equal(got[0]!.partitionKey, t.owner.accountId);
      assert.equal(await store.count(t.owner.accountId), count, 'not stored in the chain (and a read: not audited)');
      assert.equal((await chain()).filter((x) => x.log_id === r['log_id']).length, 0);
    });

    it('Validate: failures are FAILED_PRECONDITION naming the cause (stream not found, wrong region, endpoint unreachable); a malformed spec is INVALID_ARGUMENT', async () => {
      const s = stream('verify');
      const count = await store.count(t.owner.accountId);
      await assert.rejects(
        call('ValidateAccountAuditLogSink', { spec: kinesisSpec('probe', stream('missing')) }),
        refused('AS_ERR_FAILED_PRECONDITION', /^verification failed \(destination_not_found\): the Kinesis stream was not found/),
      );
      // The stream exists in us-east-1 only: named in us-west-2 it is not there.
      await assert.rejects(
        call('ValidateAccountAuditLogSink', { spec: kinesisSpec('probe', s, { destinationUri: arnOf(s, 'us-west-2'), region: 'us-west-2' }) }),
        refused('AS_ERR_FAILED_PRECONDITION', /^verification failed \(destination_not_found\)/),
      );
      await assert.rejects(
        call('ValidateAccountAuditLogSink', { spec: kinesisSpec('probe', s, { region: 'us-west-2' }) }),
        refused(
          'AS_ERR_FAILED_PRECONDITION',
          /^verification failed \(wrong_region\): spec.kinesis_sink.region "us-west-2" does not match the stream ARN's region "us-east-1"/,
        ),
      );
      await assert.rejects(
        call('ValidateAccountAuditLogSink', { spec: kinesisSpec('probe', s, { destinationUri: 'arn:aws:kinesis:us-east-1:1234:stream/x' }) }),
        refused('AS_ERR_INVALID_ARGUMENT', /^verification failed \(invalid_spec\): .*must be 12 digits/),
      );
      proxy.setMode({ kind: 'down' });
      try {
        await assert.rejects(
          call('ValidateAccountAuditLogSink', { spec: kinesisSpec('probe', s) }),
          refused('AS_ERR_FAILED_PRECONDITION', /^verification failed \(endpoint_unreachable\): /),
        );
      } finally {
        proxy.setMode({ kind: 'pass' });
      }
      assert.equal((await readStream(kinesis, s)).length, 1, 'only the earlier successful probe');
      assert.equal(await store.count(t.owner.accountId), count, 'reads: nothing in the chain');
    });

    it('idempotent retries: the same async_operation_id returns the first answer and adds nothing; with another request it is INVALID_ARGUMENT', async () => {
      const s = stream('retry');
      await createStream(kinesis, s);
      const op = `retry-create-${engineName}`;
      const first = await call('CreateAccountAuditLogSink', { spec: kinesisSpec('retried', s), asyncOperationId: op });
      const again = await added(async () =>
        assert.deepEqual(await call('CreateAccountAuditLogSink', { spec: kinesisSpec('retried', s), asyncOperationId: op }), first),
      );
      assert.deepEqual(again, []);
      const other = await added(() =>
        assert.rejects(
          call('CreateAccountAuditLogSink', { spec: kinesisSpec('retried-2', s), asyncOperationId: op }),
          refused('AS_ERR_INVALID_ARGUMENT', /already used for a different request/),
        ),
      );
      assert.equal(other.length, 1);
      await assert.rejects(call('GetAccountAuditLogSink', { name: 'retried-2' }), refused('AS_ERR_NOT_FOUND', /not found/));
      const v = (await getSink('retried')).resourceVersion;
      const upd = { spec: kinesisSpec('retried', s, {}, false), resourceVersion: v, asyncOperationId: `retry-update-${engineName}` };
      const u1 = await call('UpdateAccountAuditLogSink', upd);
      // The retry carries the old resource_version: still the first answer, not a conflict.
      assert.deepEqual(await added(async () => assert.deepEqual(await call('UpdateAccountAuditLogSink', upd), u1)), []);
      const del = { name: 'retried', asyncOperationId: `retry-delete-${engineName}` };
      const d1 = await call('DeleteAccountAuditLogSink', del);
      assert.deepEqual(await added(async () => assert.deepEqual(await call('DeleteAccountAuditLogSink', del), d1)), []);
      await assert.rejects(call('GetAccountAuditLogSink', { name: 'retried' }), refused('AS_ERR_NOT_FOUND', /not found/));
    });

    it('Delete while the delivering process is dead: STATE_IN_PROGRESS at once, FULFILLED (sink gone) when its lease has expired', async () => {
      const s = stream('orphaned');
      await createStream(kinesis, s);
      await call('CreateAccountAuditLogSink', { spec: kinesisSpec('orphaned', s, {}, false) });
      const row = (await sinkByName(store.sql, t.owner.accountId, 'orphaned'))!;
      // A process claimed it and died: its lease runs 2.5 s more. A control plane that waits 300 ms.
      const leased = await store.transaction((tx) =>
        tx.run("UPDATE audit_log_sinks SET lease_owner = 'dead-process', lease_expires_ms = ?, fence = fence + 1 WHERE id = ?", [Date.now() + 2500, row.id]),
      );
      assert.equal(leased.changes, 1);
      const impatient = createControlPlane({
        store,
        config: resolveConfig({}),
        delivery: { sinksChanged: (a) => engine.sinksChanged(a), leaseTtlMs: 5000, deleteWaitMs: 300 },
      });
      const del = { name: 'orphaned', asyncOperationId: `orphan-delete-${engineName}` };
      const viaImpatient = (req: CloudRequest) =>
        impatient.handlers['DeleteAccountAuditLogSink']!(req, {
          method: 'DeleteAccountAuditLogSink',
          transport: 'grpc',
          authorization: `Bearer ${t.owner.apiKey}`,
          headers: {},
          peer: '10.0.0.1',
          forwardedFor: '',
        });
      const t0 = Date.now();
      const first = (await viaImpatient(del))['asyncOperation'] as CloudResponse;
      assert.ok(Date.now() - t0 < 2000, 'answered without waiting for the lease');
      assert.equal(first['state'], 'STATE_IN_PROGRESS');
      assert.equal(first['finishedTime'], undefined);
      const opOf = async () => ((await call('GetAsyncOperation', { asyncOperationId: del.asyncOperationId }))['asyncOperation'] as CloudResponse)['state'];
      assert.equal(await opOf(), 'STATE_IN_PROGRESS');
      assert.equal((await getSink('orphaned')).state, 'RESOURCE_STATE_DELETING');
      // The engine's claim round removes it once the dead lease expired, and the operation is done.
      await until(async () => (await opOf()) === 'STATE_FULFILLED', 'the delete completes', 15_000, 100);
      assert.ok(Date.now() - t0 >= 2400, 'not before the dead lease expired');
      await assert.rejects(call('GetAccountAuditLogSink', { name: 'orphaned' }), refused('AS_ERR_NOT_FOUND', /not found/));
      // A retry of the same operation now answers FULFILLED and adds no record.
      const again = await added(async () => assert.equal(((await viaImpatient(del))['asyncOperation'] as CloudResponse)['state'], 'STATE_FULFILLED'));
      assert.deepEqual(again, []);
    });

    it('/api/v1 status, verify and dead letters of an existing sink', async () => {
      const s = stream('moved');
      await until(async () => (await status('main')).backlog === 0, 'caught up');
      const st = await status('main');
      const head = (await store.chainHead(t.owner.accountId))!;
      assert.equal(st.name, 'main');
      assert.equal(st.enabled, true);
      assert.equal(st.state, 'active');
      assert.equal(st.health, 'ok');
      assert.equal(st.errorKind, null);
      assert.equal(st.errorMessage, null);
      assert.equal(st.cursorSeq, Number(head.seq));
      assert.equal(st.headSeq, Number(head.seq));
      assert.equal(st.backlog, 0);
      assert.equal(st.lagMs, 0);
      assert.ok(st.deliveredCount >= 8, `delivered ${st.deliveredCount}`);
      assert.equal(st.deadLetters, 0);
      assert.equal(st.deadLetteredTotal, 0);
      assert.equal(st.expiredUndelivered, 0);
      assert.equal(st.leaseOwner, engine.owner);
      assert.ok(st.lastSuccessMs !== null && Date.now() - st.lastSuccessMs < 60_000);

      const before = await store.count(t.owner.accountId);
      const v = await api('POST', '/api/v1/audit-log-sinks/main/verify', {});
      assert.equal(v.status, 200);
      assert.equal(v.body['status'], 'Success');
      const got = await readStream(kinesis, s);
      assert.equal(got.at(-1)!.logId, v.body['log_id']);
      assert.equal(got.at(-1)!.json['operation'], 'VerifyAuditLogSink');
      assert.equal(await store.count(t.owner.accountId), before);

      const dl = await api('GET', '/api/v1/audit-log-sinks/main/dead-letters');
      assert.deepEqual(dl, { status: 200, body: { dead_letters: [] } });
      const dlr = await api('POST', '/api/v1/audit-log-sinks/main/dead-letters/replay', {});
      assert.deepEqual(dlr, { status: 200, body: { replay_id: null } });
      for (const path of ['status', 'dead-letters', 'setup']) assert.equal((await api('GET', `/api/v1/audit-log-sinks/nothing/${path}`)).status, 404);
      assert.equal((await api('POST', '/api/v1/audit-log-sinks/nothing/verify', {})).status, 404);
    });

    it('/api/v1 replay re-delivers the records stored in a time range, after the live ones; audited; bad windows refused', async () => {
      const s = stream('moved');
      await until(async () => (await status('main')).backlog === 0, 'caught up');
      await new Promise((r) => setTimeout(r, 5));
      const from = Date.now();
      await new Promise((r) => setTimeout(r, 5));
      const window = [makeRecord(), makeRecord(), makeRecord()];
      await store.append({ accountId: t.owner.accountId, records: window, ingestedBy: null });
      await new Promise((r) => setTimeout(r, 5));
      const to = Date.now();
      await new Promise((r) => setTimeout(r, 5));
      const later = makeRecord();
      await store.append({ accountId: t.owner.accountId, records: [later], ingestedBy: null });
      engine.notify(t.owner.accountId);
      await until(async () => (await logIds(s)).includes(later.log_id), 'live delivery', 10_000, 100);
      const windowIds = window.map((r) => r.log_id);

      const recs = await added(async () => {
        const res = await api('POST', '/api/v1/audit-log-sinks/main/replay', { since: new Date(from).toISOString(), until: new Date(to).toISOString() });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.match(String(res.body['replay_id']), /^rpl_/);
        assert.equal(res.body['state'], 'pending');
        assert.equal(Number(res.body['to_seq']) - Number(res.body['from_seq']), 2);
      });
      assert.equal(recs.length, 1);
      assert.equal(recs[0]!.operation, 'UpdateAccount');
      assert.equal(recs[0]!.details['sink_name'], 'main');
      assert.equal(recs[0]!.details['sink_action'], 'replay');
      assert.equal(recs[0]!.details['replay_from'], new Date(from).toISOString());
      await until(async () => (await status('main')).replays[0]?.state === 'done', 'replay done', 10_000, 100);
      const got = await logIds(s);
      assert.deepEqual(got.slice(-3), windowIds, 'the window again, in order, after the live records');
      for (const id of windowIds) assert.equal(got.filter((x) => x === id).length, 2);
      assert.ok(isSubsequence([...windowIds, later.log_id, recs[0]!.log_id, ...windowIds], got));
      assert.equal(got.filter((x) => x === later.log_id).length, 1, 'outside the window: not replayed');
      const st = await status('main');
      assert.equal(st.replays[0]!.deliveredCount, 3);

      // Refusals: each one ERROR record.
      for (const [body, re] of [
        [{}, /since is required/],
        [{ since: 'last tuesday' }, /since must be RFC 3339/],
        [{ since: '1h', until: '2h' }, /replay window must have from < to/],
      ] as const) {
        const bad = await added(async () => {
          const res = await api('POST', '/api/v1/audit-log-sinks/main/replay', body);
          assert.equal(res.status, 400, JSON.stringify(res.body));
          assert.match(String((res.body['error'] as { message: string }).message), re);
        });
        assert.equal(bad.length, 1);
        assert.equal(bad[0]!.status, 'ERROR');
        assert.equal(bad[0]!.details['sink_action'], 'replay');
      }
      const missing = await api('POST', '/api/v1/audit-log-sinks/nothing/replay', { since: '1h' });
      assert.equal(missing.status, 404);
    });

    it('/api/v1 setup: Kinesis ExternalId, quick-create link and template; Pub/Sub gcloud commands; a clear 4xx when the operator settings are missing', async () => {
      await call('CreateAccountAuditLogSink', { spec: pubSubSpec('ps-setup') });
      // The operator settings are configuration: a second app over the same store has them.
      const settings = {
        AUDITSTREAM_AWS_PRINCIPAL_ARN: 'arn:aws:iam::999988887777:role/auditstream',
        AUDITSTREAM_CFN_TEMPLATE_URL: 'https://example-bucket.s3.amazonaws.com/auditstream-kinesis-role.json',
        AUDITSTREAM_GCP_SERVICE_ACCOUNT: 'auditstream@operator-proj.iam.gserviceaccount.com',
      };
      const configured = createControlPlane({ store, config: resolveConfig(settings), delivery: engine });
      const app2 = await buildApp({ store, config: resolveConfig(settings), auth: configured.apiAuth, register: (a) => configured.registerRoutes(a) });
      const api2 = async (url: string) => {
        const res = await app2.inject({ method: 'GET', url, headers: { authorization: `Bearer ${t.owner.apiKey}` } });
        return { status: res.statusCode, body: res.json() as Record<string, unknown> };
      };
      try {
        const noAws = await api('GET', '/api/v1/audit-log-sinks/main/setup');
        assert.equal(noAws.status, 409);
        assert.match(String((noAws.body['error'] as { message: string }).message), /AUDITSTREAM_AWS_PRINCIPAL_ARN is not set/);
        const noGcp = await api('GET', '/api/v1/audit-log-sinks/ps-setup/setup');
        assert.equal(noGcp.status, 409);
        assert.match(String((noGcp.body['error'] as { message: string }).message), /AUDITSTREAM_GCP_SERVICE_ACCOUNT is not set/);

        const k = await api2('/api/v1/audit-log-sinks/main/setup');
        assert.equal(k.status, 200, JSON.stringify(k.body));
        const externalId = await readExternalId(store.sql, t.owner.accountId);
        assert.equal(k.body['kind'], 'kinesis');
        assert.equal(k.body['external_id'], externalId);
        assert.deepEqual(k.body['parameters'], {
          ExternalId: externalId,
          StreamArn: arnOf(stream('moved')),
          RoleName: 'auditstream-writer',
          AuditstreamPrincipalArn: 'arn:aws:iam::999988887777:role/auditstream',
          KmsKeyArn: '',
        });
        const url = new URL(String(k.body['quick_create_url']));
        assert.equal(url.host, 'console.aws.amazon.com');
        assert.equal(url.searchParams.get('region'), 'us-east-1');
        const q = new URLSearchParams(url.hash.split('?')[1]);
        assert.equal(q.get('templateURL'), settings.AUDITSTREAM_CFN_TEMPLATE_URL);
        assert.equal(q.get('param_ExternalId'), externalId);
        assert.equal(q.get('param_StreamArn'), arnOf(stream('moved')));
        const template = JSON.parse(String(k.body['template'])) as { Parameters: Record<string, unknown>; Resources: Record<string, unknown> };
        assert.ok(template.Parameters['ExternalId'] && template.Parameters['StreamArn'] && template.Parameters['RoleName']);
        assert.equal(k.body['template_file_name'], 'auditstream-kinesis-role.json');

        const p = await api2('/api/v1/audit-log-sinks/ps-setup/setup');
        assert.equal(p.status, 200, JSON.stringify(p.body));
        assert.equal(p.body['kind'], 'pubsub');
        assert.equal(p.body['service_account'], 'auditstream@operator-proj.iam.gserviceaccount.com');
        const texts = (p.body['commands'] as { text: string; required: boolean }[]).map((c) => c.text);
        assert.ok(
          texts.some(
            (x) =>
              x.includes('service-accounts add-iam-policy-binding audit-writer@customer-proj.iam.gserviceaccount.com') &&
              x.includes('--member=serviceAccount:auditstream@operator-proj.iam.gserviceaccount.com') &&
              x.includes('roles/iam.serviceAccountTokenCreator'),
          ),
          texts.join('\n'),
        );
        assert.ok(
          texts.some(
            (x) =>
              x.includes('pubsub topics add-iam-policy-binding audit-logs') && x.includes('--project=customer-proj') && x.includes('roles/pubsub.publisher'),
          ),
          texts.join('\n'),
        );
      } finally {
        await app2.close();
        await call('DeleteAccountAuditLogSink', { name: 'ps-setup' });
      }
    });

    it('Delete: its own UpdateAccount record; once it returns nothing more reaches the stream, even mid-send', async () => {
      const s = stream('moved');
      proxy.setMode({ kind: 'delay', ms: 300 });
      let writing = true;
      const writer = (async () => {
        while (writing) {
          await store.append({ accountId: t.owner.accountId, records: [makeRecord(), makeRecord()], ingestedBy: null });
          engine.notify(t.owner.accountId);
          await new Promise((r) => setTimeout(r, 30));
        }
      })();
      try {
        const forwardedPuts = () => proxy.calls.filter((c) => c.action.endsWith('PutRecords') && c.forwardedAt !== undefined).length;
        const putsBefore = forwardedPuts();
        await until(() => forwardedPuts() > putsBefore, 'sends under way', 10_000);
        await new Promise((r) => setTimeout(r, 150)); // very likely mid-send now
        const recs = await added(() => call('DeleteAccountAuditLogSink', { name: 'main' }));
        const done = Date.now();
        const count = (await readStream(kinesis, s)).length;
        const del = recs.find((r) => r.operation === 'UpdateAccount' && r.details['sink_action'] === 'delete');
        assert.ok(del, 'its own record');
        assert.equal(del.status, 'OK');
        assert.deepEqual(del.details, { sink_name: 'main', search_attribute_update: {}, sink_action: 'delete' });
        await new Promise((r) => setTimeout(r, 900));
        assert.equal((await readStream(kinesis, s)).length, count, 'no record arrived after the delete returned');
        assert.deepEqual(
          proxy.calls.filter((c) => c.action.endsWith('PutRecords') && c.forwardedAt !== undefined && c.forwardedAt > done),
          [],
        );
        assert.ok(!(await logIds(s)).includes(del.log_id), 'its own delete record is never delivered');
      } finally {
        writing = false;
        await writer;
        proxy.setMode({ kind: 'pass' });
      }
      await assert.rejects(call('GetAccountAuditLogSink', { name: 'main' }), refused('AS_ERR_NOT_FOUND', /not found/));
      assert.deepEqual((await call('GetAccountAuditLogSinks', {}))['sinks'], []);
      assert.equal((await api('GET', '/api/v1/audit-log-sinks/main/status')).status, 404);
      // The name is free again; a new sink starts at the new head.
      await createStream(kinesis, stream('reborn'));
      await call('CreateAccountAuditLogSink', { spec: kinesisSpec('main', stream('reborn')) });
      const last = (await chain()).at(-1)!;
      await until(async () => (await logIds(stream('reborn'))).length >= 1, 'the new sink delivers', 10_000, 100);
      assert.deepEqual(await logIds(stream('reborn')), [last.log_id]);
      await call('DeleteAccountAuditLogSink', { name: 'main' });
    });
  });
}
