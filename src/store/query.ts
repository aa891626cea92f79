/**
 * Query building shared by both engines: filters become a WHERE clause with `?` placeholders,
 * and pages are keyset-paginated on the global `id`, so a cursor stays valid (and pages stay
 * stable) however many records arrive meanwhile.
 */
import { createHash } from 'node:crypto';
import { AuditError } from '../errors.js';
import type { Page, PageRequest, QueryFilter, StoredRecord } from './store.js';

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

/** Columns selected for a `StoredRecord`. */
export const RECORD_COLUMNS =
  'id, account_id, seq, stored_at, prev_hash, hash, ingested_by, record_json, log_id, emit_ms, operation, user_email, principal_id, status, namespace';

export interface RecordRow {
  id: number;
  account_id: string;
  seq: number;
  stored_at: number;
  prev_hash: string;
  hash: string;
  ingested_by: string | null;
  record_json: string;
  log_id: string;
  emit_ms: number;
  operation: string;
  user_email: string;
  principal_id: string;
  status: string;
  namespace: string | null;
}

export function toStoredRecord(r: RecordRow): StoredRecord {
  return {
    id: Number(r.id),
    accountId: r.account_id,
    seq: Number(r.seq),
    storedAt: Number(r.stored_at),
    prevHash: r.prev_hash,
    hash: r.hash,
    ingestedBy: r.ingested_by,
    recordJson: r.record_json,
    columns: {
      logId: r.log_id,
      emitMs: Number(r.emit_ms),
      operation: r.operation,
      userEmail: r.user_email,
      principalId: r.principal_id,
      status: r.status,
      namespace: r.namespace,
    },
  };
}

export function whereClause(f: QueryFilter): { sql: string; params: unknown[] } {
  const parts: string[] = [];
  const params: unknown[] = [];
  const eq = (col: string, v: string | undefined) => {
    if (v !== undefined) {
      parts.push(`${col} = ?`);
      params.push(v);
    }
  };
  eq('account_id', f.accountId);
  eq('operation', f.operation);
  eq('user_email', f.userEmail);
  eq('principal_id', f.principalId);
  eq('status', f.status);
  eq('namespace', f.namespace);
  if (f.sinceMs !== undefined) {
    parts.push('emit_ms >= ?');
    params.push(f.sinceMs);
  }
  if (f.untilMs !== undefined) {
    parts.push('emit_ms < ?');
    params.push(f.untilMs);
  }
  return { sql: parts.length ? parts.join(' AND ') : '1=1', params };
}

interface CursorState {
  /** Key of the edge row. */
  k: number;
  /** `a`: rows after k in the page order; `b`: rows before k. */
  d: 'a' | 'b';
  /** Fingerprint of filter + order: a cursor is only valid for the query that made it. */
  f: string;
}

function fingerprint(f: QueryFilter, order: 'asc' | 'desc'): string {
  const keys = Object.keys(f).sort() as (keyof QueryFilter)[];
  const text = JSON.stringify([order, ...keys.filter((k) => f[k] !== undefined).map((k) => [k, f[k]])]);
  return createHash('sha256').update(text).digest('base64url').slice(0, 12);
}

function encodeCursor(c: CursorState): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

function decodeCursor(text: string, fp: string): CursorState {
  let c: unknown;
  try {
    c = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    c = undefined;
  }
  const s = c as Partial<CursorState> | undefined;
  if (!s || typeof s.k !== 'number' || !Number.isSafeInteger(s.k) || (s.d !== 'a' && s.d !== 'b') || typeof s.f !== 'string') {
    throw new AuditError('AS_ERR_INVALID_CURSOR', 'cursor is malformed: pass back a cursor exactly as a page returned it');
  }
  if (s.f !== fp) {
    throw new AuditError('AS_ERR_INVALID_CURSOR', 'cursor belongs to a query with other filters or order');
  }
  return s as CursorState;
}

export function pageLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
    throw new AuditError('AS_ERR_INVALID_ARGUMENT', `limit must be an integer from 1 to ${MAX_PAGE_SIZE}`);
  }
  return limit;
}

/** Rows next to the cursor a SQLite time-window page reads before it sorts the window's ids. */
const PROBE_ROWS = 1000;

/** Filters whose SQLite indexes are on the side table `audit_filter` (migration 0009). */
const FILTER_TABLE_FIELDS = ['operation', 'userEmail', 'principalId', 'status', 'namespace'] as const satisfies readonly (keyof QueryFilter)[];

/** One SELECT with `?` placeholders. */
export interface PageStatement {
  sql: string;
  params: unknown[];
}

