/**
 * The audit record, exactly as Temporal Cloud's Audit Logging guide prints it (docs/record-format.md).
 *
 * Two shapes exist: what ingest *accepts* (the seed samples verbatim: `version` and
 * `caller_ip_address` may be missing) and what auditstream *emits* (every field but `request_id`
 * present, keys in the seed's documented order). `normalizeRecord` turns the first into the
 * second; `serializeRecord` writes it with that key order.
 */
import { randomFillSync } from 'node:crypto';
import { MAX_RECORD_BYTES } from './limits.js';
import type { SchemaResult } from './schema-errors.js';

export const RECORD_VERSION = 1;

export const LEVELS = ['LOG_LEVEL_INFO', 'LOG_LEVEL_WARN', 'LOG_LEVEL_ERROR'] as const;
export type Level = (typeof LEVELS)[number];

export const STATUSES = ['OK', 'ERROR'] as const;
export type Status = (typeof STATUSES)[number];

export const CATEGORIES = ['LOG_CATEGORY_ADMIN', 'LOG_CATEGORY_SYSTEM'] as const;
export type Category = (typeof CATEGORIES)[number];

/** Temporal's `auditlog.v1.Principal`, plus the API key a call was made with. */
export interface Principal {
  id: string;
  type: string;
  name: string;
  api_key_id?: string;
}

/** A record as emitted: every field but `request_id` present. */
export interface AuditRecord {
  emit_time: string;
  level: Level;
  user_email: string;
  caller_ip_address: string;
  operation: string;
  details: Record<string, unknown>;
  status: Status;
  category: Category;
  version: number;
  log_id: string;
  principal: Principal;
  request_id?: string;
}

/** A record as ingest accepts it (already validated against the accepted schema). */
export type AcceptedRecord = Partial<AuditRecord> & Pick<AuditRecord, 'emit_time' | 'level' | 'operation' | 'status' | 'category' | 'principal'>;

/** Key order on output: the field list of the Audit Logging guide (docs/record-format.md). */
export const FIELD_ORDER = [
  'emit_time',
  'level',
  'user_email',
  'caller_ip_address',
  'operation',
  'details',
  'status',
  'category',
  'version',
  'log_id',
  'principal',
  'request_id',
] as const satisfies readonly (keyof AuditRecord)[];

const PRINCIPAL_ORDER = ['id', 'type', 'name', 'api_key_id'] as const;

const LOG_ID_ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';
export const LOG_ID_PATTERN = /^[0-9a-z]{32}$/;

/**
 * Random bytes for log ids, drawn from the CSPRNG 8 KiB at a time: one `randomBytes(32)` call
 * per record cost ~10 % of ingest time, almost all of it per-call overhead. Every byte is used
 * once; the pool is module state, never shared with anything else.
 */
const pool = Buffer.alloc(8192);
let poolAt = pool.length;

function randomByte(): number {
  if (poolAt === pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  return pool[poolAt++]!;
}

/** Characters of a new `log_id` that hold its creation time (base 36 milliseconds: until year 5138). */
const LOG_ID_TIME_CHARS = 9;

/**
 * A new `log_id`: 32 lowercase alphanumerics like the seed samples. The first 9 are the creation
 * time (milliseconds, base 36), the other 23 random (~119 bits). Time first, so that the ids a
 * server assigns land at the end of each account's unique (account_id, log_id) index, as
 * sequences do: random ones spread every commit's inserts over that whole index, one page each
 * (random ids cost the driver alone 13-22 % of its insert rate into the store's table as it was
 * before decision 0025, in two runs of bench/index-cost.ts).
 */
export function newLogId(now: number = Date.now()): string {
  let out = Math.floor(now).toString(36).padStart(LOG_ID_TIME_CHARS, '0').slice(-LOG_ID_TIME_CHARS);
  while (out.length < 32) {
    const b = randomByte();
    // 252 = 7 * 36: rejecting bytes >= 252 keeps every character equally likely.
    if (b < 252) out += LOG_ID_ALPHABET[b % 36];
  }
  return out;
}

/** RFC 3339 UTC with whole seconds, as in the seeds: `2023-11-14T07:56:55Z`. */
export function formatEmitTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Parses an RFC 3339 timestamp to epoch milliseconds; NaN when malformed. */
export function parseRfc3339(text: string): number {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i.test(text)) return NaN;
  return Date.parse(text);
}

