/**
 * Validators for the two published record profiles (schemas/*.schema.json): *accepted* (what
 * ingest takes: the seed samples verbatim) and *emitted* (what auditstream produces). Both also
 * refuse what no JSON Schema can express: a string or key that cannot be stored exactly (lone
 * surrogate, NUL) and nesting deeper than MAX_RECORD_DEPTH (see text.ts).
 *
 * Failures are reported as one `{ field, message }` pair a person can act on.
 */
import type { ValidateFunction } from 'ajv/dist/2020.js';
import { MAX_CALLER_IP_ENTRY_CHARS } from './caller-ip.js';
import { MAX_CALLER_IP_ENTRIES, MAX_RECORD_DEPTH, type RecordLimits } from './limits.js';
import { describeErrors, type DescribeOptions, type SchemaResult } from './schema-errors.js';
import { createSchemaCompiler, readSchema, type SchemaProfile } from './schema-files.js';
import { findTextProblem } from './text.js';

/** Validators for both profiles under one set of limits. */
export interface RecordValidators {
  validateAccepted(value: unknown): SchemaResult;
  validateEmitted(value: unknown): SchemaResult;
}

/**
 * Validators for non-default limits (e.g. a deployment that allows more proxy hops). The schema
 * files are compiled with `caller_ip_address`'s entry-count pattern rewritten to the setting.
 */
export function createRecordValidators(limits: Partial<RecordLimits> = {}): RecordValidators {
  const maxEntries = limits.maxCallerIpEntries ?? MAX_CALLER_IP_ENTRIES;
  if (!Number.isInteger(maxEntries) || maxEntries < 1) {
    throw new RangeError(`maxCallerIpEntries must be a positive integer, got ${String(maxEntries)}`);
  }
  const ajv = createSchemaCompiler();
  const compile = (profile: SchemaProfile): ValidateFunction => {
    const schema = structuredClone(readSchema(profile)) as { properties: Record<string, Record<string, unknown>> };
    const cip = schema.properties['caller_ip_address']!;
    if (maxEntries !== MAX_CALLER_IP_ENTRIES) {
      cip['pattern'] = callerIpPattern(maxEntries);
      // Room for `maxEntries` entries of the longest length buildCallerIpChain keeps, plus ", ".
      cip['maxLength'] = Math.max(Number(cip['maxLength']), maxEntries * (MAX_CALLER_IP_ENTRY_CHARS + 2));
    }
    return ajv.compile(schema);
  };
  let accepted: ValidateFunction | undefined;
  let emitted: ValidateFunction | undefined;
  return {
    validateAccepted: (value) => run(() => (accepted ??= compile('accepted')), value, { profile: 'accepted', maxCallerIpEntries: maxEntries }),
    validateEmitted: (value) => run(() => (emitted ??= compile('emitted')), value, { profile: 'emitted', maxCallerIpEntries: maxEntries }),
  };
}

/** The schema pattern allowing at most `n` comma-separated entries (linear-time: no overlap). */
export function callerIpPattern(n: number): string {
  return `^[^,]*(?:,[^,]*){0,${n - 1}}$`;
}

let defaults: RecordValidators | undefined;
const defaultValidators = (): RecordValidators => (defaults ??= createRecordValidators());

/**
 * Validates what ingest receives against the *accepted* profile (seed samples pass verbatim;
 * `version`, `caller_ip_address`, `log_id`... may be missing). Compiles on first call.
 */
export function validateAccepted(value: unknown): SchemaResult {
  return defaultValidators().validateAccepted(value);
}

/**
 * Validates a record auditstream is about to store or deliver against the *emitted* profile
 * (every field but `request_id`, canonical `emit_time`, `version` 1). Compiles on first call.
 */
export function validateEmitted(value: unknown): SchemaResult {
  return defaultValidators().validateEmitted(value);
}

function run(validator: () => ValidateFunction, value: unknown, opts: DescribeOptions): SchemaResult {
  // First: strings and depth, so that the schema never walks a pathological value.
  const text = findTextProblem(value, MAX_RECORD_DEPTH);
  if (text) return { ok: false, field: text.field, message: text.message };
  const validate = validator();
  if (validate(value)) return { ok: true };
  return describeErrors(validate.errors, '', opts);
}
