/**
 * The Pub/Sub sink: adapter (one batch = one Publish), impersonated credentials, verify causes,
 * the customer's `gcloud` commands and the spec's naming rules. See adapter.ts for the design.
 */
export { createPubSubAdapter, DEFAULT_PUBLISH_TIMEOUT_MS } from './adapter.js';
export type { PubSubAdapter, PubSubAdapterOptions, PubSubEnv } from './adapter.js';
export { classifyPublish } from './classify.js';
export { impersonateCustomer, PUBSUB_SCOPE } from './credentials.js';
export type { CustomerCredentials, ImpersonationOptions } from './credentials.js';
export { publisherEndpoint } from './endpoint.js';
export type { PublisherEndpoint } from './endpoint.js';
export { MixedOrderingKeysError, PubSubCredentialsError, PubSubPublishError } from './errors.js';
export type { CredentialsFailure } from './errors.js';
export { gcloudCommands } from './gcloud.js';
export type { GcloudCommand } from './gcloud.js';
export { PUBSUB_HARD_LIMITS, PUBSUB_LIMITS } from './limits.js';
export { encodeRecord, toMessage } from './message.js';
export { projectIdProblem, pubSubSpecProblems, serviceAccountEmailProblem, topicIdProblem, topicPath } from './names.js';
export type { SpecProblem } from './names.js';
export { diagnosePubSub, verifyPubSub } from './verify.js';
