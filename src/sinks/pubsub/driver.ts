/**
 * The Pub/Sub sink kind: Temporal's `PubSubSpec`, one Publish per batch as the customer's
 * impersonated service account. Its naming rules are those of names.ts (the only copy).
 */
import type { PubSubSinkSpec } from '../spec.js';
import { stringFieldsFromFlags, type SinkDriver } from '../driver.js';
import { failedPrecondition } from '../../errors.js';
import { invalid, requiredString } from '../validate-spec.js';
import { gcloudCommands } from './gcloud.js';
import { PUBSUB_LIMITS } from './limits.js';
import { projectIdProblem, serviceAccountEmailProblem, topicIdProblem, topicPath } from './names.js';

declare module '../../delivery/adapter.js' {
  interface SinkDestinations {
    /** `temporal.api.cloud.sink.v1.PubSubSpec`. */
    pubSubSink?: PubSubSinkSpec;
  }
}

const s = (v: unknown): string => (typeof v === 'string' ? v : '');
/** names.ts's message without its leading `field "value"`, to follow ours. */
const rule = (problem: string): string => problem.replace(/^\w+ "[^"]*":? /, '');

export const pubSubDriver: SinkDriver<PubSubSinkSpec> = {
  kind: 'pubsub',
  specKey: 'pubSubSink',
  wireKey: 'pub_sub_sink',
  opsApi: true,
  limits: PUBSUB_LIMITS,
  parse: (r) => ({ serviceAccountId: s(r['serviceAccountId']), topicName: s(r['topicName']), gcpProjectId: s(r['gcpProjectId']) }),
  validate(p, field) {
    const project = requiredString(p.gcpProjectId, `${field}.gcp_project_id`);
    const projectProblem = projectIdProblem(project);
    if (projectProblem) throw invalid(`${field}.gcp_project_id "${project}" is not a GCP project id: ${rule(projectProblem)}`);
    const topic = requiredString(p.topicName, `${field}.topic_name`);
    if (topic.startsWith('projects/')) throw invalid(`${field}.topic_name must be the short topic id, not "${topic}"`);
    const topicProblem = topicIdProblem(topic);
    if (topicProblem) throw invalid(`${field}.topic_name "${topic}" is not a Pub/Sub topic id: ${rule(topicProblem)}`);
    const sa = requiredString(p.serviceAccountId, `${field}.service_account_id`);
    const saProblem = serviceAccountEmailProblem(sa);
    if (saProblem) throw invalid(`${field}.service_account_id "${sa}" is not a service account email: ${rule(saProblem)}`);
  },
  clean: (p) => ({ serviceAccountId: p.serviceAccountId, topicName: p.topicName, gcpProjectId: p.gcpProjectId }),
  describe: (p) => topicPath(p),
  async load() {
    const [{ createPubSubAdapter }, { diagnosePubSub }] = await Promise.all([import('./adapter.js'), import('./verify.js')]);
    return { create: (spec, deps) => createPubSubAdapter(spec, deps), diagnose: diagnosePubSub };
  },
  async setup(spec, _sinkName, ctx) {
    const identity = ctx.settings.gcpServiceAccount;
    if (!identity) throw failedPrecondition('AUDITSTREAM_GCP_SERVICE_ACCOUNT is not set: the operator must configure the identity auditstream publishes as');
    return { kind: 'pubsub', service_account: identity, commands: gcloudCommands(spec, identity) };
  },
  cli: {
    flags: [
      { flags: '--pubsub-topic <id>', description: 'Pub/Sub topic id' },
      { flags: '--pubsub-project <id>', description: 'GCP project of the topic' },
      { flags: '--pubsub-service-account <email>', description: 'service account auditstream impersonates to publish' },
    ],
    fromFlags: stringFieldsFromFlags({ topicName: 'pubsubTopic', gcpProjectId: 'pubsubProject', serviceAccountId: 'pubsubServiceAccount' }),
  },
};
