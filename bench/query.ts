/**
 * Query benchmark: p50/p99 of filtered first pages and of deep pages over BENCH_QUERY_RECORDS
 * stored records (default 10,000,000) per engine.
 *
 * Data set: 50 tenants, 20 users each (1,000 emails), 15 operations with skewed weights, 4
 * namespaces per tenant, 2 % ERROR, emit times spread over 30 days in arrival order (± 2 min
 * jitter), tenants interleaved record by record as concurrent ingest would leave them.
 *
 * Load path: rows are made by the store's own chain code (`ChainRowFactory`), so every account
 * is a valid hash chain with its head stored, and inserted with the driver in large
 * transactions (better-sqlite3 prepared insert; PostgreSQL `INSERT ... SELECT FROM json_to_recordset`), the secondary
 * indexes dropped during the load and then rebuilt from the store's own migration statements, the
 * way a restore does it. One generation pass feeds both engines: SQLite inserts on the main
 * thread while PostgreSQL inserts the previous chunk on its own core.
 */
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import type pg from 'pg';
import { buildApp } from '../src/api/app.js';
import { resolveConfig } from '../src/config.js';
import { verifyAccount } from '../src/chain/verify.js';
import { inWindow, planPage } from '../src/store/query.js';
import { MIGRATIONS } from '../src/store/migrations/index.js';
import { FilterFill } from '../src/store/sqlite/filter-table.js';
import type { AppendBatch, AuditStore, PageRequest, QueryFilter } from '../src/store/store.js';
import { CHAIN_ROW_COLUMNS, chainRowValues, type ChainRow } from '../src/store/chain-append.js';
import {
  buildRecord,
  ChainRowFactory,
  createBenchDb,
  LogIds,
  percentile,
  PG_JSON_INSERT,
  pgJsonParam,
  progress,
  settings,
  ShapeSource,
  uuidOf,
  type BenchDb,
  type Engine,
} from './common.js';

export const ACCOUNTS = 50;
export const USERS_PER_ACCOUNT = 20;
export const NAMESPACES_PER_ACCOUNT = 4;
const DAY = 86_400_000;
const SPAN_MS = 30 * DAY;
const LOAD_CHUNK = 10_000;
const TOKEN = 'bench-query-token-0123456789abcdef';
const fmtInt = (n: number) => n.toLocaleString('en-US');

export const accountName = (a: number) => `acct-${String(a).padStart(2, '0')}`;
const emailOf = (a: number, j: number) => `user${String(a + ACCOUNTS * j).padStart(4, '0')}@example.com`;

export interface QueryCaseResult {
  name: string;
  kind: 'first page' | 'deep page';
  via: 'library' | 'http';
  iterations: number;
  /** Rows per page returned (mean). */
  rows: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** How deep the timed page is (records skipped), for deep pages. */
  depth?: string;
  /** The plan the engine chose for this query shape. */
  plan?: string;
}

export interface EngineQueryResult {
  engine: Engine;
  records: number;
  /** Wall time of the load (shared generation pass), index build and the rest. */
  /**
   * Seconds of this engine's load phases. SQLite runs on the benchmark's thread, so its figures are
   * its own time; PostgreSQL works concurrently on the other core, so its insert and index figures
   * are how long the load *waited* for it beyond the other work (`concurrent: true`).
   */
  load: { insertSeconds: number; indexSeconds: number; finishSeconds: number; concurrent: boolean; reused: boolean; note: string };
  verify: { account: string; records: number; seconds: number; ok: boolean };
  dbBytes?: number;
  cases: QueryCaseResult[];
}

export interface QueryResults {
  date: string;
  records: number;
  iterations: number;
  /** Time budget of one query row, seconds. */
  caseSeconds: number;
  /** The shared load pass (zero when every database was reused). */
  load: { wallSeconds: number; generateSeconds: number; insertPhaseSeconds: number; indexPhaseSeconds: number; finishPhaseSeconds: number };
  engines: EngineQueryResult[];
}

// ---------------------------------------------------------------------------------------------
// Load

/**
 * The indexes of the records' tables once every migration has run (the unique ones included; an
 * index a later migration drops is left out): CREATE INDEX statements on `audit_records` and, on
 * SQLite, on its filter side table `audit_filter`.
 */
