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
export const S3_KMS_ACTIONS = ['kms:GenerateDataKey'] as const;

const TEMPLATE = {
  AWSTemplateFormatVersion: '2010-09-09',
  Description: 'IAM role that lets auditstream write audit log objects under one S3 prefix (least privilege, ExternalId-protected).',
  Parameters: {
    ExternalId: {
      Type: 'String',
      Description: "Your auditstream account's ExternalId (shown in the auditstream UI). The role can be assumed only with it.",
      MinLength: 2,
      MaxLength: 1224,
      AllowedPattern: '[\\w+=,.@:/-]+',
    },
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
    RoleName: {
      Type: 'String',
      Description: 'Name of the IAM role to create (the role name you entered in auditstream).',
      MinLength: 1,
      MaxLength: 64,
      AllowedPattern: '[\\w+=,.@-]+',
    },
    AuditstreamPrincipalArn: {
      Type: 'String',
      Description: "ARN of auditstream's own AWS principal, the only one allowed to assume the role.",
      AllowedPattern: 'arn:aws(-cn|-us-gov)?:(iam|sts)::[0-9]{12}:.+',
    },
    KmsKeyArn: {
      Type: 'String',
      Description: "ARN of the KMS key of the bucket's default encryption; leave empty for SSE-S3 or AWS-managed keys.",
      Default: '',
      AllowedPattern: '(arn:aws(-cn|-us-gov)?:kms:[a-z0-9-]+:[0-9]{12}:key/[a-zA-Z0-9-]+)?',
    },
  },
  Conditions: {
    HasKmsKey: { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'KmsKeyArn' }, ''] }] },
  },
  Resources: {
    AuditstreamWriterRole: {
      Type: 'AWS::IAM::Role',
      Properties: {
        RoleName: { Ref: 'RoleName' },
        Description: 'Assumed by auditstream to write audit log objects under one S3 prefix.',
        MaxSessionDuration: 3600,
        AssumeRolePolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: { AWS: { Ref: 'AuditstreamPrincipalArn' } },
              Action: 'sts:AssumeRole',
              Condition: { StringEquals: { 'sts:ExternalId': { Ref: 'ExternalId' } } },
            },
          ],
        },
        Policies: [
          {
            PolicyName: 'auditstream-s3-write',
            PolicyDocument: {
              Version: '2012-10-17',
              Statement: [
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
                {
                  'Fn::If': [
                    'HasKmsKey',
                    { Sid: 'EncryptWithBucketKey', Effect: 'Allow', Action: [...S3_KMS_ACTIONS], Resource: { Ref: 'KmsKeyArn' } },
                    { Ref: 'AWS::NoValue' },
                  ],
                },
              ],
            },
          },
        ],
      },
    },
  },
  Outputs: {
    RoleArn: { Description: 'ARN of the role auditstream assumes.', Value: { 'Fn::GetAtt': ['AuditstreamWriterRole', 'Arn'] } },
  },
} as const;

/** The template as a JSON document (what is downloaded). */
export function s3CloudFormationTemplate(): string {
  return `${JSON.stringify(TEMPLATE, null, 2)}\n`;
}

/** The template as an object (tests inspect it). */
export function s3TemplateObject(): unknown {
  return structuredClone(TEMPLATE);
}
