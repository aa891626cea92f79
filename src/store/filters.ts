/**
 * The query filters shared by `GET /api/v1/audit-logs` and `auditstream logs`: parsing their
 * text form (RFC 3339 or relative times like `24h`) into a `QueryFilter`.
 */
import { AuditError } from '../errors.js';
import { parseRfc3339 } from '../record/record.js';
import type { QueryFilter } from './store.js';

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** RFC 3339 (`2026-01-02T03:04:05Z`) or a duration back from now (`90s`, `30m`, `24h`, `7d`, `2w`). */
export function parseTimeBound(text: string, name: string, now = Date.now()): number {
  const rel = /^(\d+)([smhdw])$/.exec(text.trim());
  if (rel) return now - Number(rel[1]) * UNIT_MS[rel[2]!]!;
  const ms = parseRfc3339(text.trim());
  if (Number.isNaN(ms)) {
    throw new AuditError('AS_ERR_INVALID_ARGUMENT', `${name} must be RFC 3339 (2026-01-02T03:04:05Z) or relative like 24h or 7d, got "${text}"`);
  }
  return ms;
}

/** Text filters as they come from a query string or CLI flags (snake_case names). */
export interface FilterText {
  account?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
  operation?: string | undefined;
  user_email?: string | undefined;
  principal_id?: string | undefined;
  status?: string | undefined;
  namespace?: string | undefined;
}

export function parseFilter(t: FilterText, now = Date.now()): QueryFilter {
  const f: QueryFilter = {};
  const set = <K extends keyof QueryFilter>(k: K, v: QueryFilter[K] | undefined) => {
    if (v !== undefined && v !== '') f[k] = v;
  };
  set('accountId', t.account);
  set('operation', t.operation);
  set('userEmail', t.user_email);
  set('principalId', t.principal_id);
  set('namespace', t.namespace);
  if (t.status !== undefined && t.status !== '') {
    if (t.status !== 'OK' && t.status !== 'ERROR') throw new AuditError('AS_ERR_INVALID_ARGUMENT', `status must be OK or ERROR, got "${t.status}"`);
    f.status = t.status;
  }
  if (t.since) f.sinceMs = parseTimeBound(t.since, 'since', now);
  if (t.until) f.untilMs = parseTimeBound(t.until, 'until', now);
  if (f.sinceMs !== undefined && f.untilMs !== undefined && f.sinceMs >= f.untilMs) {
    throw new AuditError('AS_ERR_INVALID_ARGUMENT', 'since must be before until');
  }
  return f;
}