function indexStatements(migrationSql: string): { name: string; sql: string }[] {
  const out = new Map<string, string>();
  for (const m of migrationSql.matchAll(/CREATE (?:UNIQUE )?INDEX (\w+) ON audit_(?:records|filter)[^;]*;|DROP INDEX (\w+);/g)) {
    if (m[2]) out.delete(m[2]);
    else out.set(m[1]!, m[0]);
  }
  return [...out].map(([name, sql]) => ({ name, sql }));
}

interface Loader {
  engine: Engine;
  insert(rows: ChainRow[]): Promise<void>;
  insertSeconds: number;
  dropIndexes(): Promise<void>;
  createIndex(i: number): Promise<void>;
  indexCount: number;
  indexSeconds: number;
  finish(heads: Map<string, { seq: number; hash: string }>): Promise<void>;
  finishSeconds: number;
  close(): Promise<void>;
}

function sqliteLoader(path: string): Loader {
  const d = new Database(path);
  d.pragma('journal_mode = WAL');
  d.pragma('synchronous = NORMAL');
  d.pragma('cache_size = -1000000');
  d.pragma('temp_store = MEMORY');
  const indexes = indexStatements(MIGRATIONS.map((m) => m.sqlite).join('\n'));
  const stmt = d.prepare(`INSERT INTO audit_records (${CHAIN_ROW_COLUMNS}) VALUES (${new Array(14).fill('?').join(',')})`);
  const insertAll = d.transaction((rows: ChainRow[]) => {
    for (const r of rows) stmt.run(...chainRowValues(r));
  });
  const l: Loader = {
    engine: 'sqlite',
    insertSeconds: 0,
    indexSeconds: 0,
    finishSeconds: 0,
    indexCount: indexes.length,
    insert: async (rows) => {
      const t = performance.now();
      insertAll(rows);
      l.insertSeconds += (performance.now() - t) / 1000;
    },
    dropIndexes: async () => {
      for (const ix of indexes) d.exec(`DROP INDEX IF EXISTS ${ix.name}`);
    },
    createIndex: async (i) => {
      const t = performance.now();
      // The filter side table (migration 0009) as the store's fills leave it, every record in
      // it, filled before its indexes are built.
      if (i === 0) new FilterFill(d).fillAll();
      d.exec(indexes[i]!.sql);
      l.indexSeconds += (performance.now() - t) / 1000;
    },
    finish: async (heads) => {
      const t = performance.now();
      const up = d.prepare(
        'INSERT INTO chain_heads (account_id, seq, hash) VALUES (?, ?, ?) ON CONFLICT (account_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash',
      );
      d.transaction(() => {
        for (const [a, h] of heads) up.run(a, h.seq, h.hash);
      })();
      // The store never runs ANALYZE on SQLite, so neither does the load: plans are the ones a
      // real deployment gets.
      d.pragma('wal_checkpoint(TRUNCATE)');
      l.finishSeconds += (performance.now() - t) / 1000;
    },
    close: async () => {
      d.close();
    },
  };
  return l;
}

async function pgLoader(db: BenchDb): Promise<Loader> {
  const c: pg.Client = await db.pgClient();
  // A bulk load: commits need not wait for the WAL flush; the CHECKPOINT at the end makes it durable.
  await c.query('SET synchronous_commit = off');
  await c.query("SET maintenance_work_mem = '1GB'");
  const indexes = indexStatements(MIGRATIONS.map((m) => m.postgres).join('\n'));
  const l: Loader = {
    engine: 'postgres',
    insertSeconds: 0,
    indexSeconds: 0,
    finishSeconds: 0,
    indexCount: indexes.length,
    // Insert and index times are measured by `load` as time spent waiting for PostgreSQL.
    insert: async (rows) => {
      await c.query(PG_JSON_INSERT, [pgJsonParam(rows)]);
    },
    dropIndexes: async () => {
      for (const ix of indexes) await c.query(`DROP INDEX IF EXISTS ${ix.name}`);
    },
    createIndex: async (i) => {
      await c.query(indexes[i]!.sql);
    },
    finish: async (heads) => {
      const t = performance.now();
      await c.query(
        `INSERT INTO chain_heads (account_id, seq, hash) SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[])
         ON CONFLICT (account_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash`,
        [[...heads.keys()], [...heads.values()].map((h) => h.seq), [...heads.values()].map((h) => h.hash)],
      );
      // What autovacuum does after a load this size: statistics and the visibility map.
      await c.query('VACUUM (ANALYZE) audit_records');
      await c.query('CHECKPOINT');
      l.finishSeconds += (performance.now() - t) / 1000;
    },
    close: async () => c.end(),
  };
  return l;
}

