/**
 * The CloudFormation template of the Kinesis set-up: cfn-lint passes, least privilege holds on
 * the template itself (moto's CloudFormation stores inline policies oddly), the quick-create link
 * carries every parameter, and a stack deployed on moto gives a role that auditstream can assume
 * only with the account's ExternalId and then deliver through.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CloudFormationClient, CreateStackCommand, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CreateAccessKeyCommand, CreateUserCommand, GetRoleCommand, IAMClient, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { cloudFormationTemplate, KMS_ACTIONS, quickCreateUrl, STREAM_ACTIONS, templateObject } from '../src/sinks/cloudformation/template.js';
import { kinesisSetup } from '../src/sinks/cloudformation/setup.js';
import { createStream, kinesisClient, MOTO_ACCOUNT, readStream, startMoto, useAwsEndpoint, type Moto } from './helpers/moto.js';
import { cfnLint } from './helpers/cfn.js';
import { createFixture, type StoreFixture } from './helpers/stores.js';
import { makeRecord } from './helpers/records.js';
import { until } from './helpers/fake-sink.js';
import { createSink, ensureExternalId } from '../src/control/sinks-service.js';
import { DeliveryEngine } from '../src/delivery/engine.js';
import { sinkRegistry } from '../src/sinks/index.js';

type Json = Record<string, unknown>;

describe('CloudFormation template', () => {
  it('passes cfn-lint', async () => {
    const out = await cfnLint(cloudFormationTemplate());
    assert.equal(out.code, 0, out.text);
  });

  it('grants least privilege: trust only the principal with the ExternalId, write only to the stream (and its key)', () => {
    const t = templateObject() as Json;
    const resources = t['Resources'] as Record<string, Json>;
    assert.deepEqual(Object.keys(resources), ['AuditstreamWriterRole']);
    const role = resources['AuditstreamWriterRole']!;
    assert.equal(role['Type'], 'AWS::IAM::Role');
    const props = role['Properties'] as Json;
    assert.deepEqual(Object.keys(props).sort(), ['AssumeRolePolicyDocument', 'Description', 'MaxSessionDuration', 'Policies', 'RoleName']);
    const trust = (props['AssumeRolePolicyDocument'] as { Statement: Json[] }).Statement;
    assert.deepEqual(trust, [
      {
        Effect: 'Allow',
        Principal: { AWS: { Ref: 'AuditstreamPrincipalArn' } },
        Action: 'sts:AssumeRole',
        Condition: { StringEquals: { 'sts:ExternalId': { Ref: 'ExternalId' } } },
      },
    ]);
    const policies = props['Policies'] as { PolicyDocument: { Statement: Json[] } }[];
    assert.equal(policies.length, 1);
    const [write, kms] = policies[0]!.PolicyDocument.Statement as [Json, Json];
    assert.deepEqual(write, {
      Sid: 'WriteAuditLogs',
      Effect: 'Allow',
      Action: ['kinesis:PutRecord', 'kinesis:PutRecords', 'kinesis:DescribeStreamSummary'],
      Resource: { Ref: 'StreamArn' },
    });
    assert.deepEqual(kms, {
      'Fn::If': [
        'HasKmsKey',
        { Sid: 'EncryptWithStreamKey', Effect: 'Allow', Action: ['kms:GenerateDataKey'], Resource: { Ref: 'KmsKeyArn' } },
        { Ref: 'AWS::NoValue' },
      ],
    });
    assert.deepEqual((t['Conditions'] as Json)['HasKmsKey'], { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'KmsKeyArn' }, ''] }] });
    assert.deepEqual(
      [...STREAM_ACTIONS, ...KMS_ACTIONS].filter((a) => a.includes('*')),
      [],
    );
    assert.ok(!JSON.stringify(t).includes('"*"'), 'no wildcard anywhere');
    assert.deepEqual(Object.keys(t['Parameters'] as Json), ['ExternalId', 'StreamArn', 'RoleName', 'AuditstreamPrincipalArn', 'KmsKeyArn']);
  });

  it('builds the Auto quick-create link with every parameter', () => {
    const setup = kinesisSetup(
      'main',
      { roleName: 'auditstream-writer', destinationUri: 'arn:aws:kinesis:eu-west-1:111122223333:stream/audit', region: 'eu-west-1' },
      'ext-123',
      { principalArn: 'arn:aws:iam::999988887777:role/auditstream', templateUrl: 'https://bucket.s3.amazonaws.com/auditstream-kinesis-role.json' },
    );
    const url = new URL(setup.quickCreateUrl);
    assert.equal(url.origin + url.pathname, 'https://console.aws.amazon.com/cloudformation/home');
    assert.equal(url.searchParams.get('region'), 'eu-west-1');
    const [route, query] = url.hash.slice(1).split('?') as [string, string];
    assert.equal(route, '/stacks/quickcreate');
    const q = new URLSearchParams(query);
    assert.equal(q.get('templateURL'), 'https://bucket.s3.amazonaws.com/auditstream-kinesis-role.json');
    assert.equal(q.get('stackName'), 'auditstream-main');
    assert.equal(q.get('param_ExternalId'), 'ext-123');
    assert.equal(q.get('param_StreamArn'), 'arn:aws:kinesis:eu-west-1:111122223333:stream/audit');
    assert.equal(q.get('param_RoleName'), 'auditstream-writer');
    assert.equal(q.get('param_AuditstreamPrincipalArn'), 'arn:aws:iam::999988887777:role/auditstream');
    assert.equal(q.has('param_KmsKeyArn'), false, 'empty parameters are left to their default');
    assert.equal(setup.template, cloudFormationTemplate());
    assert.match(
      quickCreateUrl({
        region: 'us-east-1',
        templateUrl: 'https://x/t.json',
        stackName: 's',
        parameters: { ...setup.parameters, KmsKeyArn: 'arn:aws:kms:us-east-1:111122223333:key/abc' },
      }),
      /param_KmsKeyArn=arn%3Aaws%3Akms/,
    );
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

    it('creates a role auditstream assumes only with the ExternalId, and delivers through it', async () => {
      const store = await fx.open();
      const engine = new DeliveryEngine({ sinks: sinkRegistry, store, flushIntervalMs: 50, scanIntervalMs: 100, leaseTtlMs: 5000 });
      const iam = new IAMClient({ region: 'us-east-1' });
      const kinesis = kinesisClient(moto.url);
      try {
        const arn = await createStream(kinesis, 'cfn-stream');
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
        const principal = `arn:aws:iam::${MOTO_ACCOUNT}:user/auditstream-cfn`;
        const setup = kinesisSetup('main', { roleName: 'cfn-writer', destinationUri: arn, region: 'us-east-1' }, externalId, {
          principalArn: principal,
          templateUrl: 'https://b.s3.amazonaws.com/t.json',
        });
        const cfn = new CloudFormationClient({ region: 'us-east-1' });
        await cfn.send(
          new CreateStackCommand({
            StackName: 'auditstream-main',
            TemplateBody: setup.template,
            Capabilities: ['CAPABILITY_NAMED_IAM'],
            Parameters: Object.entries(setup.parameters).map(([ParameterKey, ParameterValue]) => ({ ParameterKey, ParameterValue })),
          }),
        );
        const stack = (await cfn.send(new DescribeStacksCommand({ StackName: 'auditstream-main' }))).Stacks![0]!;
        cfn.destroy();
        assert.equal(stack.StackStatus, 'CREATE_COMPLETE', stack.StackStatusReason);
        assert.equal(stack.Outputs?.find((o) => o.OutputKey === 'RoleArn')?.OutputValue, `arn:aws:iam::${MOTO_ACCOUNT}:role/cfn-writer`);
        const role = (await iam.send(new GetRoleCommand({ RoleName: 'cfn-writer' }))).Role!;
        const trust = JSON.parse(decodeURIComponent(role.AssumeRolePolicyDocument!)) as { Statement: Json[] };
        assert.deepEqual(trust.Statement[0]!['Condition'], { StringEquals: { 'sts:ExternalId': externalId } });
        // With IAM enforced, the trust policy is the stack's: the ExternalId is required.
        const sts = new STSClient({ region: 'us-east-1', credentials: { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! } });
        await moto.enforceIam(true);
        try {
          const ok = await sts.send(new AssumeRoleCommand({ RoleArn: role.Arn!, RoleSessionName: 't', ExternalId: externalId }));
          assert.ok(ok.Credentials?.AccessKeyId);
          await assert.rejects(
            sts.send(new AssumeRoleCommand({ RoleArn: role.Arn!, RoleSessionName: 't', ExternalId: 'wrong' })),
            /not authorized|AccessDenied/,
          );
          // (moto lets a call with no ExternalId at all through — its condition check skips absent
          // keys — where AWS denies it; so only the wrong-ExternalId case is asserted.)
        } finally {
          await moto.enforceIam(false);
          sts.destroy();
        }
        // The delivery path uses the role the stack created.
        await store.transaction((tx) =>
          createSink(tx, 'acct-cfn', { name: 'main', enabled: true, kinesisSink: { roleName: 'cfn-writer', destinationUri: arn, region: 'us-east-1' } }),
        );
        engine.start();
        const records = Array.from({ length: 50 }, () => makeRecord());
        await store.append({ accountId: 'acct-cfn', records, ingestedBy: null });
        engine.notify('acct-cfn');
        await until(async () => (await readStream(kinesis, 'cfn-stream')).length >= 50, 'delivery through the stack role');
        assert.deepEqual(
          (await readStream(kinesis, 'cfn-stream')).map((r) => r.logId),
          records.map((r) => r.log_id),
        );
      } finally {
        await engine.stop();
        iam.destroy();
        kinesis.destroy();
        await store.close();
      }
    });
  });
});