/**
 * The SELECTs of one page, run in this order: `edge` (if any) reads the account's row next to
 * the cursor; only if its emit time is inside the window does `probe` run; if the probe fills the
 * page, that is the page, otherwise `main` is.
 */
export interface PagePlan {
  edge?: PageStatement;
  probe?: PageStatement;
  main: PageStatement;
  /**
   * The rows are checked against the filter again, after the query: the SQLite side table is
   * derived, not covered by the chain, and an edited row of it must not show a record to a filter
   * it does not match (another tenant's, say). In JavaScript, not SQL: a WHERE on the outer
   * SELECT let SQLite walk the account's rows instead of the ids found (p50 171 ms at 10 M).
   */
  recheck?: boolean;
}

/** What a page's SQL depends on once the cursor is decoded. */
export interface PageShape {
  /** The direction rows are read in (page order, reversed when walking "before" a cursor). */
  ascending: boolean;
  /** The cursor's edge id; the page holds rows past it. */
  after?: number;
  /** Rows per page (one more is read, to know whether another page follows). */
  limit: number;
}

/** The SQL of one page: shared by `runPagedQuery` and the benchmark, which explains it. */
export function planPage(filter: QueryFilter, shape: PageShape, engine: 'sqlite' | 'postgres'): PagePlan {
  const where = whereClause(filter);
  const { ascending, after, limit } = shape;
  const dir = ascending ? 'ASC' : 'DESC';
  const past = after === undefined ? '' : ascending ? ' AND id > ?' : ' AND id < ?';
  const afterParams = after === undefined ? [] : [after];
  const keys = `SELECT id FROM audit_records WHERE ${where.sql}${past}`;
  const params = [...where.params, ...afterParams, limit + 1];
  // A time window: take the ids from the (account_id, emit_ms, id) index, which holds them, sort
  // just those (`id + 0` keeps the planner off the id index) and fetch only the page's rows.
  // Measured over 10 M records (BENCHMARKS.md): SQLite 30 days 2,963 -> 41 ms, 24 h 38 -> 3 ms.
  // On PostgreSQL it pays only for a window with an end; an open-ended one stays a plain scan.
  const timeWindow = filter.untilMs !== undefined || (engine === 'sqlite' && filter.sinceMs !== undefined);
  if (!timeWindow && engine === 'sqlite' && filter.accountId !== undefined && FILTER_TABLE_FIELDS.some((k) => filter[k] !== undefined)) {
    // SQLite's filter indexes are on the side table `audit_filter` (src/store/sqlite/filter-table.ts),
    // which holds the records up to its mark; the records after it are read directly. One
    // statement, so both parts see the same snapshot, and they never overlap (rows above the mark,
    // left from before a rebuild moved it back, are not read).
    const side = `SELECT id FROM audit_filter WHERE ${where.sql}${past} AND id <= (SELECT id FROM audit_filter_mark) ORDER BY id ${dir} LIMIT ?`;
    const tail = `SELECT id FROM audit_records WHERE ${where.sql}${past} AND id > (SELECT id FROM audit_filter_mark) ORDER BY id ${dir} LIMIT ?`;
    return {
      main: {
        sql: `SELECT ${RECORD_COLUMNS} FROM audit_records WHERE id IN (SELECT id FROM (${side}) UNION ALL SELECT id FROM (${tail})) ORDER BY id ${dir} LIMIT ?`,
        params: [...params, ...params, limit + 1],
      },
      recheck: true,
    };
  }
  if (!timeWindow) {
    return { main: { sql: `SELECT ${RECORD_COLUMNS} FROM audit_records WHERE ${where.sql}${past} ORDER BY id ${dir} LIMIT ?`, params } };
  }
  const main = { sql: `SELECT ${RECORD_COLUMNS} FROM audit_records WHERE id IN (${keys} ORDER BY id + 0 ${dir} LIMIT ?) ORDER BY id ${dir}`, params };
  if (engine !== 'sqlite' || filter.accountId === undefined || limit >= PROBE_ROWS) return { main };
  // But a window holding the account's rows next to the cursor (the usual "last 30 days", newest
  // first) would sort every id of the window that way: a tenant's 200,000 over 30 days took
  // 73-99 ms at 10 M records on SQLite. The next PROBE_ROWS rows of the account in page order
  // are read first; if they fill the page, it is exact (they are contiguous from the cursor).
  // The probe runs only when the row next to the cursor is inside the window: one that ends
  // before it (a week, two weeks back) would read its 1,000 rows for nothing.
  const near = `SELECT * FROM audit_records WHERE account_id = ?${past} ORDER BY id ${dir}`;
  return {
    edge: {
      sql: `SELECT ${RECORD_COLUMNS} FROM audit_records WHERE account_id = ?${past} ORDER BY id ${dir} LIMIT 1`,
      params: [filter.accountId, ...afterParams],
    },
    probe: {
      sql: `SELECT ${RECORD_COLUMNS} FROM (${near} LIMIT ?) WHERE ${where.sql} ORDER BY id ${dir} LIMIT ?`,
      params: [filter.accountId, ...afterParams, PROBE_ROWS, ...where.params, limit + 1],
    },
    main,
  };
}