/**
 * Generates `n` records once and inserts every chunk into each loader, then rebuilds the indexes
 * and finishes each engine. Generation is the store's chain code: canonical JSON, SHA-256,
 * serialization.
 */
async function load(loaders: Loader[], n: number): Promise<QueryResults['load']> {
  const shapes = new ShapeSource(ACCOUNTS, USERS_PER_ACCOUNT, NAMESPACES_PER_ACCOUNT, 20260101);
  const factory = new ChainRowFactory();
  const ids = new LogIds();
  const jitter = (() => {
    let x = 12345;
    return () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) % 240_000) - 120_000;
  })();
  const end = Math.floor(Date.now() / 3_600_000) * 3_600_000;
  const start = end - SPAN_MS;
  let generateSeconds = 0;
  let pending: Promise<void>[] = [];
  const pg = loaders.find((l) => l.engine === 'postgres');
  const waitFor = async (work: Promise<void>[], phase: 'insert' | 'index') => {
    const t = performance.now();
    await Promise.all(work);
    if (pg) pg[phase === 'insert' ? 'insertSeconds' : 'indexSeconds'] += (performance.now() - t) / 1000;
  };
  const t0 = performance.now();
  let lastReport = t0;
  for (const l of loaders) await l.dropIndexes();
  for (let i = 0; i < n; i += LOAD_CHUNK) {
    const tg = performance.now();
    const size = Math.min(LOAD_CHUNK, n - i);
    const order: string[] = new Array(size);
    const perAccount = new Map<number, AppendBatch>();
    for (let k = 0; k < size; k++) {
      const g = i + k;
      const a = shapes.pickAccount();
      const emitMs = Math.min(end - 1000, Math.max(start, start + Math.floor((g * SPAN_MS) / n) + jitter()));
      const logId = ids.next();
      const record = buildRecord(shapes.shape(a, Math.floor(emitMs / 1000) * 1000), logId, g);
      let b = perAccount.get(a);
      if (!b) perAccount.set(a, (b = { accountId: accountName(a), records: [], ingestedBy: 'bench:load' }));
      b.records.push(record);
      order[k] = logId;
    }
    const storedAt = start + Math.floor(((i + size) * SPAN_MS) / n) + 2000;
    const rows = await factory.rows([...perAccount.values()], storedAt);
    // Back to arrival order: tenants interleaved record by record.
    const byLogId = new Map(rows.map((r) => [r.logId, r]));
    const ordered = order.map((id) => byLogId.get(id)!);
    generateSeconds += (performance.now() - tg) / 1000;
    // Wait for the previous chunk's asynchronous inserts (PostgreSQL) before queuing more.
    await waitFor(pending, 'insert');
    pending = loaders.map((l) => l.insert(ordered));
    if (performance.now() - lastReport > 15_000) {
      lastReport = performance.now();
      const rate = (i + size) / ((lastReport - t0) / 1000);
      progress(`  load: ${i + size}/${n} rows, ${Math.round(rate)} rows/s, ETA ${Math.round((n - i - size) / rate)} s`);
    }
  }
  await waitFor(pending, 'insert');
  const t1 = performance.now();
  progress(`  load: ${n} rows inserted in ${((t1 - t0) / 1000).toFixed(0)} s; building indexes`);
  const indexCount = Math.max(...loaders.map((l) => l.indexCount));
  for (let i = 0; i < indexCount; i++) {
    // PostgreSQL builds on its own core while SQLite builds on this thread.
    const pgBuild = loaders.filter((l) => l.engine === 'postgres' && i < l.indexCount).map((l) => l.createIndex(i));
    for (const l of loaders) if (l.engine === 'sqlite' && i < l.indexCount) await l.createIndex(i);
    await waitFor(pgBuild, 'index');
  }
  const t2 = performance.now();
  progress(`  load: indexes built in ${((t2 - t1) / 1000).toFixed(0)} s; heads, statistics, checkpoint`);
  for (const l of loaders) await l.finish(factory.heads);
  const t3 = performance.now();
  return {
    wallSeconds: (t3 - t0) / 1000,
    generateSeconds,
    insertPhaseSeconds: (t1 - t0) / 1000,
    indexPhaseSeconds: (t2 - t1) / 1000,
    finishPhaseSeconds: (t3 - t2) / 1000,
  };
}

