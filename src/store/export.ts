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
  'account_id',
  'sequence',
  'stored_at',
  'ingested_by',
  'emit_time',
  'level',
  'user_email',
  'caller_ip_address',
  'operation',
  'status',
  'category',
  'version',
  'log_id',
  'request_id',
  'principal_id',
  'principal_type',
  'principal_name',
  'principal_api_key_id',
  'details',
] as const;

/**
 * Cells a spreadsheet would run as a formula (OWASP "CSV Injection"): starting with `=`, `+`,
 * `-`, `@`, tab or CR, plus LF and the full-width forms of the four signs, which some
 * spreadsheets also read as formula starts. Leading apostrophes are included so the escaping
 * stays reversible (see `csvField`).
 */
const FORMULA_START = /^'*[=+\-@\t\r\n\uFF1D\uFF0B\uFF0D\uFF20]/;

/**
 * One CSV cell: always quoted, `"` doubled (RFC 4180), and a value that could start a formula
 * prefixed with `'` so spreadsheets show it as text. Every column goes through here, whatever
 * its source, because any of them may carry client text (`request_id` from X-Request-Id,
 * `caller_ip_address` from X-Forwarded-For, ingested fields). Reversible: a cell matching
 * `^'+[=+\-@\t\r\n＝＋－＠]` had exactly one `'` added; every other cell is the stored value.
 */
export function csvField(v: unknown): string {
  const s = v === undefined || v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v);
  const safe = FORMULA_START.test(s) ? `'${s}` : s;
  return `"${safe.replace(/"/g, '""')}"`;
}

/** The stored value of a cell `csvField` wrote (after CSV unquoting): undoes the `'` prefix. */
export function csvCellValue(cell: string): string {
  return /^'+[=+\-@\t\r\n\uFF1D\uFF0B\uFF0D\uFF20]/.test(cell) ? cell.slice(1) : cell;
}

function csvRow(r: StoredRecord): string {
  const rec = JSON.parse(r.recordJson) as Record<string, unknown>;
  const p = (rec['principal'] ?? {}) as Record<string, unknown>;
  const values: unknown[] = [
    r.accountId,
    r.seq,
    new Date(r.storedAt).toISOString(),
    r.ingestedBy,
    rec['emit_time'],
    rec['level'],
    rec['user_email'],
    rec['caller_ip_address'],
    rec['operation'],
    rec['status'],
    rec['category'],
    rec['version'],
    rec['log_id'],
    rec['request_id'],
    p['id'],
    p['type'],
    p['name'],
    p['api_key_id'],
    rec['details'],
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
