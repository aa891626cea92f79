/**
 * What every AWS kind's CloudFormation template shares (Kinesis: template.ts, S3:
 * src/sinks/s3/template.ts): one IAM role that auditstream assumes, trusting only auditstream's
 * principal (`AUDITSTREAM_AWS_PRINCIPAL_ARN`) and only with the account's ExternalId (the
 * `sts:ExternalId` condition, the confused-deputy guard), with one inline policy of the kind's
 * statements plus `kms:GenerateDataKey` on exactly the customer's KMS key when one is given. The
 * kind adds its destination's parameters and statements.
 */

export const KMS_ACTIONS = ['kms:GenerateDataKey'] as const;

const EXTERNAL_ID = {
  Type: 'String',
  Description: "Your auditstream account's ExternalId (shown in the auditstream UI). The role can be assumed only with it.",
  MinLength: 2,
  MaxLength: 1224,
  AllowedPattern: '[\\w+=,.@:/-]+',
  NoEcho: false,
} as const;

const ROLE_NAME = {
  Type: 'String',
  Description: 'Name of the IAM role to create (the role name you entered in auditstream).',
  MinLength: 1,
  MaxLength: 64,
  AllowedPattern: '[\\w+=,.@-]+',
} as const;

const PRINCIPAL = {
  Type: 'String',
  Description: "ARN of auditstream's own AWS principal, the only one allowed to assume the role.",
  AllowedPattern: 'arn:aws(-cn|-us-gov)?:(iam|sts)::[0-9]{12}:.+',
} as const;

export interface WriterRoleTemplate {
  /** The template's description. */
  description: string;
  /** The destination's parameters, in order, before RoleName. */
  destination: Record<string, unknown>;
  /** What the KmsKeyArn parameter says (which key of the destination it is). */
  kmsKeyDescription: string;
  roleDescription: string;
  policyName: string;
  /** The destination's statements (the KMS one is added). */
  statements: unknown[];
  /** Sid of the KMS statement. */
  kmsSid: string;
}

/** The template object: parameters ExternalId, the destination's, RoleName, AuditstreamPrincipalArn, KmsKeyArn. */
export function writerRoleTemplate(t: WriterRoleTemplate) {
  return {
    AWSTemplateFormatVersion: '2010-09-09',
    Description: t.description,
    Parameters: {
      ExternalId: EXTERNAL_ID,
      ...t.destination,
      RoleName: ROLE_NAME,
      AuditstreamPrincipalArn: PRINCIPAL,
      KmsKeyArn: {
        Type: 'String',
        Description: t.kmsKeyDescription,
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
          Description: t.roleDescription,
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
              PolicyName: t.policyName,
              PolicyDocument: {
                Version: '2012-10-17',
                Statement: [
                  ...t.statements,
                  {
                    'Fn::If': [
                      'HasKmsKey',
                      { Sid: t.kmsSid, Effect: 'Allow', Action: [...KMS_ACTIONS], Resource: { Ref: 'KmsKeyArn' } },
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
  };
}

/** A template as the JSON document that is published and downloaded. */
export function templateText(template: unknown): string {
  return `${JSON.stringify(template, null, 2)}\n`;
}
