/**
 * The `gcloud` commands a customer runs so auditstream can publish to their topic (shown in the UI
 * and by `auditstream sinks get`), following docs/decisions/0019-auto-set-up.md:
 *
 * 1. Let auditstream's identity mint tokens for the customer's service account:
 *    `roles/iam.serviceAccountTokenCreator` on that account
 *    (https://cloud.google.com/iam/docs/service-account-permissions#token-creator-role).
 * 2. Let the customer's service account publish to the topic: `roles/pubsub.publisher` on the
 *    topic only (https://cloud.google.com/pubsub/docs/access-control), least privilege.
 * 3. Optional, for the consumer: a subscription with message ordering, without which records of
 *    one account may arrive out of order (https://cloud.google.com/pubsub/docs/ordering).
 *
 * IAM changes can take a few minutes to apply; verify may fail with `role_not_assumable` or
 * `permission_denied` until then.
 */
import type { PubSubSinkSpec } from '../spec.js';

/** One command: why, the argv (for programs), and the text to paste (for people). */
export interface GcloudCommand {
  purpose: string;
  argv: string[];
  text: string;
  /** false for the consumer-side suggestion (the sink works without it). */
  required: boolean;
}

/** The commands for `spec`, granting `auditstreamServiceAccount` (AUDITSTREAM_GCP_SERVICE_ACCOUNT). */
export function gcloudCommands(spec: PubSubSinkSpec, auditstreamServiceAccount: string): GcloudCommand[] {
  const cmd = (purpose: string, required: boolean, argv: string[]): GcloudCommand => ({
    purpose,
    required,
    argv,
    text: argv.map(shellQuote).join(' '),
  });
  return [
    cmd(`let auditstream (${auditstreamServiceAccount}) act as ${spec.serviceAccountId}`, true, [
      'gcloud',
      'iam',
      'service-accounts',
      'add-iam-policy-binding',
      spec.serviceAccountId,
      `--member=serviceAccount:${auditstreamServiceAccount}`,
      '--role=roles/iam.serviceAccountTokenCreator',
    ]),
    cmd(`let ${spec.serviceAccountId} publish to topic ${spec.topicName}`, true, [
      'gcloud',
      'pubsub',
      'topics',
      'add-iam-policy-binding',
      spec.topicName,
      `--project=${spec.gcpProjectId}`,
      `--member=serviceAccount:${spec.serviceAccountId}`,
      '--role=roles/pubsub.publisher',
    ]),
    cmd("optional: a subscription that receives each account's records in order", false, [
      'gcloud',
      'pubsub',
      'subscriptions',
      'create',
      `${spec.topicName}-audit-consumer`.slice(0, 255),
      `--project=${spec.gcpProjectId}`,
      `--topic=${spec.topicName}`,
      '--enable-message-ordering',
    ]),
  ];
}

/** POSIX single-quoting when a word holds anything but safe characters. */
function shellQuote(word: string): string {
  return /^[A-Za-z0-9@%+=:,./_-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
