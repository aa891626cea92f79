/**
 * Where a stored record came from. The record itself is exactly what was written (and hashed),
 * so provenance lives beside it: `ingested_by` is `null` for records auditstream's control plane
 * wrote, `apikey:<id>`, `user:<id>` or `token:deployment` for records stored through ingest.
 *
 * Temporal's `auditlog.v1.LogRecord` has no field for it, so the Ops API (`GetAuditLogs`) shows
 * it inside `raw_details` under a reserved key, present on every record: ingest refuses records
 * whose `details` already use that key, so its presence and value always come from auditstream.
 */

/** The reserved `details` key under which `GetAuditLogs` shows a record's provenance. */
export const PROVENANCE_DETAILS_KEY = 'auditstream_ingested_by';