// ---------------------------------------------------------------------------------------------
// Queries

interface Case {
  name: string;
  kind: 'first page' | 'deep page';
  via?: 'http';
  /** The query of iteration `k`. */
  at(k: number): { filter: QueryFilter; page: PageRequest };
  depth?: string;
}

/** Walks `filter` (newest first) with pages of 1000 to a cursor `skip` records deep, or near the oldest end. */
async function deepCursor(store: AuditStore, filter: QueryFilter, skip: number | 'oldest'): Promise<{ cursor: string; depth: number } | undefined> {
  let cursor: string | undefined;
  let depth = 0;
  for (;;) {
    const want = skip === 'oldest' ? 1000 : Math.min(1000, skip - depth);
    if (want <= 0) break;
    const page = await store.query(filter, { limit: want, ...(cursor ? { cursor } : {}) });
    if (!page.nextCursor) {
      // `cursor` now leads to the oldest (last) page: at most 1000 records remain after it.
      if (skip === 'oldest') return cursor ? { cursor, depth } : undefined;
      return undefined;
    }
    depth += page.items.length;
    cursor = page.nextCursor;
  }
  return cursor ? { cursor, depth } : undefined;
}

/**
 * The SQL `runPagedQuery` runs for a newest-first page, explained by the engine: the statement
 * that serves the page (a SQLite time window's probe when the row next to the cursor is inside
 * the window and the probe fills the page, as the store decides).
 */
async function explain(store: AuditStore, filter: QueryFilter, cursor: string | undefined): Promise<string> {
  // The cursor is opaque to clients; the benchmark peeks at its key to explain the same query.
  const after = cursor ? (JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { k: number }).k : undefined;
  const plan = planPage(filter, { ascending: false, limit: 100, ...(after !== undefined ? { after } : {}) }, store.engine);
  let chosen = plan.main;
  let prefix = '';
  if (plan.edge && plan.probe) {
    const edge = await store.sql.get<{ emit_ms: number }>(plan.edge.sql, plan.edge.params);
    const inside = edge !== undefined && inWindow(filter, Number(edge.emit_ms));
    const probed = inside ? await store.sql.all(plan.probe.sql, plan.probe.params) : [];
    if (probed.length > 100) {
      chosen = plan.probe;
      prefix = 'probe of the 1,000 rows next to the cursor: ';
    } else prefix = inside ? 'probe did not fill the page, then: ' : 'row next to the cursor outside the window, no probe: ';
  }
  const { sql, params } = chosen;
  if (store.engine === 'sqlite') {
    const rows = await store.sql.all<{ detail: string }>(`EXPLAIN QUERY PLAN ${sql}`, params);
    return prefix + rows.map((r) => r.detail).join('; ');
  }
  const rows = await store.sql.all<{ 'QUERY PLAN': string }>(`EXPLAIN (COSTS OFF) ${sql}`, params);
  return (
    prefix +
    rows
      .map((r) => r['QUERY PLAN'].trim().replace(/^->\s*/, ''))
      .filter((l) => !/^(Filter|Index Cond|Sort Key|Recheck Cond|Join Filter|Output):/.test(l))
      .join(' → ')
  );
}

