/**
 * Compiled validators for the two published record profiles (schemas/*.schema.json):
 * *accepted* (what ingest takes: the seed samples verbatim) and *emitted* (what auditstream
 * produces). The JSON files are the single source of truth; they are read from the repository's
 * `schemas/` folder at first use, so what is published is exactly what is enforced.
 *
 * Failures are reported as one `{ field, message }` pair a person can act on
 * (`level must be one of LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR`), not Ajv's raw errors.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv2020Module from 'ajv/dist/2020.js';
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { MAX_CALLER_IP_ENTRIES, MAX_RECORD_BYTES, serializeRecord, type AuditRecord } from './record.js';
import { MAX_CALLER_IP_ENTRY_CHARS } from './caller-ip.js';

export { MAX_CALLER_IP_ENTRIES, MAX_RECORD_BYTES };

/** Outcome of a validation: the first problem found, named by a readable path. */
export type SchemaResult = { ok: true } | { ok: false; field: string; message: string };

/** The two published profiles. */
export type SchemaProfile = 'accepted' | 'emitted';

/** A JSON Schema document as parsed JSON. */
export type JsonSchema = { readonly [key: string]: unknown };

// ajv and ajv-formats are CommonJS with `exports.default`; under NodeNext the default import is
// `module.exports`, which is the class/function itself at run time but typed as the namespace.
type Ajv2020Ctor = typeof Ajv2020Module.default;
const Ajv2020: Ajv2020Ctor =
  (Ajv2020Module as unknown as { default?: Ajv2020Ctor }).default ?? (Ajv2020Module as unknown as Ajv2020Ctor);
type AddFormats = typeof addFormatsModule.default;
const addFormats: AddFormats =
  (addFormatsModule as unknown as { default?: AddFormats }).default ?? (addFormatsModule as unknown as AddFormats);

/** An Ajv instance configured as every auditstream schema expects (draft 2020-12, formats, strict). */
export type SchemaCompiler = InstanceType<Ajv2020Ctor>;

/** A new Ajv for auditstream schemas: strict mode, first error only, RFC 3339 and other formats. */
export function createSchemaCompiler(): SchemaCompiler {
  const ajv = new Ajv2020({ strict: true, allErrors: false, allowUnionTypes: true });
  addFormats(ajv);
  return ajv;
}

/**
 * The repository root: the nearest folder at or above `start` holding package.json. Sources run
 * from dist/src/record/ after compilation, so a fixed relative path would be wrong in one layout.
 */
export function findRepoRoot(start: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = start;
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json found at or above ${start}`);
    dir = parent;
  }
}

/** Absolute path of a published schema file (also what an API would serve). */
export function schemaPath(profile: SchemaProfile): string {
  return join(findRepoRoot(), 'schemas', `audit-record.${profile}.schema.json`);
}

const schemaCache = new Map<SchemaProfile, JsonSchema>();

/** The parsed schema document of a profile, read once and deep-frozen (shared by every caller). */
export function readSchema(profile: SchemaProfile): JsonSchema {
  let schema = schemaCache.get(profile);
  if (schema === undefined) {
    schema = deepFreeze(JSON.parse(readFileSync(schemaPath(profile), 'utf8')) as JsonSchema);
    schemaCache.set(profile, schema);
  }
  return schema;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** Record limits that are settings (docs/decisions/0004); the schema files hold the defaults. */
export interface RecordLimits {
  /** Most comma-separated entries in `caller_ip_address` (default 20). */
  maxCallerIpEntries: number;
}

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
    validateAccepted: (value) =>
      run((accepted ??= compile('accepted')), value, { profile: 'accepted', maxCallerIpEntries: maxEntries }),
    validateEmitted: (value) =>
      run((emitted ??= compile('emitted')), value, { profile: 'emitted', maxCallerIpEntries: maxEntries }),
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

/** UTF-8 length of a record's wire form: what the 256 KiB limit measures. */
export function recordByteLength(record: AuditRecord): number {
  return Buffer.byteLength(serializeRecord(record), 'utf8');
}

/** Refuses a record whose encoded form exceeds the limit (docs/decisions/0004: 256 KiB by default). */
export function checkRecordSize(record: AuditRecord, maxBytes: number = MAX_RECORD_BYTES): SchemaResult {
  const size = recordByteLength(record);
  if (size <= maxBytes) return { ok: true };
  return { ok: false, field: '', message: `record is ${size} bytes encoded, over the limit of ${maxBytes} bytes` };
}

function run(validate: ValidateFunction, value: unknown, opts: DescribeOptions): SchemaResult {
  if (validate(value)) return { ok: true };
  return describeErrors(validate.errors, '', opts);
}

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
export function describeErrors(
  errors: readonly ErrorObject[] | null | undefined,
  prefix = '',
  opts: DescribeOptions = {},
): SchemaResult {
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
      const key = shorten(String(params['additionalProperty']));
      return fail(joinPath(base, key), base === '' ? `unknown field ${JSON.stringify(key)}` : `unknown field ${JSON.stringify(key)} in ${base}`);
    }
    case 'type':
      return fail(base, `${subject} must be ${withArticle(String(params['type']))}`);
    case 'enum':
      return fail(base, `${subject} must be one of ${(params['allowedValues'] as unknown[]).map(String).join(', ')}`);
    case 'const':
      return fail(base, `${subject} must be ${JSON.stringify(params['allowedValue'])}`);
    case 'minLength':
      return fail(
        base,
        params['limit'] === 1 ? `${subject} must not be empty` : `${subject} must be at least ${String(params['limit'])} characters`,
      );
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

/** Keys come from the client: keep messages one short line whatever they send. */
function shorten(key: string): string {
  return key.length > 64 ? `${key.slice(0, 63)}…` : key;
}

/** `/details/target_users/0` → `details.target_users[0]`; odd keys are quoted. */
function pointerToPath(pointer: string): string {
  if (pointer === '') return '';
  let out = '';
  for (const raw of pointer.slice(1).split('/')) {
    const seg = shorten(raw.replace(/~1/g, '/').replace(/~0/g, '~'));
    out = joinPath(out, seg);
  }
  return out;
}

function concatPaths(a: string, b: string): string {
  if (a === '' || b === '') return a + b;
  return b.startsWith('[') ? a + b : `${a}.${b}`;
}

/** Appends one raw key or index to a readable path. */
function joinPath(base: string, seg: string): string {
  if (/^(0|[1-9]\d*)$/.test(seg)) return `${base}[${seg}]`;
  const key = /^[A-Za-z_$][\w$-]*$/.test(seg) ? seg : JSON.stringify(seg);
  if (key.startsWith('"')) return `${base}[${key}]`;
  return base === '' ? key : `${base}.${key}`;
}
