/**
 * The kind-independent half of spec validation (name, `enabled`, exactly one destination, the
 * filter) and the helpers every driver's `validate` uses. Refuses, with a message naming the
 * field and the rule, any spec a destination could never accept — so mistakes surface at
 * create/update time, not as a red status an hour later.
 */
import { AuditError } from '../errors.js';
import type { StoredSinkSpec } from '../delivery/adapter.js';
import type { SinkDriver } from './driver.js';
import { validateFilter } from './filter-spec.js';

export const invalid = (message: string): AuditError => new AuditError('AS_ERR_INVALID_ARGUMENT', message);

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

/** A required string field without surrounding spaces. */
export function requiredString(v: unknown, field: string): string {
  if (typeof v !== 'string' || v.trim() === '') throw invalid(`${field} is required`);
  if (v !== v.trim()) throw invalid(`${field} must not start or end with spaces`);
  return v;
}

/** The destinations a spec sets (`value !== undefined && !== null`), in registry order. */
export function destinationsOf(drivers: readonly SinkDriver[], spec: StoredSinkSpec): SinkDriver[] {
  const raw = spec as unknown as Record<string, unknown>;
  return drivers.filter((d) => raw[d.specKey] !== undefined && raw[d.specKey] !== null);
}

/**
 * Throws `AS_ERR_INVALID_ARGUMENT` with a precise message when `spec` is malformed. Name
 * uniqueness is checked by createSink against the store (`AS_ERR_ALREADY_EXISTS`).
 */
export function validateSpecWith(drivers: readonly SinkDriver[], spec: StoredSinkSpec): SinkDriver {
  if (spec === null || typeof spec !== 'object') throw invalid('spec is required');
  if (typeof spec.name !== 'string' || spec.name === '') throw invalid('spec.name is required');
  if (!SINK_NAME_PATTERN.test(spec.name)) {
    throw invalid(`spec.name "${spec.name}" must be 1-64 letters, digits, "_" or "-", starting with a letter or digit`);
  }
  if (typeof spec.enabled !== 'boolean') throw invalid('spec.enabled must be true or false');
  const set = destinationsOf(drivers, spec);
  if (set.length > 1) throw invalid(`spec must set exactly one of ${set.map((d) => d.wireKey).join(' and ')}, not both`);
  if (set.length === 0) {
    const ops = drivers.filter((d) => d.opsApi).map((d) => d.wireKey);
    const others = drivers.filter((d) => !d.opsApi).map((d) => d.wireKey);
    throw invalid(`spec must set one of ${ops.join(' or ')}${others.length ? ` (or, through /api/v1/sinks, ${others.join(' or ')})` : ''}`);
  }
  const driver = set[0]!;
  driver.validate((spec as unknown as Record<string, unknown>)[driver.specKey], `spec.${driver.wireKey}`);
  if (spec.filter !== undefined) validateFilter(spec.filter, 'spec.filter');
  return driver;
}
