/**
 * GCP naming rules for the three fields of a Pub/Sub sink spec, checked before anything is sent,
 * with messages precise enough to fix the value from (the sink kind's `validate`, driver.ts, uses
 * them; each rule is also exported on its own).
 *
 * Sources:
 * - Project id: 6–30 characters, lowercase letters, digits and hyphens, starts with a letter,
 *   does not end with a hyphen. https://cloud.google.com/resource-manager/docs/creating-managing-projects
 * - Topic id: 3–255 characters, starts with a letter, letters, digits and `-_.~+%` only, does not
 *   start with `goog`. https://cloud.google.com/pubsub/docs/pubsub-basics#resource_names
 *   (the emulator enforces the length too: `Invalid [topics] name`).
 * - Service account email: `ID@PROJECT.iam.gserviceaccount.com` with a 6–30 character id
 *   (https://cloud.google.com/iam/docs/service-accounts-create), or a Google-created default
 *   account: `PROJECT_NUMBER-compute@developer.gserviceaccount.com`,
 *   `PROJECT@appspot.gserviceaccount.com`.
 */
import type { PubSubSinkSpec } from '../spec.js';

/** One thing wrong with one field of the spec. */
export interface SpecProblem {
  field: 'serviceAccountId' | 'topicName' | 'gcpProjectId';
  message: string;
}

/** Why `id` is not a valid GCP project id, or `undefined` when it is. */
export function projectIdProblem(id: string): string | undefined {
  const what = `gcpProjectId "${id}"`;
  if (id.length < 6 || id.length > 30) return `${what} must be 6 to 30 characters long (it has ${id.length})`;
  if (!/^[a-z]/.test(id)) return `${what} must start with a lowercase letter`;
  const bad = id.match(/[^a-z0-9-]/);
  if (bad) return `${what} may contain only lowercase letters, digits and hyphens (found "${bad[0]}")`;
  if (id.endsWith('-')) return `${what} must not end with a hyphen`;
  return undefined;
}

/** Why `id` is not a valid Pub/Sub topic id (the short name, not `projects/.../topics/...`). */
export function topicIdProblem(id: string): string | undefined {
  const what = `topicName "${id}"`;
  if (id.startsWith('projects/')) {
    return `${what} must be the short topic id (the part after "/topics/"), not the full resource name`;
  }
  if (id.length < 3 || id.length > 255) return `${what} must be 3 to 255 characters long (it has ${id.length})`;
  if (!/^[A-Za-z]/.test(id)) return `${what} must start with a letter`;
  const bad = id.match(/[^A-Za-z0-9\-_.~+%]/);
  if (bad) return `${what} may contain only letters, digits and - _ . ~ + % (found "${bad[0]}")`;
  if (/^goog/i.test(id)) return `${what} must not start with "goog"`;
  return undefined;
}

const SA_ID = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/;

/** Why `email` is not a service account email, or `undefined` when it is. */
export function serviceAccountEmailProblem(email: string): string | undefined {
  const what = `serviceAccountId "${email}"`;
  const at = email.indexOf('@');
  if (at < 0 || at !== email.lastIndexOf('@')) {
    return `${what} must be a service account email, e.g. "audit-publisher@my-project.iam.gserviceaccount.com"`;
  }
  const local = email.slice(0, at);
  const domain = email.slice(at + 1);
  if (domain === 'developer.gserviceaccount.com') {
    return /^[0-9]+-compute$/.test(local) ? undefined : `${what}: on developer.gserviceaccount.com only PROJECT_NUMBER-compute exists`;
  }
  if (domain === 'appspot.gserviceaccount.com') {
    return projectIdProblem(local) === undefined ? undefined : `${what}: on appspot.gserviceaccount.com the name must be a project id`;
  }
  const m = domain.match(/^(.+)\.iam\.gserviceaccount\.com$/);
  if (!m) {
    return `${what} must end in ".iam.gserviceaccount.com" (or be a default compute or App Engine service account)`;
  }
  if (!SA_ID.test(local)) {
    return `${what}: the account id "${local}" must be 6 to 30 lowercase letters, digits or hyphens, start with a letter and not end with a hyphen (the account id before "@" must be 6-30 such characters)`;
  }
  const projectProblem = projectIdProblem(m[1]!);
  if (projectProblem) return `${what}: the project part is not a project id (${projectProblem.replace(/^gcpProjectId /, '')})`;
  return undefined;
}

/** Every problem with a Pub/Sub sink spec (empty when it is valid). */
export function pubSubSpecProblems(spec: PubSubSinkSpec): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const check = (field: SpecProblem['field'], value: unknown, rule: (v: string) => string | undefined): void => {
    if (typeof value !== 'string' || value === '') {
      problems.push({ field, message: `${field} is required` });
      return;
    }
    const message = rule(value);
    if (message) problems.push({ field, message });
  };
  check('serviceAccountId', spec.serviceAccountId, serviceAccountEmailProblem);
  check('topicName', spec.topicName, topicIdProblem);
  check('gcpProjectId', spec.gcpProjectId, projectIdProblem);
  return problems;
}

/** The topic's full resource name, `projects/PROJECT/topics/TOPIC`, as Publish takes it. */
export function topicPath(spec: Pick<PubSubSinkSpec, 'gcpProjectId' | 'topicName'>): string {
  return `projects/${spec.gcpProjectId}/topics/${spec.topicName}`;
}
