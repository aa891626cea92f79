/**
 * The CloudFormation template behind the Kinesis set-up (seeds: "Auto" and "Manual"): one static
 * template with parameters, published by the operator at `AUDITSTREAM_CFN_TEMPLATE_URL` (an S3
 * URL, as quick-create links require) and offered for download as is. It creates the IAM role
 * auditstream assumes:
 * - trust: only auditstream's principal (`AUDITSTREAM_AWS_PRINCIPAL_ARN`), only with the account's
 *   ExternalId (`sts:ExternalId` condition — the confused-deputy guard);
 * - permissions: exactly kinesis:PutRecord, kinesis:PutRecords and kinesis:DescribeStreamSummary
 *   on exactly that stream, plus kms:GenerateDataKey on exactly the stream's KMS key when one is
 *   given (server-side encrypted streams need it to write).
 *
 * JSON rather than YAML: identical for CloudFormation, and no short-form tags for other parsers
 * to trip on. Checked by cfn-lint and deployed on moto in test/kinesis-cloudformation.test.ts.
 */

import { templateText, writerRoleTemplate } from './role.js';

/** Parameter names, as the template and the quick-create link spell them. */
export interface TemplateParameters {
  ExternalId: string;
  StreamArn: string;
  RoleName: string;
  AuditstreamPrincipalArn: string;
  /** Empty when the stream is not encrypted with a customer-managed key. */
  KmsKeyArn: string;
}

/** The actions the role gets on the stream: nothing else. */
export const STREAM_ACTIONS = ['kinesis:PutRecord', 'kinesis:PutRecords', 'kinesis:DescribeStreamSummary'] as const;
export { KMS_ACTIONS } from './role.js';

const TEMPLATE = writerRoleTemplate({
  description: 'IAM role that lets auditstream write audit logs to one Kinesis data stream (least privilege, ExternalId-protected).',
  destination: {
    StreamArn: {
      Type: 'String',
      Description: 'ARN of the Kinesis data stream auditstream writes to.',
      AllowedPattern: 'arn:aws(-cn|-us-gov)?:kinesis:[a-z0-9-]+:[0-9]{12}:stream/[a-zA-Z0-9_.-]{1,128}',
    },
  },
  kmsKeyDescription: 'ARN of the KMS key the stream is encrypted with; leave empty for unencrypted or AWS-managed-key streams.',
  roleDescription: 'Assumed by auditstream to write audit logs to one Kinesis stream.',
  policyName: 'auditstream-kinesis-write',
  statements: [{ Sid: 'WriteAuditLogs', Effect: 'Allow', Action: [...STREAM_ACTIONS], Resource: { Ref: 'StreamArn' } }],
  kmsSid: 'EncryptWithStreamKey',
});

/** The template as a JSON document (what is published and downloaded). */
export function cloudFormationTemplate(): string {
  return templateText(TEMPLATE);
}

/** The template as an object (tests inspect it). */
export function templateObject(): unknown {
  return structuredClone(TEMPLATE);
}

export interface QuickCreateOptions {
  region: string;
  /** Where the operator published the template (AUDITSTREAM_CFN_TEMPLATE_URL, an S3 URL). */
  templateUrl: string;
  stackName: string;
  parameters: TemplateParameters;
}

/**
 * The "Auto" link: the AWS console's quick-create page with the template and every parameter
 * filled, so the customer only names the stack and clicks Create.
 * Format: https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cfn-console-create-stacks-quick-create-links.html
 */
export function quickCreateUrl(o: QuickCreateOptions): string {
  const q = new URLSearchParams({ templateURL: o.templateUrl, stackName: o.stackName });
  for (const [k, v] of Object.entries(o.parameters)) if (v !== '') q.set(`param_${k}`, v);
  return `https://console.aws.amazon.com/cloudformation/home?region=${encodeURIComponent(o.region)}#/stacks/quickcreate?${q.toString()}`;
}

/** CloudFormation stack names: 1-128 of `[A-Za-z0-9-]`, starting with a letter. */
export function stackNameFor(sinkName: string): string {
  return `auditstream-${sinkName}`.replace(/[^A-Za-z0-9-]/g, '-').slice(0, 128);
}