async function buildCases(store: AuditStore): Promise<Case[]> {
  const endRow = await store.sql.get<{ m: number }>('SELECT MAX(emit_ms) AS m FROM audit_records WHERE account_id = ?', [accountName(0)]);
  const end = Number(endRow?.m ?? Date.now());
  const acct = (k: number) => accountName(k % ACCOUNTS);
  const mid = end - 15 * DAY;
  const cases: Case[] = [
    { name: 'account', kind: 'first page', at: (k) => ({ filter: { accountId: acct(k) }, page: {} }) },
    { name: 'account + operation (UpdateUser, ~6 %)', kind: 'first page', at: (k) => ({ filter: { accountId: acct(k), operation: 'UpdateUser' }, page: {} }) },
    {
      name: 'account + operation (FailoverNamespace, ~1 %)',
      kind: 'first page',
      at: (k) => ({ filter: { accountId: acct(k), operation: 'FailoverNamespace' }, page: {} }),
    },
    {
      name: 'account + user_email (1 of 20 users)',
      kind: 'first page',
      at: (k) => ({ filter: { accountId: acct(k), userEmail: emailOf(k % ACCOUNTS, k % USERS_PER_ACCOUNT) }, page: {} }),
    },
    {
      name: 'account + namespace (1 of 4)',
      kind: 'first page',
      at: (k) => ({ filter: { accountId: acct(k), namespace: `ns-${k % NAMESPACES_PER_ACCOUNT}.a${k % ACCOUNTS}` }, page: {} }),
    },
    {
      name: 'account + principal_id (1 of 20 users)',
      kind: 'first page',
      at: (k) => ({ filter: { accountId: acct(k), principalId: uuidOf((k % ACCOUNTS) + ACCOUNTS * (k % USERS_PER_ACCOUNT)) }, page: {} }),
    },
    { name: 'account + status=ERROR (~2 %)', kind: 'first page', at: (k) => ({ filter: { accountId: acct(k), status: 'ERROR' }, page: {} }) },
    { name: 'account + status=OK (~98 %)', kind: 'first page', at: (k) => ({ filter: { accountId: acct(k), status: 'OK' }, page: {} }) },
    { name: 'account + last 24 h', kind: 'first page', at: (k) => ({ filter: { accountId: acct(k), sinceMs: end - DAY }, page: {} }) },
    {
      name: 'account + last 30 days (all its records)',
      kind: 'first page',
      at: (k) => ({ filter: { accountId: acct(k), sinceMs: end - 31 * DAY }, page: {} }),
    },
    {
      name: 'account + 24 h window 15 days back',
      kind: 'first page',
      at: (k) => ({ filter: { accountId: acct(k), sinceMs: mid, untilMs: mid + DAY }, page: {} }),
    },
    {
      name: 'account + 7-day window 15 days back',
      kind: 'first page',
      at: (k) => ({ filter: { accountId: acct(k), sinceMs: mid - 7 * DAY, untilMs: mid }, page: {} }),
    },
    {
      name: 'account + operation + status=ERROR (~0.1 %)',
      kind: 'first page',
      at: (k) => ({ filter: { accountId: acct(k), operation: 'UpdateUser', status: 'ERROR' }, page: {} }),
    },
    {
      name: 'account + operation, via HTTP GET',
      kind: 'first page',
      via: 'http',
      at: (k) => ({ filter: { accountId: acct(k), operation: 'UpdateUser' }, page: {} }),
    },
  ];

  // Deep pages: cursors prepared for a few tenants, the timed page rotates over them.
  const DEEP_ACCOUNTS = 4;
  const deep = async (name: string, filterOf: (a: number) => QueryFilter, skip: number | 'oldest') => {
    const cursors: { filter: QueryFilter; cursor: string; depth: number }[] = [];
    for (let a = 0; a < DEEP_ACCOUNTS; a++) {
      const filter = filterOf(a);
      const c = await deepCursor(store, filter, skip);
      if (c) cursors.push({ filter, ...c });
    }
    if (cursors.length === 0) {
      progress(`  ${store.engine}: ${name}: not enough records for this depth, skipped`);
      return;
    }
    const depths = cursors.map((c) => c.depth);
    cases.push({
      name,
      kind: 'deep page',
      depth: `${Math.min(...depths) === Math.max(...depths) ? fmtInt(depths[0]!) : `${fmtInt(Math.min(...depths))}–${fmtInt(Math.max(...depths))}`} records skipped`,
      at: (k) => {
        const c = cursors[k % cursors.length]!;
        return { filter: c.filter, page: { cursor: c.cursor } };
      },
    });
  };
  await deep('account, page 1001 (100,000 records deep)', (a) => ({ accountId: accountName(a) }), 100_000);
  await deep('account, oldest page', (a) => ({ accountId: accountName(a) }), 'oldest');
  await deep('account + operation (UpdateUser), oldest page', (a) => ({ accountId: accountName(a), operation: 'UpdateUser' }), 'oldest');
  await deep('account + user_email, oldest page', (a) => ({ accountId: accountName(a), userEmail: emailOf(a, 0) }), 'oldest');
  await deep('account + 7-day window, oldest page', (a) => ({ accountId: accountName(a), sinceMs: mid - 7 * DAY, untilMs: mid }), 'oldest');
  return cases;
}

