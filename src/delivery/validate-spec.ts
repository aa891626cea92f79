/**
 * `validateSpec`: refuses, with a message naming the field and the rule, any sink spec a
 * destination could never accept — so mistakes surface at create/update time, not as a red
 * status an hour later. Each rule cites the provider's naming rules.
 */
import { AuditError } from '../errors.js';
import type { AuditLogSinkSpec, KinesisSinkSpec, PubSubSinkSpec } from '../sinks/spec.js';
import { parseStreamArn } from '../sinks/kinesis/arn.js';

const invalid = (message: string): AuditError => new AuditError('AS_ERR_INVALID_ARGUMENT', message);

/** Sink names: like Temporal's example `audit_log_01`; 1-64 of letters, digits, `_`, `-`. */
export const SINK_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/**
 * AWS region codes (`us-east-1`, `us-gov-west-1`, `cn-north-1`, `ap-southeast-4`...).
 * Source: https://docs.aws.amazon.com/general/latest/gr/rande.html
 */
export const AWS_REGION_PATTERN = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;

/**
 * IAM role names: 1-64 characters of `[\w+=,.@-]`.
 * Source: https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html (RoleName)
 */
export const IAM_ROLE_NAME_PATTERN = /^[\w+=,.@-]{1,64}$/;

/**
 * Pub/Sub topic ids: 3-255 characters, start with a letter, then letters, digits and
 * `-_.~+%`, never starting with `goog`.
 * Source: https://cloud.google.com/pubsub/docs/pubsub-basics#resource_names
 */
export const PUBSUB_TOPIC_PATTERN = /^[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/;

/**
 * GCP project ids: 6-30 characters, lowercase letters, digits and hyphens, starting with a
 * letter and not ending with a hyphen.
 * Source: https://cloud.google.com/resource-manager/docs/creating-managing-projects#before_you_begin
 */
export const GCP_PROJECT_PATTERN = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/;

/**
 * Service account emails: `<id>@<project>.iam.gserviceaccount.com` (user-managed; id 6-30 of
 * `[a-z0-9-]`, starting with a letter) or Google-managed `...@*.gserviceaccount.com`.
 * Source: https://cloud.google.com/iam/docs/service-accounts-create#creating
 */
export const GCP_SERVICE_ACCOUNT_PATTERN = /^[a-z0-9][a-z0-9.-]{0,62}@[a-z0-9][a-z0-9.-]*\.gserviceaccount\.com$/;
const USER_MANAGED_SA = /^([^@]+)@([^.]+)\.iam\.gserviceaccount\.com$/;

/**
 * Throws `AS_ERR_INVALID_ARGUMENT` with a precise message when `spec` is malformed. Name
 * uniqueness is checked by createSink against the store (`AS_ERR_ALREADY_EXISTS`).
 */
export function validateSpec(spec: AuditLogSinkSpec): void {
  if (spec === null || typeof spec !== 'object') throw invalid('spec is required');
  if (typeof spec.name !== 'string' || spec.name === '') throw invalid('spec.name is required');
  if (!SINK_NAME_PATTERN.test(spec.name)) {
    throw invalid(`spec.name "${spec.name}" must be 1-64 letters, digits, "_" or "-", starting with a letter or digit`);
  }
  if (typeof spec.enabled !== 'boolean') throw invalid('spec.enabled must be true or false');
  const hasK = spec.kinesisSink !== undefined && spec.kinesisSink !== null;
  const hasP = spec.pubSubSink !== undefined && spec.pubSubSink !== null;
  if (hasK && hasP) throw invalid('spec must set exactly one of kinesis_sink and pub_sub_sink, not both');
  if (!hasK && !hasP) throw invalid('spec must set one of kinesis_sink or pub_sub_sink');
  if (hasK) validateKinesis(spec.kinesisSink!);
  else validatePubSub(spec.pubSubSink!);
}

function str(v: unknown, field: string): string {
  if (typeof v !== 'string' || v.trim() === '') throw invalid(`${field} is required`);
  if (v !== v.trim()) throw invalid(`${field} must not start or end with spaces`);
  return v;
}

function validateKinesis(k: KinesisSinkSpec): void {
  const role = str(k.roleName, 'spec.kinesis_sink.role_name');
  if (role.startsWith('arn:')) {
    throw invalid(`spec.kinesis_sink.role_name must be the role's name (e.g. "auditstream-writer"), not an ARN: the role assumed is arn:aws:iam::<account of the stream>:role/<role_name>`);
  }
  if (!IAM_ROLE_NAME_PATTERN.test(role)) {
    throw invalid(`spec.kinesis_sink.role_name "${role}" is not a valid IAM role name: 1-64 characters of letters, digits and + = , . @ _ -`);
  }
  const uri = str(k.destinationUri, 'spec.kinesis_sink.destination_uri');
  const arn = parseStreamArn(uri);
  if (!arn.ok) throw invalid(`spec.kinesis_sink.destination_uri ${arn.message}`);
  if (k.aggregate !== undefined && typeof k.aggregate !== 'boolean') throw invalid('spec.kinesis_sink.aggregate must be true or false');
  const region = str(k.region, 'spec.kinesis_sink.region');
  if (!AWS_REGION_PATTERN.test(region)) throw invalid(`spec.kinesis_sink.region "${region}" is not an AWS region code like us-east-1`);
  if (region !== arn.value.region) {
    throw invalid(`spec.kinesis_sink.region "${region}" does not match the stream ARN's region "${arn.value.region}"`);
  }
}

function validatePubSub(p: PubSubSinkSpec): void {
  const project = str(p.gcpProjectId, 'spec.pub_sub_sink.gcp_project_id');
  if (!GCP_PROJECT_PATTERN.test(project)) {
    throw invalid(
      `spec.pub_sub_sink.gcp_project_id "${project}" is not a GCP project id: 6-30 lowercase letters, digits or hyphens, starting with a letter, not ending with a hyphen`,
    );
  }
  const topic = str(p.topicName, 'spec.pub_sub_sink.topic_name');
  if (topic.startsWith('projects/')) {
    throw invalid(`spec.pub_sub_sink.topic_name must be the short topic id, not "${topic}"`);
  }
  if (topic.toLowerCase().startsWith('goog')) throw invalid(`spec.pub_sub_sink.topic_name "${topic}" must not start with "goog"`);
  if (!PUBSUB_TOPIC_PATTERN.test(topic)) {
    throw invalid(
      `spec.pub_sub_sink.topic_name "${topic}" is not a Pub/Sub topic id: 3-255 characters, starting with a letter, of letters, digits and - _ . ~ + %`,
    );
  }
  const sa = str(p.serviceAccountId, 'spec.pub_sub_sink.service_account_id');
  if (!GCP_SERVICE_ACCOUNT_PATTERN.test(sa)) {
    throw invalid(`spec.pub_sub_sink.service_account_id "${sa}" is not a service account email (name@project.iam.gserviceaccount.com)`);
  }
  const m = USER_MANAGED_SA.exec(sa);
  if (m && !/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/.test(m[1]!)) {
    throw invalid(`spec.pub_sub_sink.service_account_id "${sa}": the account id before "@" must be 6-30 lowercase letters, digits or hyphens, starting with a letter`);
  }
}
