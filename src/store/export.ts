/**
 * Streaming export: walks the store page by page (keyset, oldest first) and yields text chunks,
 * so memory stays constant for any number of records.
 */
import type { AuditStore, QueryFilter, StoredRecord } from './store.js';

export type ExportFormat = 'json' | 'jsonl' | 'csv';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['json', 'jsonl', 'csv'];

/** A query result item: the record in the seeds' format and where it sits in the store. */
export interface RecordEnvelope {
  account_id: string;
  sequence: number;
  stored_at: string;
  ingested_by: string | null;
  record: Record<string, unknown>;
}

export function envelope(r: StoredRecord): RecordEnvelope {
  return {
    account_id: r.accountId,
    sequence: r.seq,
    stored_at: new Date(r.storedAt).toISOString(),
    ingested_by: r.ingestedBy,
    record: JSON.parse(r.recordJson) as Record<string, unknown>,
  };
}

/** Envelope JSON built from the stored text, without re-serializing the record (keeps its key order). */
function envelopeJson(r: StoredRecord): string {
  return `{"account_id":${JSON.stringify(r.accountId)},"sequence":${r.seq},"stored_at":"${new Date(r.storedAt).toISOString()}","ingested_by":${JSON.stringify(r.ingestedBy)},"record":${r.recordJson}}`;
}

export const CSV_COLUMNS = [
  'account_id', 'sequence', 'stored_at', 'ingested_by', 'emit_time', 'level', 'user_email', 'caller_ip_address', 'operation',
  'status', 'category', 'version', 'log_id', 'request_id', 'principal_id', 'principal_type', 'principal_name',
  'principal_api_key_id', 'details',
] as const;

export function csvField(v: unknown): string {
  const s = v === undefined || v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function csvRow(r: StoredRecord): string {
  const rec = JSON.parse(r.recordJson) as Record<string, unknown>;
  const p = (rec['principal'] ?? {}) as Record<string, unknown>;
  const values: unknown[] = [
    r.accountId, r.seq, new Date(r.storedAt).toISOString(), r.ingestedBy, rec['emit_time'], rec['level'], rec['user_email'],
    rec['caller_ip_address'], rec['operation'], rec['status'], rec['category'], rec['version'], rec['log_id'], rec['request_id'],
    p['id'], p['type'], p['name'], p['api_key_id'], rec['details'],
  ];
  return values.map(csvField).join(',') + '\r\n';
}

/** Every matching record, oldest first, `pageSize` rows in memory at a time. */
export async function* iterateRecords(store: AuditStore, filter: QueryFilter, pageSize = 1000, limit = Infinity): AsyncGenerator<StoredRecord> {
  let cursor: string | undefined;
  let sent = 0;
  for (;;) {
    const page = await store.query(filter, { order: 'asc', limit: pageSize, ...(cursor ? { cursor } : {}) });
    for (const r of page.items) {
      if (sent++ >= limit) return;
      yield r;
    }
    if (!page.nextCursor) return;
    cursor = page.nextCursor;
  }
}

/** Text chunks of an export in the given format. */
export async function* exportChunks(records: AsyncIterable<StoredRecord>, format: ExportFormat): AsyncGenerator<string> {
  if (format === 'csv') yield CSV_COLUMNS.join(',') + '\r\n';
  if (format === 'json') yield '[';
  let first = true;
  let buf = '';
  for await (const r of records) {
    if (format === 'csv') buf += csvRow(r);
    else if (format === 'jsonl') buf += envelopeJson(r) + '\n';
    else {
      buf += (first ? '\n' : ',\n') + envelopeJson(r);
      first = false;
    }
    // Hand out ~64 KiB at a time: fewer, larger writes.
    if (buf.length >= 65536) {
      yield buf;
      buf = '';
    }
  }
  if (buf) yield buf;
  if (format === 'json') yield first ? ']\n' : '\n]\n';
}
