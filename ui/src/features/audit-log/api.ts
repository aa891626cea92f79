/** GET /api/v1/audit-logs (one keyset page) and the export link of the same filters. */
import { keepPreviousData, queryOptions } from '@tanstack/react-query';
import { api, apiText, seg } from '../../lib/api-client';
import { apiQuery, type Filters } from './filters';

export interface AuditRecord {
  emit_time?: string;
  level?: string;
  user_email?: string;
  caller_ip_address?: string;
  operation?: string;
  details?: Record<string, unknown>;
  status?: string;
  category?: string;
  log_id?: string;
  request_id?: string;
  principal?: { id?: string; type?: string; name?: string; api_key_id?: string };
  [key: string]: unknown;
}
export interface Envelope {
  account_id: string;
  sequence: number;
  stored_at: string;
  ingested_by: string | null;
  record: AuditRecord;
}
export interface LogPage {
  items: Envelope[];
  next_cursor: string | null;
  prev_cursor: string | null;
}

export const PAGE_SIZE = 25;

export const logsQuery = (filters: Filters, cursor: string | undefined, live: boolean) =>
  queryOptions({
    queryKey: ['audit-logs', filters, cursor ?? null],
    queryFn: ({ signal }) =>
      api<LogPage>('GET', `/api/v1/audit-logs?${apiQuery(filters, { limit: String(PAGE_SIZE), ...(cursor ? { cursor } : {}) })}`, { signal }),
    placeholderData: keepPreviousData,
    // Live: the newest page is asked for again every second, so a new record shows within 2 s.
    refetchInterval: live && !cursor ? 1000 : false,
  });

/** One record's JSON exactly as stored (GET /api/v1/audit-logs/records/:log_id): never re-serialized. */
export const storedRecordQuery = (logId: string) =>
  queryOptions({
    queryKey: ['audit-log-record', logId],
    queryFn: ({ signal }) => apiText(`/api/v1/audit-logs/records/${seg(logId)}`, { signal }),
    // A stored record never changes.
    staleTime: Infinity,
  });

export function exportUrl(filters: Filters, format: 'jsonl' | 'csv'): string {
  return `/api/v1/audit-logs/export?${apiQuery(filters, { format })}`;
}
