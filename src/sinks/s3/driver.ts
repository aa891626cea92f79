/**
 * The Amazon S3 sink kind: one gzipped JSONL object per batch window under
 * `<prefix>/<account>/<YYYY>/<MM>/<DD>/<HH>/<first-seq>-<last-seq>.jsonl.gz`, written with an
 * assumed role (AssumeRole + ExternalId, like Kinesis), batch boundaries stable across crashes.
 */
import { failedPrecondition } from '../../errors.js';
import { stringFieldsFromFlags, type SinkDriver } from '../driver.js';
import { AWS_REGION_PATTERN, IAM_ROLE_NAME_PATTERN, invalid, requiredString } from '../validate-spec.js';
import { stackNameFor } from '../cloudformation/template.js';
import { S3_LIMITS } from './limits.js';
import { bucketNameProblem, cleanPrefix, prefixProblem, VERIFY_DIR } from './keys.js';
import { s3CloudFormationTemplate, type S3TemplateParameters } from './template.js';
import type { S3SinkSpec } from './spec.js';

export type { S3SinkSpec } from './spec.js';

declare module '../../delivery/adapter.js' {
  interface SinkDestinations {
    /** Amazon S3 (auditstream's own kind). */
    s3Sink?: S3SinkSpec;
  }
}

const s = (v: unknown): string => (typeof v === 'string' ? v : '');

export const s3Driver: SinkDriver<S3SinkSpec> = {
  kind: 's3',
  specKey: 's3Sink',
  wireKey: 's3_sink',
  opsApi: false,
  limits: S3_LIMITS,
  parse: (r) => ({ bucket: s(r['bucket']), prefix: s(r['prefix']), region: s(r['region']), awsAccountId: s(r['awsAccountId']), roleName: s(r['roleName']) }),
  validate(k, field) {
    const bucket = requiredString(k.bucket, `${field}.bucket`);
    const bad = bucketNameProblem(bucket);
    if (bad) throw invalid(`${field}.bucket "${bucket.slice(0, 80)}" is not a valid S3 bucket name: it ${bad}`);
    if (typeof k.prefix !== 'string') throw invalid(`${field}.prefix is required`);
    const badPrefix = prefixProblem(k.prefix);
    if (badPrefix) throw invalid(`${field}.prefix ${badPrefix}`);
    const region = requiredString(k.region, `${field}.region`);
    if (!AWS_REGION_PATTERN.test(region)) throw invalid(`${field}.region "${region.slice(0, 40)}" is not an AWS region code like us-east-1`);
    const account = requiredString(k.awsAccountId, `${field}.aws_account_id`);
    if (!/^\d{12}$/.test(account)) throw invalid(`${field}.aws_account_id "${account.slice(0, 40)}" must be the 12-digit AWS account id that owns the role`);
    const role = requiredString(k.roleName, `${field}.role_name`);
    if (role.startsWith('arn:')) {
      throw invalid(
        `${field}.role_name must be the role's name (e.g. "auditstream-writer"), not an ARN: the role assumed is arn:aws:iam::<aws_account_id>:role/<role_name>`,
      );
    }
    if (!IAM_ROLE_NAME_PATTERN.test(role)) {
      throw invalid(`${field}.role_name "${role.slice(0, 80)}" is not a valid IAM role name: 1-64 characters of letters, digits and + = , . @ _ -`);
    }
  },
  clean: (k) => ({ bucket: k.bucket, prefix: cleanPrefix(k.prefix), region: k.region, awsAccountId: k.awsAccountId, roleName: k.roleName }),
  describe: (k) => `s3://${k.bucket}/${k.prefix}/`,
  async load() {
    const { createS3Adapter, diagnoseS3 } = await import('./adapter.js');
    return { create: (spec, deps) => createS3Adapter(spec, deps), diagnose: diagnoseS3 };
  },
  async setup(spec, sinkName, ctx) {
    const principalArn = ctx.settings.awsPrincipalArn;
    if (!principalArn) throw failedPrecondition('AUDITSTREAM_AWS_PRINCIPAL_ARN is not set: the operator must configure the AWS principal the role will trust');
    const externalId = await ctx.externalId();
    const parameters: S3TemplateParameters = {
      ExternalId: externalId,
      BucketName: spec.bucket,
      Prefix: spec.prefix,
      RoleName: spec.roleName,
      AuditstreamPrincipalArn: principalArn,
      KmsKeyArn: '',
    };
    return {
      kind: 's3',
      external_id: externalId,
      role_arn: `arn:aws:iam::${spec.awsAccountId}:role/${spec.roleName}`,
      parameters,
      stack_name: stackNameFor(sinkName),
      template_file_name: 'auditstream-s3-role.json',
      template: s3CloudFormationTemplate(),
      steps: [
        `Create a CloudFormation stack in account ${spec.awsAccountId} from the template (fill KmsKeyArn if the bucket's default encryption uses your own KMS key).`,
        `The role may only put objects under s3://${spec.bucket}/${spec.prefix}/ and delete Verify's test objects under ${VERIFY_DIR}/.`,
        'Then press Verify: it writes and deletes one test object.',
      ],
    };
  },
  cli: {
    flags: [
      { flags: '--s3-bucket <bucket>', description: 'S3 bucket the audit log objects are written to' },
      { flags: '--s3-prefix <prefix>', description: 'key prefix of the objects (no leading "/"), e.g. audit/temporal' },
      { flags: '--s3-region <region>', description: "the bucket's region" },
      { flags: '--aws-account-id <id>', description: 'the 12-digit AWS account of the role auditstream assumes (S3)' },
      { flags: '--s3-role-name <name>', description: 'IAM role in that account that auditstream assumes (arn:aws:iam::ID:role/NAME)' },
    ],
    fromFlags: stringFieldsFromFlags({ bucket: 's3Bucket', prefix: 's3Prefix', region: 's3Region', awsAccountId: 'awsAccountId', roleName: 's3RoleName' }),
  },
};
