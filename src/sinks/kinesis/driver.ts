/** The Kinesis Data Streams sink kind: Temporal's `KinesisSpec`, PutRecords with an assumed role. */
import type { KinesisSinkSpec } from '../spec.js';
import { stringFieldsFromFlags, type SinkDriver } from '../driver.js';
import { AWS_REGION_PATTERN, IAM_ROLE_NAME_PATTERN, invalid, requiredString } from '../validate-spec.js';
import { kinesisSetup } from '../cloudformation/setup.js';
import { parseStreamArn } from './arn.js';
import { KINESIS_LIMITS } from './limits.js';

declare module '../../delivery/adapter.js' {
  interface SinkDestinations {
    /** `temporal.api.cloud.sink.v1.KinesisSpec`. */
    kinesisSink?: KinesisSinkSpec;
  }
}

const s = (v: unknown): string => (typeof v === 'string' ? v : '');

export const kinesisDriver: SinkDriver<KinesisSinkSpec> = {
  kind: 'kinesis',
  specKey: 'kinesisSink',
  wireKey: 'kinesis_sink',
  opsApi: true,
  limits: KINESIS_LIMITS,
  parse: (r) => ({
    roleName: s(r['roleName']),
    destinationUri: s(r['destinationUri']),
    region: s(r['region']),
    ...(r['aggregate'] !== undefined ? { aggregate: r['aggregate'] as boolean } : {}),
  }),
  validate(k, field) {
    const role = requiredString(k.roleName, `${field}.role_name`);
    if (role.startsWith('arn:')) {
      throw invalid(
        `${field}.role_name must be the role's name (e.g. "auditstream-writer"), not an ARN: the role assumed is arn:aws:iam::<account of the stream>:role/<role_name>`,
      );
    }
    if (!IAM_ROLE_NAME_PATTERN.test(role)) {
      throw invalid(`${field}.role_name "${role}" is not a valid IAM role name: 1-64 characters of letters, digits and + = , . @ _ -`);
    }
    const uri = requiredString(k.destinationUri, `${field}.destination_uri`);
    const arn = parseStreamArn(uri);
    if (!arn.ok) throw invalid(`${field}.destination_uri ${arn.message}`);
    const region = requiredString(k.region, `${field}.region`);
    if (!AWS_REGION_PATTERN.test(region)) throw invalid(`${field}.region "${region}" is not an AWS region code like us-east-1`);
    if (region !== arn.value.region) throw invalid(`${field}.region "${region}" does not match the stream ARN's region "${arn.value.region}"`);
    if (k.aggregate !== undefined && typeof k.aggregate !== 'boolean') throw invalid(`${field}.aggregate must be true or false`);
  },
  // `aggregate` (KPL aggregation) is auditstream's extension of Temporal's KinesisSpec; off unless true.
  clean: (k) => ({ roleName: k.roleName, destinationUri: k.destinationUri, region: k.region, ...(k.aggregate === true ? { aggregate: true } : {}) }),
  keep: (requested, stored) => (requested.aggregate === undefined && stored.aggregate === true ? { aggregate: true } : {}),
  switches: [
    {
      key: 'kinesisAggregate',
      appliesTo: 'Kinesis',
      help: {
        on: 'pack records in the KPL aggregated format (Kinesis only; consumers must deaggregate, see README)',
        off: 'one Kinesis record per audit record (the default)',
      },
      get: (k) => k.aggregate === true,
      set: (k, on) => {
        const out = { ...k };
        if (on) out.aggregate = true;
        else delete out.aggregate;
        return out;
      },
    },
  ],
  describe: (k) => k.destinationUri,
  async load() {
    const { createKinesisAdapter, diagnoseKinesis } = await import('./adapter.js');
    return { create: (spec, deps) => createKinesisAdapter(spec, deps), diagnose: diagnoseKinesis };
  },
  async setup(spec, sinkName, ctx) {
    const setup = kinesisSetup(sinkName, spec, await ctx.externalId(), {
      principalArn: ctx.settings.awsPrincipalArn,
      templateUrl: ctx.settings.cfnTemplateUrl,
    });
    return {
      kind: 'kinesis',
      external_id: setup.externalId,
      parameters: setup.parameters,
      quick_create_url: setup.quickCreateUrl,
      template_file_name: setup.templateFileName,
      template: setup.template,
    };
  },
  cli: {
    flags: [
      { flags: '--kinesis-stream-arn <arn>', description: 'Kinesis stream ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME)' },
      { flags: '--kinesis-role-name <name>', description: 'IAM role in that AWS account that auditstream assumes' },
      { flags: '--kinesis-region <region>', description: "the stream's region" },
    ],
    fromFlags: stringFieldsFromFlags({ destinationUri: 'kinesisStreamArn', roleName: 'kinesisRoleName', region: 'kinesisRegion' }),
  },
};
