/**
 * Ajv's errors as one `{ field, message }` pair a person can act on
 * (`level must be one of LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR`), never Ajv's raw list.
 */
import type { ErrorObject } from 'ajv/dist/2020.js';
import { concatPaths, joinPath, pointerToPath, shortenKey } from './field-path.js';
import { MAX_CALLER_IP_ENTRIES } from './limits.js';
import type { SchemaProfile } from './schema-files.js';

/** Outcome of a validation: the first problem found, named by a readable path. */
export type SchemaResult = { ok: true } | { ok: false; field: string; message: string };

/** Context for turning Ajv errors into sentences. */
export interface DescribeOptions {
  /** Which record profile was validated (picks the wording for `emit_time`). */
  profile?: SchemaProfile;
  maxCallerIpEntries?: number;
}

/**
 * Turns Ajv's errors into the first `{ field, message }`. `prefix` is prepended to the path
 * (`details` when validating a record's details on their own).
 */
export function describeErrors(errors: readonly ErrorObject[] | null | undefined, prefix = '', opts: DescribeOptions = {}): SchemaResult {
  const err = errors?.[0];
  if (err === undefined) return { ok: false, field: prefix, message: `${prefix || 'record'} is invalid` };
  return describeError(err, prefix, opts);
}

function describeError(err: ErrorObject, prefix: string, opts: DescribeOptions): { ok: false; field: string; message: string } {
  const base = concatPaths(prefix, pointerToPath(err.instancePath));
  const params = err.params as Record<string, unknown>;
  const subject = base === '' ? 'record' : base;
  const fail = (field: string, message: string) => ({ ok: false as const, field, message });
  switch (err.keyword) {
    case 'required': {
      const field = joinPath(base, String(params['missingProperty']));
      return fail(field, `${field} is required`);
    }
    case 'additionalProperties': {
      const key = shortenKey(String(params['additionalProperty']));
      return fail(joinPath(base, key), base === '' ? `unknown field ${JSON.stringify(key)}` : `unknown field ${JSON.stringify(key)} in ${base}`);
    }
    case 'type':
      return fail(base, `${subject} must be ${withArticle(String(params['type']))}`);
    case 'enum':
      return fail(base, `${subject} must be one of ${(params['allowedValues'] as unknown[]).map(String).join(', ')}`);
    case 'const':
      return fail(base, `${subject} must be ${JSON.stringify(params['allowedValue'])}`);
    case 'minLength':
      return fail(base, params['limit'] === 1 ? `${subject} must not be empty` : `${subject} must be at least ${String(params['limit'])} characters`);
    case 'maxLength':
      return fail(base, `${subject} must be at most ${String(params['limit'])} characters`);
    case 'minItems':
      return fail(base, `${subject} must have at least ${String(params['limit'])} item(s)`);
    case 'minimum':
      return fail(base, `${subject} must be at least ${String(params['limit'])}`);
    case 'maximum':
      return fail(base, `${subject} must be at most ${String(params['limit'])}`);
    case 'maxItems':
      return fail(base, `${subject} must have at most ${String(params['limit'])} items`);
    case 'pattern':
    case 'format':
      return fail(base, `${subject} ${formatExpectation(base, err, opts)}`);
    default:
      return fail(base, `${subject} ${err.message ?? 'is invalid'}`);
  }
}

/** Human wording of a pattern/format failure, by field where the raw regex would mean nothing. */
function formatExpectation(field: string, err: ErrorObject, opts: DescribeOptions): string {
  if (field === 'emit_time') {
    return opts.profile === 'emitted'
      ? 'must be an RFC 3339 UTC time with whole seconds (YYYY-MM-DDTHH:MM:SSZ)'
      : 'must be an RFC 3339 timestamp with a time zone, e.g. 2023-11-14T07:56:55Z';
  }
  if (field === 'log_id') return 'must be 32 lowercase letters or digits';
  if (field === 'caller_ip_address') {
    return `must have at most ${opts.maxCallerIpEntries ?? MAX_CALLER_IP_ENTRIES} comma-separated entries`;
  }
  const params = err.params as Record<string, unknown>;
  if (err.keyword === 'format') return `must be a valid ${String(params['format'])}`;
  return `must match the pattern ${String(params['pattern'])}`;
}

function withArticle(type: string): string {
  const words = type.split(',').map((t) => (/^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`));
  return words.join(' or ');
}