/** Whether a row matches the filter's equality terms (the side-table plan's re-check). */
function rowMatches(f: QueryFilter, r: RecordRow): boolean {
  return (
    (f.accountId === undefined || r.account_id === f.accountId) &&
    (f.operation === undefined || r.operation === f.operation) &&
    (f.userEmail === undefined || r.user_email === f.userEmail) &&
    (f.principalId === undefined || r.principal_id === f.principalId) &&
    (f.status === undefined || r.status === f.status) &&
    (f.namespace === undefined || r.namespace === f.namespace)
  );
}

/** Whether a row's emit time is inside the filter's window. */
export function inWindow(filter: QueryFilter, emitMs: number): boolean {
  return (filter.sinceMs === undefined || emitMs >= filter.sinceMs) && (filter.untilMs === undefined || emitMs < filter.untilMs);
}

/**
 * Runs a keyset-paginated query. `fetch` executes one SELECT (engine-specific placeholders are
 * the engine's business) and returns rows.
 */
export async function runPagedQuery(
  filter: QueryFilter,
  page: PageRequest,
  fetch: (sql: string, params: unknown[]) => Promise<RecordRow[]>,
  engine: 'sqlite' | 'postgres' = 'sqlite',
): Promise<Page> {
  const order = page.order ?? 'desc';
  if (order !== 'asc' && order !== 'desc') throw new AuditError('AS_ERR_INVALID_ARGUMENT', 'order must be asc or desc');
  const limit = pageLimit(page.limit);
  const fp = fingerprint(filter, order);
  const cursor = page.cursor ? decodeCursor(page.cursor, fp) : undefined;

  // Walking "after" in page order follows `order`; walking "before" runs the other way.
  const backwards = cursor?.d === 'b';
  const ascending = (order === 'asc') !== backwards;
  const plan = planPage(filter, { ascending, limit, ...(cursor ? { after: cursor.k } : {}) }, engine);
  let rows: RecordRow[] | undefined;
  if (plan.edge && plan.probe) {
    const [edge] = await fetch(plan.edge.sql, plan.edge.params);
    if (edge === undefined) rows = [];
    else if (inWindow(filter, Number(edge.emit_ms))) {
      const probe = await fetch(plan.probe.sql, plan.probe.params);
      if (probe.length > limit) rows = probe;
    }
  }
  rows ??= await fetch(plan.main.sql, plan.main.params);
  // Whether more follows is known from the rows read, before the re-check drops any: a side-table
  // row edited to match must not end the walk early and hide the matching records past it.
  const more = rows.length > limit;
  const lastRead = rows.length > 0 ? Number(rows[rows.length - 1]!.id) : undefined;
  if (plan.recheck) rows = rows.filter((r) => rowMatches(filter, r));
  if (rows.length > limit) rows.pop();
  if (backwards) rows.reverse();
  const items = rows.map(toStoredRecord);
  const result: Page = { items };
  if (items.length === 0) {
    // An empty page past either end: offer the way back only. One the re-check emptied with more
    // to read also offers the way on, from the last row read.
    if (cursor) result[backwards ? 'nextCursor' : 'prevCursor'] = encodeCursor({ k: cursor.k, d: backwards ? 'a' : 'b', f: fp });
    if (more && lastRead !== undefined) result[backwards ? 'prevCursor' : 'nextCursor'] = encodeCursor({ k: lastRead, d: backwards ? 'b' : 'a', f: fp });
    return result;
  }
  const first = items[0]!.id;
  const last = items[items.length - 1]!.id;
  const hasAfter = backwards ? true : more;
  const hasBefore = backwards ? more : cursor !== undefined;
  if (hasAfter) result.nextCursor = encodeCursor({ k: last, d: 'a', f: fp });
  if (hasBefore) result.prevCursor = encodeCursor({ k: first, d: 'b', f: fp });
  return result;
}
