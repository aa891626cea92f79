/**
 * Kinesis against moto_server, through a fault proxy: Verify and STS AssumeRole with the
 * account's ExternalId (recorded, and enforced by moto's IAM). The engine's fault tests (steady
 * delivery, outage, throttling, dead letters, replay, the delete fence, SIGKILL, takeover) run on
 * every kind with a rig, Kinesis among them: test/delivery-faults.test.ts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CreateAccessKeyCommand, CreateRoleCommand, CreateUserCommand, IAMClient, PutRolePolicyCommand, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { createStream, MOTO_ACCOUNT, readStream, startKinesisRig, type KinesisRig, type Moto } from './helpers/moto.js';
import type { FaultProxy } from './helpers/fault-proxy.js';
import type { AuditStore } from '../src/store/store.js';
import { ensureExternalId, verifySink } from '../src/control/sinks-service.js';
import type { AuditLogSinkSpec } from '../src/sinks/spec.js';
import '../src/sinks/index.js';
import { validateEmitted } from '../src/record/schema.js';
import type { KinesisClient } from '@aws-sdk/client-kinesis';

const spec = (name: string, stream: string, roleName = 'auditstream-writer'): AuditLogSinkSpec => ({
  name,
  enabled: true,
  kinesisSink: { roleName, destinationUri: `arn:aws:kinesis:us-east-1:${MOTO_ACCOUNT}:stream/${stream}`, region: 'us-east-1' },
});

describe('kinesis delivery against moto', () => {
  let moto: Moto;
  let proxy: FaultProxy;
  let kinesis: KinesisClient;
  let rig: KinesisRig;
  let store: AuditStore;

  before(async () => {
    rig = await startKinesisRig();
    ({ moto, proxy, kinesis, store } = rig);
  });
  after(() => rig.stop([]));

  it('verify writes one VerifyAuditLogSink record to that stream only, not to the chain', async () => {
    await createStream(kinesis, 'verify-ok');
    await createStream(kinesis, 'verify-other');
    const before = await store.count();
    const res = await verifySink(store, 'acct-verify', spec('v', 'verify-ok'));
    assert.deepEqual({ ok: res.ok }, { ok: true });
    const got = await readStream(kinesis, 'verify-ok');
    assert.equal(got.length, 1);
    assert.equal(got[0]!.json['operation'], 'VerifyAuditLogSink');
    assert.equal(got[0]!.json['category'], 'LOG_CATEGORY_SYSTEM');
    assert.equal(got[0]!.logId, res.logId);
    assert.equal(got[0]!.partitionKey, 'acct-verify');
    assert.deepEqual(validateEmitted(got[0]!.json), { ok: true });
    assert.equal((await readStream(kinesis, 'verify-other')).length, 0);
    assert.equal(await store.count(), before, 'not stored in the chain');
  });

  it('verify names the cause: stream not found, wrong region, endpoint unreachable', async () => {
    const missing = await verifySink(store, 'acct-verify', spec('v', 'no-such-stream'));
    assert.equal(missing.ok, false);
    assert.equal(!missing.ok && missing.cause, 'destination_not_found');
    const wrongRegion = await verifySink(store, 'acct-verify', {
      ...spec('v', 'verify-ok'),
      kinesisSink: { ...spec('v', 'verify-ok').kinesisSink!, region: 'eu-west-1' },
    });
    assert.equal(!wrongRegion.ok && wrongRegion.cause, 'wrong_region');
    assert.match(!wrongRegion.ok ? wrongRegion.message : '', /eu-west-1.*us-east-1/);
    proxy.setMode({ kind: 'down' });
    try {
      const down = await verifySink(store, 'acct-verify-down', spec('v', 'verify-ok'));
      assert.equal(!down.ok && down.cause, 'endpoint_unreachable', JSON.stringify(down));
    } finally {
      proxy.setMode({ kind: 'pass' });
    }
  });

  it('assumes the role with the account ExternalId: recorded, and enforced by moto IAM', async () => {
    const iam = new IAMClient({ endpoint: moto.url, region: 'us-east-1' });
    await createStream(kinesis, 'iam-stream');
    const externalId = await store.transaction((tx) => ensureExternalId(tx, 'acct-iam'));
    await iam.send(new CreateUserCommand({ UserName: 'auditstream' }));
    const key = (await iam.send(new CreateAccessKeyCommand({ UserName: 'auditstream' }))).AccessKey!;
    await iam.send(
      new PutUserPolicyCommand({
        UserName: 'auditstream',
        PolicyName: 'assume',
        PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: '*' }] }),
      }),
    );
    await iam.send(
      new CreateRoleCommand({
        RoleName: 'iam-writer',
        AssumeRolePolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: { AWS: `arn:aws:iam::${MOTO_ACCOUNT}:user/auditstream` },
              Action: 'sts:AssumeRole',
              Condition: { StringEquals: { 'sts:ExternalId': externalId } },
            },
          ],
        }),
      }),
    );
    // moto denies resource-scoped Kinesis statements wrongly under enforcement: "*" here, and
    // least privilege is asserted on the CloudFormation template itself.
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: 'iam-writer',
        PolicyName: 'w',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: ['kinesis:PutRecords', 'kinesis:PutRecord'], Resource: '*' }],
        }),
      }),
    );
    iam.destroy();
    const saved = { id: process.env['AWS_ACCESS_KEY_ID'], secret: process.env['AWS_SECRET_ACCESS_KEY'] };
    process.env['AWS_ACCESS_KEY_ID'] = key.AccessKeyId!;
    process.env['AWS_SECRET_ACCESS_KEY'] = key.SecretAccessKey!;
    const callsBefore = proxy.assumeRoleCalls().length;
    await moto.enforceIam(true);
    try {
      const ok = await verifySink(store, 'acct-iam', spec('main', 'iam-stream', 'iam-writer'));
      assert.equal(ok.ok, true, JSON.stringify(ok));
      // Another account has another ExternalId: the same role refuses it.
      const other = await verifySink(store, 'acct-iam-other', spec('main', 'iam-stream', 'iam-writer'));
      assert.equal(!other.ok && other.cause, 'role_not_assumable', JSON.stringify(other));
    } finally {
      await moto.enforceIam(false);
      process.env['AWS_ACCESS_KEY_ID'] = saved.id;
      process.env['AWS_SECRET_ACCESS_KEY'] = saved.secret;
    }
    const calls = proxy.assumeRoleCalls().slice(callsBefore);
    assert.ok(calls.length >= 2);
    assert.equal(calls[0]!['ExternalId'], externalId);
    assert.equal(calls[0]!['RoleArn'], `arn:aws:iam::${MOTO_ACCOUNT}:role/iam-writer`);
    assert.equal(calls[0]!['RoleSessionName'], 'auditstream-main');
    assert.notEqual(calls.at(-1)!['ExternalId'], externalId);
    assert.equal((await readStream(kinesis, 'iam-stream')).length, 1);
  });
});