/**
 * `emit_time` in the emitted form (whole UTC seconds, `Z`): the accepted profile also takes
 * fractional seconds and offsets. Already-canonical text is returned unchanged (byte-for-byte
 * seeds); unparsable text is returned as is, for the emitted schema to refuse.
 */
export function canonicalEmitTime(text: string): string {
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/.test(text)) return text;
  const ms = parseRfc3339(text);
  return Number.isNaN(ms) ? text : formatEmitTime(Math.floor(ms / 1000) * 1000);
}

/** Fills what the accepted profile lets a client omit, giving the emitted shape. */
export function normalizeRecord(input: AcceptedRecord, logId: string = input.log_id ?? newLogId()): AuditRecord {
  const out: AuditRecord = {
    emit_time: canonicalEmitTime(input.emit_time),
    level: input.level,
    user_email: input.user_email ?? '',
    caller_ip_address: input.caller_ip_address ?? '',
    operation: input.operation,
    details: input.details ?? {},
    status: input.status,
    category: input.category,
    version: input.version ?? RECORD_VERSION,
    log_id: logId,
    principal: orderPrincipal(input.principal),
  };
  if (input.request_id !== undefined && input.request_id !== '') out.request_id = input.request_id;
  return out;
}

function orderPrincipal(p: Principal): Principal {
  const out: Record<string, unknown> = {};
  const src = p as unknown as Record<string, unknown>;
  for (const k of PRINCIPAL_ORDER) if (src[k] !== undefined) out[k] = src[k];
  for (const k of Object.keys(src)) if (!(k in out)) out[k] = src[k];
  return out as unknown as Principal;
}

/** JSON text of a record with keys in the seed order (the byte-for-byte wire form). */
export function serializeRecord(record: AuditRecord): string {
  const src = record as unknown as Record<string, unknown>;
  // A normalized record already holds its fields in this order (normalizeRecord builds it so):
  // serialize it as it is instead of copying it first.
  if (inFieldOrder(src)) return JSON.stringify(src);
  const ordered: Record<string, unknown> = {};
  for (const k of FIELD_ORDER) if (src[k] !== undefined) ordered[k] = src[k];
  return JSON.stringify(ordered);
}

/** Whether `src` holds only fields of FIELD_ORDER, in that order, none undefined. */
function inFieldOrder(src: Record<string, unknown>): boolean {
  let j = 0;
  for (const k of Object.keys(src)) {
    while (j < FIELD_ORDER.length && FIELD_ORDER[j] !== k) j++;
    if (j === FIELD_ORDER.length || src[k] === undefined) return false;
    j++;
  }
  return true;
}

/** UTF-8 length of a record's wire form: what the 256 KiB limit measures. */
export function recordByteLength(record: AuditRecord): number {
  return Buffer.byteLength(serializeRecord(record), 'utf8');
}

/** Refuses a record whose encoded form exceeds the limit (256 KiB by default). */
export function checkRecordSize(record: AuditRecord, maxBytes: number = MAX_RECORD_BYTES): SchemaResult {
  const size = recordByteLength(record);
  if (size <= maxBytes) return { ok: true };
  return { ok: false, field: '', message: `record is ${size} bytes encoded, over the limit of ${maxBytes} bytes` };
}

/** The namespace a record concerns, if any (indexed for queries). */
export function recordNamespace(record: AuditRecord): string | null {
  const ns = record.details['namespace'];
  return typeof ns === 'string' && ns !== '' ? ns : null;
}
