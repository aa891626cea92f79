/**
 * The record and request limits, in one place. The record limits are defaults of settings
 * (`AUDITSTREAM_MAX_RECORD_BYTES`, `AUDITSTREAM_MAX_CALLER_IP_ENTRIES`); the nesting limits are
 * fixed, because they protect the server itself: JSON.stringify, canonical hashing and the
 * Struct conversion of the Ops API all recurse once per level.
 */

/** A record is at most 256 KiB encoded (default of a setting). */
export const MAX_RECORD_BYTES = 256 * 1024;

/** `caller_ip_address` holds at most 20 entries (default of a setting). */
export const MAX_CALLER_IP_ENTRIES = 20;

/**
 * Deepest nesting of any JSON body the HTTP server accepts: the body itself is level 1, each
 * object or array inside it one more. Deeper bodies are refused with 400 naming the field.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * Deepest nesting of one audit record: the record object is level 1, `details` level 2, so
 * `details` may hold 30 more levels. Checked on every ingested record, whatever its transport.
 */
export const MAX_RECORD_DEPTH = 32;

/** Record limits that are settings; the schema files hold the defaults. */
export interface RecordLimits {
  /** Most comma-separated entries in `caller_ip_address` (default 20). */
  maxCallerIpEntries: number;
}
