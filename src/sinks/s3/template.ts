/**
 * The CloudFormation template of the S3 set-up (Manual: download and create the stack). It
 * creates the IAM role auditstream assumes:
 * - trust: only auditstream's principal (`AUDITSTREAM_AWS_PRINCIPAL_ARN`), only with the account's
 *   ExternalId (`sts:ExternalId` condition, the confused-deputy guard), as for Kinesis;
 * - permissions: `s3:PutObject` on `<bucket>/<prefix>/*` only; `s3:DeleteObject` only on Verify's
 *   test objects (`<bucket>/<prefix>/_auditstream-verify/*`); `kms:GenerateDataKey` on exactly the
 *   bucket's KMS key when one is given (SSE-KMS default encryption needs it to write). No read, no
 *   list, nothing on other prefixes.
 *
 * Checked by cfn-lint and deployed on moto in test/s3-cloudformation.test.ts.
 */
import { VERIFY_DIR } from './keys.js';
import { templateText, writerRoleTemplate } from '../cloudformation/role.js';

/** Parameter names, as the template spells them. */
export type S3TemplateParameters = {
  ExternalId: string;
  BucketName: string;
  Prefix: string;
  RoleName: string;
  AuditstreamPrincipalArn: string;
  /** Empty when the bucket is not encrypted with a customer-managed KMS key. */
  KmsKeyArn: string;
};

export const S3_WRITE_ACTIONS = ['s3:PutObject'] as const;
export const S3_VERIFY_ACTIONS = ['s3:DeleteObject'] as const;
export { KMS_ACTIONS as S3_KMS_ACTIONS } from '../cloudformation/role.js';

const TEMPLATE = writerRoleTemplate({
  description: 'IAM role that lets auditstream write audit log objects under one S3 prefix (least privilege, ExternalId-protected).',
  destination: {
    BucketName: {
      Type: 'String',
      Description: 'Name of the S3 bucket auditstream writes to.',
      MinLength: 3,
      MaxLength: 63,
      AllowedPattern: '[a-z0-9][a-z0-9.-]*[a-z0-9]',
    },
    Prefix: {
      Type: 'String',
      Description: 'Key prefix the audit log objects go under (no leading or trailing "/"), as entered in auditstream.',
      MinLength: 1,
      MaxLength: 900,
      AllowedPattern: "[A-Za-z0-9!_.'()=-]+(/[A-Za-z0-9!_.'()=-]+)*",
    },
  },
  kmsKeyDescription: "ARN of the KMS key of the bucket's default encryption; leave empty for SSE-S3 or AWS-managed keys.",
  roleDescription: 'Assumed by auditstream to write audit log objects under one S3 prefix.',
  policyName: 'auditstream-s3-write',
  statements: [
    {
      Sid: 'WriteAuditLogObjects',
      Effect: 'Allow',
      Action: [...S3_WRITE_ACTIONS],
      Resource: { 'Fn::Sub': 'arn:${AWS::Partition}:s3:::${BucketName}/${Prefix}/*' },
    },
    {
      Sid: 'DeleteVerifyObjects',
      Effect: 'Allow',
      Action: [...S3_VERIFY_ACTIONS],
      Resource: { 'Fn::Sub': `arn:\${AWS::Partition}:s3:::\${BucketName}/\${Prefix}/${VERIFY_DIR}/*` },
    },
  ],
  kmsSid: 'EncryptWithBucketKey',
});

/** The template as a JSON document (what is downloaded). */
export function s3CloudFormationTemplate(): string {
  return templateText(TEMPLATE);
}

/** The template as an object (tests inspect it). */
export function s3TemplateObject(): unknown {
  return structuredClone(TEMPLATE);
}