async function measureCases(store: AuditStore, cases: Case[], iterations: number): Promise<QueryCaseResult[]> {
  const out: QueryCaseResult[] = [];
  let app: Awaited<ReturnType<typeof buildApp>> | undefined;
  let base = '';
  try {
    for (const c of cases) {
      let run: (k: number) => Promise<number>;
      if (c.via === 'http') {
        if (!app) {
          app = await buildApp({ store, config: resolveConfig({ AUDITSTREAM_INGEST_TOKEN: TOKEN, LOG_LEVEL: 'silent' }) });
          await app.listen({ host: '127.0.0.1', port: 0 });
          const addr = app.server.address();
          base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
        }
        run = async (k) => {
          const { filter } = c.at(k);
          const q = new URLSearchParams({ account: filter.accountId!, ...(filter.operation ? { operation: filter.operation } : {}), limit: '100' });
          const res = await fetch(`${base}/api/v1/audit-logs?${q}`, { headers: { authorization: `Bearer ${TOKEN}` } });
          if (res.status !== 200) throw new Error(`GET audit-logs: ${res.status} ${await res.text()}`);
          return ((await res.json()) as { items: unknown[] }).items.length;
        };
      } else {
        run = async (k) => {
          const { filter, page } = c.at(k);
          return (await store.query(filter, page)).items.length;
        };
      }
      // A slow query gets fewer runs: each row stops after BENCH_QUERY_CASE_SECONDS (the count is reported).
      const budgetEnd = performance.now() + settings.queryCaseSeconds * 1000;
      for (let k = 0; k < Math.min(20, iterations) && (k < 2 || performance.now() < budgetEnd - settings.queryCaseSeconds * 500); k++) await run(k + 1000);
      const lat: number[] = [];
      let rows = 0;
      for (let k = 0; k < iterations && (k < 10 || performance.now() < budgetEnd); k++) {
        const t = performance.now();
        rows += await run(k);
        lat.push(performance.now() - t);
      }
      const { filter, page } = c.at(0);
      const plan = c.via === 'http' ? undefined : await explain(store, filter, page.cursor);
      const r: QueryCaseResult = {
        name: c.name,
        kind: c.kind,
        via: c.via ?? 'library',
        iterations: lat.length,
        rows: rows / lat.length,
        p50Ms: percentile(lat, 50),
        p99Ms: percentile(lat, 99),
        maxMs: Math.max(...lat),
        ...(c.depth ? { depth: c.depth } : {}),
        ...(plan ? { plan } : {}),
      };
      progress(
        `  ${store.engine} ${c.kind}: ${c.name}: p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms (${r.rows.toFixed(0)} rows, ${lat.length} runs)`,
      );
      out.push(r);
    }
  } finally {
    if (app) await app.close();
  }
  return out;
}

async function dbBytes(db: BenchDb, store: AuditStore): Promise<number | undefined> {
  if (db.engine === 'sqlite') {
    const r = await store.sql.get<{ n: number }>('SELECT page_count * page_size AS n FROM pragma_page_count(), pragma_page_size()');
    return Number(r?.n);
  }
  const r = await store.sql.get<{ n: number }>("SELECT pg_total_relation_size('audit_records') AS n");
  return Number(r?.n);
}

