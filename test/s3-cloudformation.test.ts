/**
 * The CloudFormation template of the S3 set-up: cfn-lint passes, least privilege holds on the
 * template itself (moto's CloudFormation stores inline policies oddly), and a stack deployed on
 * moto gives a role that can be assumed only with the account's ExternalId and that auditstream
 * then writes objects through.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CloudFormationClient, CreateStackCommand, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CreateAccessKeyCommand, CreateUserCommand, GetRoleCommand, IAMClient, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { s3CloudFormationTemplate, s3TemplateObject, S3_KMS_ACTIONS, S3_VERIFY_ACTIONS, S3_WRITE_ACTIONS } from '../src/sinks/s3/template.js';
import { MOTO_ACCOUNT, startMoto, useAwsEndpoint, type Moto } from './helpers/moto.js';
import { checkObjects, createBucket, readObjects, s3Client, storedRecords } from './helpers/s3.js';
import { cfnLint } from './helpers/cfn.js';
import { createFixture, type StoreFixture } from './helpers/stores.js';
import { makeRecord } from './helpers/records.js';
import { until } from './helpers/fake-sink.js';
import { createSink, ensureExternalId } from '../src/control/sinks-service.js';
import { DeliveryEngine } from '../src/delivery/engine.js';
import { sinkRegistry } from '../src/sinks/index.js';
import type { SinkDriver } from '../src/sinks/driver.js';
import type { S3SinkSpec } from '../src/sinks/s3/spec.js';

type Json = Record<string, unknown>;

describe('S3 CloudFormation template', () => {
  it('passes cfn-lint', async () => {
    const out = await cfnLint(s3CloudFormationTemplate());
    assert.equal(out.code, 0, out.text);
  });

  it('grants least privilege: trust only the principal with the ExternalId; PutObject on the prefix, DeleteObject on verify objects, KMS only when set', () => {
    const t = s3TemplateObject() as Json;
    const resources = t['Resources'] as Record<string, Json>;
    assert.deepEqual(Object.keys(resources), ['AuditstreamWriterRole']);
    const props = resources['AuditstreamWriterRole']!['Properties'] as Json;
    assert.deepEqual((props['AssumeRolePolicyDocument'] as { Statement: Json[] }).Statement, [
      {
        Effect: 'Allow',
        Principal: { AWS: { Ref: 'AuditstreamPrincipalArn' } },
        Action: 'sts:AssumeRole',
        Condition: { StringEquals: { 'sts:ExternalId': { Ref: 'ExternalId' } } },
      },
    ]);
    const policies = props['Policies'] as { PolicyDocument: { Statement: Json[] } }[];
    assert.equal(policies.length, 1);
    const [write, del, kms] = policies[0]!.PolicyDocument.Statement as [Json, Json, Json];
    assert.deepEqual(write, {
      Sid: 'WriteAuditLogObjects',
      Effect: 'Allow',
      Action: [...S3_WRITE_ACTIONS],
      Resource: { 'Fn::Sub': 'arn:${AWS::Partition}:s3:::${BucketName}/${Prefix}/*' },
    });
    assert.deepEqual(S3_WRITE_ACTIONS, ['s3:PutObject']);
    assert.deepEqual(del, {
      Sid: 'DeleteVerifyObjects',
      Effect: 'Allow',
      Action: [...S3_VERIFY_ACTIONS],
      Resource: { 'Fn::Sub': 'arn:${AWS::Partition}:s3:::${BucketName}/${Prefix}/_auditstream-verify/*' },
    });
    assert.deepEqual(kms, {
      'Fn::If': [
        'HasKmsKey',
        { Sid: 'EncryptWithBucketKey', Effect: 'Allow', Action: [...S3_KMS_ACTIONS], Resource: { Ref: 'KmsKeyArn' } },
        { Ref: 'AWS::NoValue' },
      ],
    });
    // No wildcard action, no bucket-level or read permission anywhere.
    const text = JSON.stringify(policies);
    assert.ok(!/"s3:\*"|GetObject|ListBucket|"\*"/.test(text), text);
  });

  describe('deployed on moto', () => {
    let moto: Moto;
    let fx: StoreFixture;
    before(async () => {
      moto = await startMoto();
      useAwsEndpoint(moto.url);
      fx = await createFixture('sqlite');
    });
    after(async () => {
      await fx.destroy();
      await moto.stop();
    });

    it('creates a role assumable only with the ExternalId, and delivers objects through it', async () => {
      const store = await fx.open();
      const engine = new DeliveryEngine({ sinks: sinkRegistry, store, batchWindowMs: 100, scanIntervalMs: 100, leaseTtlMs: 5000 });
      const iam = new IAMClient({ region: 'us-east-1' });
      const s3 = s3Client(moto.url);
      try {
        await createBucket(s3, 'cfn-bucket');
        const externalId = await store.transaction((tx) => ensureExternalId(tx, 'acct-cfn'));
        await iam.send(new CreateUserCommand({ UserName: 'auditstream-cfn' }));
        const key = (await iam.send(new CreateAccessKeyCommand({ UserName: 'auditstream-cfn' }))).AccessKey!;
        await iam.send(
          new PutUserPolicyCommand({
            UserName: 'auditstream-cfn',
            PolicyName: 'assume',
            PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: '*' }] }),
          }),
        );
        const spec: S3SinkSpec = { bucket: 'cfn-bucket', prefix: 'audit/cfn', region: 'us-east-1', awsAccountId: MOTO_ACCOUNT, roleName: 'cfn-s3-writer' };
        const driver = sinkRegistry.byKind('s3') as unknown as SinkDriver<S3SinkSpec>;
        const setup = await driver.setup(spec, 'lake', {
          externalId: () => Promise.resolve(externalId),
          settings: { awsPrincipalArn: `arn:aws:iam::${MOTO_ACCOUNT}:user/auditstream-cfn`, cfnTemplateUrl: undefined, gcpServiceAccount: undefined },
        });
        assert.equal(setup['external_id'], externalId);
        const cfn = new CloudFormationClient({ region: 'us-east-1' });
        await cfn.send(
          new CreateStackCommand({
            StackName: 'auditstream-lake',
            TemplateBody: String(setup['template']),
            Capabilities: ['CAPABILITY_NAMED_IAM'],
            Parameters: Object.entries(setup['parameters'] as Record<string, string>).map(([ParameterKey, ParameterValue]) => ({
              ParameterKey,
              ParameterValue,
            })),
          }),
        );
        const stack = (await cfn.send(new DescribeStacksCommand({ StackName: 'auditstream-lake' }))).Stacks![0]!;
        cfn.destroy();
        assert.equal(stack.StackStatus, 'CREATE_COMPLETE', stack.StackStatusReason);
        assert.equal(stack.Outputs?.find((o) => o.OutputKey === 'RoleArn')?.OutputValue, `arn:aws:iam::${MOTO_ACCOUNT}:role/cfn-s3-writer`);
        assert.equal(setup['role_arn'], `arn:aws:iam::${MOTO_ACCOUNT}:role/cfn-s3-writer`);
        const role = (await iam.send(new GetRoleCommand({ RoleName: 'cfn-s3-writer' }))).Role!;
        const trust = JSON.parse(decodeURIComponent(role.AssumeRolePolicyDocument!)) as { Statement: Json[] };
        assert.deepEqual(trust.Statement[0]!['Condition'], { StringEquals: { 'sts:ExternalId': externalId } });
        const sts = new STSClient({ region: 'us-east-1', credentials: { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! } });
        await moto.enforceIam(true);
        try {
          const ok = await sts.send(new AssumeRoleCommand({ RoleArn: role.Arn!, RoleSessionName: 't', ExternalId: externalId }));
          assert.ok(ok.Credentials?.AccessKeyId);
          await assert.rejects(
            sts.send(new AssumeRoleCommand({ RoleArn: role.Arn!, RoleSessionName: 't', ExternalId: 'wrong' })),
            /not authorized|AccessDenied/,
          );
        } finally {
          await moto.enforceIam(false);
          sts.destroy();
        }
        await store.transaction((tx) => createSink(tx, 'acct-cfn', { name: 'lake', enabled: true, s3Sink: spec }));
        engine.start();
        await store.append({ accountId: 'acct-cfn', records: Array.from({ length: 40 }, () => makeRecord()), ingestedBy: null });
        engine.notify('acct-cfn');
        const expected = await storedRecords(store, 'acct-cfn');
        await until(async () => (await readObjects(s3, 'cfn-bucket', 'audit/cfn/acct-cfn/')).reduce((n, o) => n + o.lines.length, 0) >= 40, 'objects');
        checkObjects(await readObjects(s3, 'cfn-bucket', 'audit/cfn/acct-cfn/'), expected);
      } finally {
        await engine.stop();
        iam.destroy();
        s3.destroy();
        await store.close();
      }
    });
  });
});
