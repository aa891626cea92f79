/**
 * What the UI's Kinesis set-up page shows for one sink: the Auto quick-create link and the Manual
 * template download, both filled for this account (its ExternalId) and this sink (stream, role).
 */
import { failedPrecondition } from '../../errors.js';
import type { KinesisSinkSpec } from '../spec.js';
import { cloudFormationTemplate, quickCreateUrl, stackNameFor, type TemplateParameters } from './template.js';

export interface KinesisSetup {
  externalId: string;
  /** The role ARN auditstream will assume. */
  parameters: TemplateParameters;
  /** Auto: open this link, name the stack, Create stack. */
  quickCreateUrl: string;
  /** Manual: the template to upload (same as the published one). */
  template: string;
  templateFileName: string;
}

/** The operator's settings the set-up needs (from the configuration). */
export interface SetupEnv {
  /** AUDITSTREAM_AWS_PRINCIPAL_ARN (`Config.awsPrincipalArn`) */
  principalArn?: string | undefined;
  /** AUDITSTREAM_CFN_TEMPLATE_URL (`Config.cfnTemplateUrl`) */
  templateUrl?: string | undefined;
}

export function kinesisSetup(sinkName: string, spec: KinesisSinkSpec, externalId: string, env: SetupEnv, kmsKeyArn = ''): KinesisSetup {
  if (!env.principalArn)
    throw failedPrecondition('AUDITSTREAM_AWS_PRINCIPAL_ARN is not set: the operator must configure the AWS principal the role will trust');
  const parameters: TemplateParameters = {
    ExternalId: externalId,
    StreamArn: spec.destinationUri,
    RoleName: spec.roleName,
    AuditstreamPrincipalArn: env.principalArn,
    KmsKeyArn: kmsKeyArn,
  };
  return {
    externalId,
    parameters,
    quickCreateUrl: env.templateUrl ? quickCreateUrl({ region: spec.region, templateUrl: env.templateUrl, stackName: stackNameFor(sinkName), parameters }) : '',
    template: cloudFormationTemplate(),
    templateFileName: 'auditstream-kinesis-role.json',
  };
}