export async function runQuery(): Promise<QueryResults> {
  const n = settings.queryRecords;
  const iterations = settings.queryIterations;
  const dbs: BenchDb[] = [];
  const reused = new Map<Engine, boolean>();
  for (const engine of settings.engines) {
    const reuse = engine === 'sqlite' ? settings.reuseSqlitePath : settings.reusePgSchema;
    const db = await createBenchDb(engine, 'query', reuse);
    dbs.push(db);
    // Opening once creates the schema (the store's own migrations).
    const store = await db.open();
    const have = await store.count();
    await store.close();
    if (reuse && have !== n) throw new Error(`${engine}: ${reuse} holds ${have} records, not ${n}`);
    reused.set(engine, Boolean(reuse));
    progress(`query ${engine}: database ${db.where}${reuse ? ` (reused, ${have} records)` : ''}`);
  }
  const engines: EngineQueryResult[] = [];
  let loadStats: QueryResults['load'] = { wallSeconds: 0, generateSeconds: 0, insertPhaseSeconds: 0, indexPhaseSeconds: 0, finishPhaseSeconds: 0 };
  try {
    const toLoad = dbs.filter((d) => !reused.get(d.engine));
    const loaders: Loader[] = [];
    for (const d of toLoad) loaders.push(d.engine === 'sqlite' ? sqliteLoader(d.where) : await pgLoader(d));
    if (loaders.length > 0) {
      progress(`query: loading ${n} records into ${toLoad.map((d) => d.engine).join(' and ')}`);
      try {
        loadStats = await load(loaders, n);
      } finally {
        for (const l of loaders) await l.close();
      }
    }
    for (const db of dbs) {
      const l = loaders.find((x) => x.engine === db.engine);
      const store = await db.open();
      try {
        const count = await store.count();
        if (count !== n) throw new Error(`${db.engine}: ${count} records stored, expected ${n}`);
        const tv = performance.now();
        const v = await verifyAccount(store, accountName(0), { trustedKeys: new Map() });
        const verify = { account: accountName(0), records: v.checked, seconds: (performance.now() - tv) / 1000, ok: v.ok };
        progress(
          `  ${db.engine}: verify ${verify.account}: ${v.ok ? 'ok' : `BROKEN ${JSON.stringify(v.break)}`}, ${v.checked} records in ${verify.seconds.toFixed(1)} s`,
        );
        if (!v.ok) throw new Error(`loaded chain does not verify: ${JSON.stringify(v.break)}`);
        progress(`  ${db.engine}: preparing cursors`);
        const cases = await buildCases(store);
        const results = await measureCases(store, cases, iterations);
        const bytes = await dbBytes(db, store);
        engines.push({
          engine: db.engine,
          records: n,
          load: l
            ? {
                insertSeconds: l.insertSeconds,
                indexSeconds: l.indexSeconds,
                finishSeconds: l.finishSeconds,
                concurrent: db.engine === 'postgres' && loaders.length > 1,
                reused: false,
                note:
                  db.engine === 'sqlite'
                    ? 'prepared INSERT, 10,000 rows per transaction, synchronous=NORMAL during the load; indexes rebuilt after; WAL checkpointed'
                    : 'multi-row INSERT ... SELECT FROM json_to_recordset, 10,000 rows per statement, synchronous_commit=off for the loader session; indexes rebuilt after (maintenance_work_mem 1GB); VACUUM ANALYZE; CHECKPOINT',
              }
            : { insertSeconds: 0, indexSeconds: 0, finishSeconds: 0, concurrent: false, reused: true, note: 'reused an already loaded database' },
          verify,
          ...(bytes !== undefined ? { dbBytes: bytes } : {}),
          cases: results,
        });
      } finally {
        await store.close();
      }
    }
  } finally {
    for (const db of dbs) {
      if (settings.keep) progress(`query ${db.engine}: kept at ${db.where}`);
      else await db.destroy();
    }
  }
  return { date: new Date().toISOString(), records: n, iterations, caseSeconds: settings.queryCaseSeconds, load: loadStats, engines };
}
