/**
 * Ingest benchmark: records/s stored durably, per engine, through
 * - the plain table, the baseline of ratios (issue 12): the chain made by the store's own chain
 *   code (timed) and its rows inserted with the driver alone into a table of the same columns
 *   with one index, unique (account_id, seq), 1000 rows per transaction;
 * - the same-schema ceiling: the same kind of rows (same table, same indexes, same 16 tenants,
 *   hashes precomputed by the store's own chain code, not timed) inserted with the driver alone,
 *   1000 rows per transaction;
 *   both measured at the start and at the end of the engine's run;
 * - the same two with 16 rows per transaction (one row per writer of the 16-writer library rows,
 *   one commit each, back to back): what 16 single-record writers could reach at best, since a
 *   group commit of theirs carries at most 16 records; and the disk's durable-write latency
 *   (4 KiB write + fdatasync) that bounds it;
 * - the library call `store.append(...)` with 1, 16 and 256 concurrent writers, 1 and 100
 *   records per call;
 * - the HTTP API (`POST /api/v1/audit-logs`, 100 records per request, 16 concurrent clients in a
 *   worker thread), with server-assigned and with client-supplied `log_id`s.
 *
 * Each measurement runs for BENCH_SECONDS (default 6) and starts from a checkpointed WAL on a
 * quiet machine (it waits up to 30 s for other jobs to pause).
 */
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type pg from 'pg';
import { buildApp } from '../src/api/app.js';
import { FilterFill } from '../src/store/sqlite/filter-table.js';
import { resolveConfig } from '../src/config.js';
import type { AppendBatch, AuditStore } from '../src/store/store.js';
import type { AuditRecord } from '../src/record/record.js';
import {
  buildRecord,
  ChainRowFactory,
  createBenchDb,
  LogIds,
  percentile,
  pgJsonInsert,
  pgJsonParam,
  PLAIN_TABLE,
  plainTableSql,
  PG_UNNEST_INSERT,
  pgUnnestParams,
  progress,
  settings,
  ShapeSource,
  cpuMeter,
  quietMachine,
  type BenchDb,
  type CpuShare,
  type Engine,
} from './common.js';
import { CHAIN_ROW_COLUMNS, chainRowValues } from '../src/store/chain-append.js';
import type { HttpLoadParams, HttpLoadResult } from './http-load.js';

export interface IngestMeasurement {
  path: 'raw' | 'library' | 'http';
  label: string;
  batchSize: number;
  concurrency: number;
  records: number;
  seconds: number;
  recordsPerSec: number;
  /** Latency of one call / request, ms (not for raw). */
  p50Ms?: number;
  p99Ms?: number;
  /** Group commit: commits made and records per commit (library and HTTP). */
  commits?: number;
  recordsPerCommit?: number;
  /** CPU shares during the measurement (the machine may be shared with other jobs). */
  cpu?: CpuShare;
}

export interface EngineIngestResult {
  engine: Engine;
  /**
   * The baseline (issue 12): the same rows into a plain table with the chain's columns and one
   * index (unique account_id, seq), at the start and at the end of the engine's run.
   */
  plainStart?: IngestMeasurement;
  plainEnd?: IngestMeasurement;
  /** Mean of the two plain measurements: the baseline for ratios. */
  plainRecordsPerSec?: number;
  /** The same-schema ceiling (the store's table and all its indexes), for information. */
  ceilingStart: IngestMeasurement;
  ceilingEnd: IngestMeasurement;
  /** Mean of the two same-schema ceiling measurements. */
  ceilingRecordsPerSec: number;
  /**
   * The plain table and the store's table with 16 rows per transaction (one per writer), driver
   * alone: the limit of single-record appends from 16 writers, whose group commits carry at most
   * 16 records. Absent in results from before they were measured.
   */
  commit16Plain?: IngestMeasurement;
  commit16Ceiling?: IngestMeasurement;
  /**
   * The HTTP path with every append acknowledged at once and written nowhere: what the request
   * handling (HTTP, JSON, validation, normalizing) carries on this machine before any storage.
   * A limit, never a result. Absent in results from before it was measured.
   */
  httpUnwritten?: IngestMeasurement;
  measurements: IngestMeasurement[];
}

/** Durable-write latency of the disk under the SQLite temp dir (the PostgreSQL data dir may be elsewhere). */
export interface DurableWrite {
  dir: string;
  writes: number;
  bytes: number;
  p50Ms: number;
  p99Ms: number;
}

export interface IngestResults {
  date: string;
  secondsPerMeasurement: number;
  /** Absent in results from before it was measured. */
  durableWrite?: DurableWrite;
  engines: EngineIngestResult[];
}

/** Tenants the writers spread over: writer `w` appends to account `w % WRITER_ACCOUNTS`. */
export const WRITER_ACCOUNTS = 16;
const CEILING_CHUNK = 1000;
/** One row per writer of the 16-writer single-record rows: the most one of their group commits can carry. */
const WRITER_COMMIT_CHUNK = 16;
const TOKEN = 'bench-ingest-token-0123456789abcdef';

/**
 * Records in the emitted shape, fresh `log_id`s, cheap to make (a pool of contents), stamped with
 * the time they are made as emit_time, as a control plane posts records when it emits them.
 */
class RecordMaker {
  private readonly pool: AuditRecord[] = [];
  private i = 0;
  private readonly ids = new LogIds();
  constructor() {
    const shapes = new ShapeSource(WRITER_ACCOUNTS, 20, 4, 7);
    for (let k = 0; k < 1000; k++) this.pool.push(buildRecord(shapes.shape(k % WRITER_ACCOUNTS, Date.now() - (1000 - k) * 1000), 'x', k));
  }
  make(n: number): AuditRecord[] {
    const out: AuditRecord[] = new Array(n);
    const emitTime = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    for (let k = 0; k < n; k++) out[k] = { ...this.pool[this.i++ % this.pool.length]!, log_id: this.ids.next(), emit_time: emitTime };
    return out;
  }
}

function cpuText(cpu: CpuShare | undefined): string {
  return cpu ? `; CPU: machine ${cpu.machineBusyPct.toFixed(0)} %, bench process ${cpu.selfPct.toFixed(0)} %` : '';
}

/** Counts the store's group commits by wrapping its committer's flush (measurement only). */
function commitCounter(store: AuditStore): { read(): { commits: number; records: number }; reset(): void } {
  let commits = 0;
  let records = 0;
  const gc = (store as unknown as { committer?: { flush?: (items: { records: unknown[] }[], ready: () => void) => Promise<unknown> } }).committer;
  if (gc && typeof gc.flush === 'function') {
    const orig = gc.flush;
    gc.flush = (items, ready) => {
      commits++;
      for (const b of items) records += b.records.length;
      return orig(items, ready);
    };
  }
  return {
    read: () => ({ commits, records }),
    reset: () => {
      commits = 0;
      records = 0;
    },
  };
}

/** Same starting point for every measurement: WAL checkpointed, machine quiet. */
async function settle(db: BenchDb, store: AuditStore): Promise<void> {
  if (db.engine === 'postgres') {
    const c = await db.pgClient();
    try {
      await c.query('CHECKPOINT');
    } finally {
      await c.end();
    }
  } else {
    const d = new Database(db.where);
    try {
      d.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      d.close();
    }
  }
  void store;
  const waited = await quietMachine();
  if (waited < 0) progress('  (the machine stayed busy with other work; measuring anyway)');
  else if (waited > 1) progress(`  (waited ${waited.toFixed(0)} s for other work on the machine to finish)`);
}

interface CeilingOptions {
  /** PostgreSQL: `json` (the fastest multi-row insert through `pg`, the baseline) or `unnest` (the statement the store runs). */
  form?: 'json' | 'unnest';
  /** `audit_records` (the store's table, all its indexes) or `PLAIN_TABLE` (one index, chain timed). */
  table?: string;
  /** Rows per transaction (PostgreSQL: per autocommitted INSERT). */
  chunkRows?: number;
}

/** Raw inserts of store-identical rows, `chunkRows` (default 1000) per transaction, back to back. */
async function ceiling(
  db: BenchDb,
  maker: RecordMaker,
  account: string,
  seconds: number,
  label: string,
  { form = 'json', table = 'audit_records', chunkRows = CEILING_CHUNK }: CeilingOptions = {},
): Promise<IngestMeasurement> {
  // The plain table's time includes making the chain (canonical JSON, hashes, stored text, as
  // the store's chain code does it): the baseline is "a plain table with the chain".
  const chainTimed = table !== 'audit_records';
  const factory = new ChainRowFactory();
  // Each chunk spreads over the same tenants as the writers do, grouped by tenant as a group
  // commit leaves them. The spread matters: it decides how many index pages one commit dirties,
  // and on SQLite the same 1000 rows insert ~3x faster when they all belong to one tenant whose
  // index subtrees are small than when they spread over sixteen.
  const chunk = () =>
    factory.rows(
      Array.from({ length: WRITER_ACCOUNTS }, (_, a) => ({
        accountId: `${account}-${a}`,
        records: maker.make(Math.floor(chunkRows / WRITER_ACCOUNTS) + (a < chunkRows % WRITER_ACCOUNTS ? 1 : 0)),
        ingestedBy: 'bench:raw',
      })),
      Date.now(),
    );
  let timed = 0;
  let records = 0;
  const meter = cpuMeter();
  if (db.engine === 'sqlite') {
    const d = new Database(db.where);
    d.pragma('journal_mode = WAL');
    d.pragma('synchronous = FULL');
    d.pragma('busy_timeout = 10000');
    // A limit row (16 rows per commit) must not pay for checkpoints inside its commits, since the
    // store runs them in a worker thread; the 1,000-row rows keep SQLite's defaults.
    if (chunkRows < CEILING_CHUNK) d.pragma('wal_autocheckpoint = 0');
    const stmt = d.prepare(`INSERT INTO ${table} (${CHAIN_ROW_COLUMNS}) VALUES (${new Array(14).fill('?').join(',')})`);
    const insertAll = d.transaction((rows: unknown[][]) => {
      for (const v of rows) stmt.run(...v);
    });
    // The store's table carries its filter side table (migration 0009): filled as the store
    // fills it, every FILL_CHUNK records, and timed with the inserts.
    const filters = table === 'audit_records' ? new FilterFill(d) : undefined;
    try {
      while (timed < seconds * 1000) {
        const c0 = performance.now();
        const rows = (await chunk()).map(chainRowValues);
        const t = chainTimed ? c0 : performance.now();
        insertAll(rows);
        filters?.appended(rows.length);
        timed += performance.now() - t;
        records += rows.length;
      }
    } finally {
      d.close();
    }
  } else {
    const c: pg.Client = await db.pgClient();
    try {
      while (timed < seconds * 1000) {
        const c0 = performance.now();
        const rows = await chunk();
        const t = chainTimed ? c0 : performance.now();
        if (form === 'json') await c.query(pgJsonInsert(table), [pgJsonParam(rows)]);
        else await c.query(PG_UNNEST_INSERT, pgUnnestParams(rows));
        timed += performance.now() - t;
        records += rows.length;
      }
    } finally {
      await c.end();
    }
  }
  const m: IngestMeasurement = {
    path: 'raw',
    label,
    batchSize: chunkRows,
    concurrency: 1,
    records,
    seconds: timed / 1000,
    recordsPerSec: records / (timed / 1000),
  };
  const cpu = meter();
  if (cpu) m.cpu = cpu;
  progress(`  ${db.engine} ${label}: ${Math.round(m.recordsPerSec)} rec/s (${records} rows, ${m.seconds.toFixed(1)} s of insert time)${cpuText(m.cpu)}`);
  return m;
}

async function library(
  store: AuditStore,
  counter: ReturnType<typeof commitCounter>,
  maker: RecordMaker,
  tag: string,
  batchSize: number,
  concurrency: number,
  seconds: number,
): Promise<IngestMeasurement> {
  const latencies: number[] = [];
  let records = 0;
  counter.reset();
  const meter = cpuMeter();
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  const writer = async (w: number) => {
    const accountId = `${tag}-${w % WRITER_ACCOUNTS}`;
    while (performance.now() < deadline) {
      const batch = maker.make(batchSize);
      const s = performance.now();
      const r = await store.append({ accountId, records: batch, ingestedBy: 'bench:library' });
      latencies.push(performance.now() - s);
      if (r.duplicates !== 0) throw new Error('unexpected duplicates');
      records += batchSize;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, w) => writer(w)));
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = meter();
  const { commits, records: committed } = counter.read();
  const m: IngestMeasurement = {
    path: 'library',
    label: `store.append, ${batchSize} record${batchSize === 1 ? '' : 's'}/call`,
    batchSize,
    concurrency,
    records,
    seconds: elapsed,
    recordsPerSec: records / elapsed,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    ...(commits > 0 ? { commits, recordsPerCommit: committed / commits } : {}),
    ...(cpu ? { cpu } : {}),
  };
  progress(
    `  ${store.engine} library b=${batchSize} c=${concurrency}: ${Math.round(m.recordsPerSec)} rec/s, p50 ${m.p50Ms!.toFixed(1)} ms, p99 ${m.p99Ms!.toFixed(1)} ms` +
      (commits > 0 ? `, ${commits} commits, ${(committed / commits).toFixed(0)} rec/commit` : '') +
      cpuText(cpu),
  );
  return m;
}

/**
 * `store` with `append` answered at once and nothing written: the HTTP limit row's store. Every
 * other call (the app's lookups) reaches the real store.
 */
function unwrittenAppends(store: AuditStore): AuditStore {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'append') return async (batch: AppendBatch) => ({ sequences: batch.records.map((_, i) => i + 1), duplicates: 0 });
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

async function httpPath(
  store: AuditStore,
  counter: ReturnType<typeof commitCounter>,
  tag: string,
  logIds: 'server' | 'client',
  seconds: number,
  unwritten = false,
): Promise<IngestMeasurement> {
  const config = resolveConfig({ AUDITSTREAM_INGEST_TOKEN: TOKEN, LOG_LEVEL: 'silent' });
  const app = await buildApp({ store: unwritten ? unwrittenAppends(store) : store, config });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const params: HttpLoadParams = { port, token: TOKEN, concurrency: 16, batchSize: 100, seconds, logIds, accountPrefix: `${tag}-`, accounts: WRITER_ACCOUNTS };
  counter.reset();
  const meter = cpuMeter();
  let result: HttpLoadResult;
  try {
    result = await new Promise<HttpLoadResult>((resolve, reject) => {
      const worker = new Worker(new URL('./http-load.js', import.meta.url), { workerData: params });
      worker.once('message', (msg: { ok: boolean; result?: HttpLoadResult; error?: string }) => {
        void worker.terminate();
        if (msg.ok) resolve(msg.result!);
        else reject(new Error(msg.error));
      });
      worker.once('error', reject);
    });
  } finally {
    await app.close();
  }
  const cpu = meter();
  if (result.errors > 0) throw new Error(`HTTP ingest failed ${result.errors} times; first: ${result.firstError}`);
  const { commits, records: committed } = counter.read();
  const m: IngestMeasurement = {
    path: 'http',
    label: `POST /api/v1/audit-logs, 100 records/request, ${logIds === 'server' ? 'server-assigned' : 'client-supplied'} log_id${unwritten ? ', appends acknowledged unwritten' : ''}`,
    batchSize: 100,
    concurrency: 16,
    records: result.records,
    seconds: result.elapsedMs / 1000,
    recordsPerSec: result.records / (result.elapsedMs / 1000),
    p50Ms: percentile(result.latenciesMs, 50),
    p99Ms: percentile(result.latenciesMs, 99),
    ...(commits > 0 ? { commits, recordsPerCommit: committed / commits } : {}),
    ...(cpu ? { cpu } : {}),
  };
  progress(
    `  ${store.engine} http (${logIds} log_id${unwritten ? ', unwritten' : ''}) c=16: ${Math.round(m.recordsPerSec)} rec/s, p50 ${m.p50Ms!.toFixed(1)} ms, p99 ${m.p99Ms!.toFixed(1)} ms` +
      (commits > 0 ? `, ${(committed / commits).toFixed(0)} rec/commit` : '') +
      cpuText(cpu),
  );
  return m;
}

/** The baseline table beside the store's own (see `plainTableSql`). */
async function createPlainTable(db: BenchDb): Promise<void> {
  if (db.engine === 'sqlite') {
    const d = new Database(db.where);
    try {
      d.exec(plainTableSql('sqlite'));
    } finally {
      d.close();
    }
    return;
  }
  const c = await db.pgClient();
  try {
    await c.query(plainTableSql('postgres'));
  } finally {
    await c.end();
  }
}

/** Counts what the measurements stored, to check every acknowledged record is there. */
async function storedUnder(store: AuditStore, tag: string): Promise<number> {
  const r = await store.sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM audit_records WHERE account_id LIKE ?', [`${tag}-%`]);
  return Number(r?.n ?? 0);
}

export async function runIngestEngine(engine: Engine): Promise<EngineIngestResult> {
  const seconds = settings.ingestSeconds;
  const db = await createBenchDb(engine, 'ingest');
  progress(`ingest ${engine}: database ${db.where}`);
  const store = await db.open();
  const counter = commitCounter(store);
  const maker = new RecordMaker();
  const measurements: IngestMeasurement[] = [];
  try {
    await createPlainTable(db);
    await settle(db, store);
    const plainStart = await ceiling(db, maker, 'plain-start', seconds, 'plain table (start)', { table: PLAIN_TABLE });
    await settle(db, store);
    const ceilingStart = await ceiling(db, maker, 'ceiling-start', seconds, 'raw ceiling (start)');
    if (engine === 'postgres') {
      await settle(db, store);
      measurements.push(await ceiling(db, maker, 'raw-unnest', seconds, "raw, the store's unnest INSERT", { form: 'unnest' }));
    }
    let commit16: Pick<EngineIngestResult, 'commit16Plain' | 'commit16Ceiling'> = {};
    for (const batchSize of [1, 100]) {
      for (const concurrency of [1, 16, 256]) {
        await settle(db, store);
        const tag = `lib-b${batchSize}-c${concurrency}`;
        const m = await library(store, counter, maker, tag, batchSize, concurrency, seconds);
        const stored = await storedUnder(store, tag);
        if (stored !== m.records) throw new Error(`${tag}: ${m.records} acknowledged but ${stored} stored`);
        measurements.push(m);
      }
      if (batchSize === 1) {
        // Beside the single-record rows: their limit at 16 writers, 16 rows per durable commit.
        await settle(db, store);
        const commit16Plain = await ceiling(db, maker, 'c16-plain', seconds, '16-row commits (plain table)', {
          table: PLAIN_TABLE,
          chunkRows: WRITER_COMMIT_CHUNK,
        });
        await settle(db, store);
        const commit16Ceiling = await ceiling(db, maker, 'c16-ceiling', seconds, "16-row commits (store's table)", { chunkRows: WRITER_COMMIT_CHUNK });
        commit16 = { commit16Plain, commit16Ceiling };
      }
    }
    for (const logIds of ['server', 'client'] as const) {
      await settle(db, store);
      const tag = `http-${logIds}`;
      const m = await httpPath(store, counter, tag, logIds, seconds);
      const stored = await storedUnder(store, tag);
      if (stored !== m.records) throw new Error(`${tag}: ${m.records} acknowledged but ${stored} stored`);
      measurements.push(m);
    }
    // Beside the HTTP rows: the request handling alone, appends acknowledged and not written.
    await settle(db, store);
    const httpUnwritten = await httpPath(store, counter, 'http-unwritten', 'server', seconds, true);
    if ((await storedUnder(store, 'http-unwritten')) !== 0) throw new Error('http-unwritten: records were stored');
    await settle(db, store);
    const ceilingEnd = await ceiling(db, maker, 'ceiling-end', seconds, 'raw ceiling (end)');
    await settle(db, store);
    const plainEnd = await ceiling(db, maker, 'plain-end', seconds, 'plain table (end)', { table: PLAIN_TABLE });
    return {
      engine,
      plainStart,
      plainEnd,
      plainRecordsPerSec: (plainStart.recordsPerSec + plainEnd.recordsPerSec) / 2,
      ceilingStart,
      ceilingEnd,
      ceilingRecordsPerSec: (ceilingStart.recordsPerSec + ceilingEnd.recordsPerSec) / 2,
      ...commit16,
      httpUnwritten,
      measurements,
    };
  } finally {
    await store.close();
    await db.destroy();
  }
}

/**
 * The floor under one durable commit on this disk: a 4 KiB append then `fdatasync` (what a WAL
 * commit does at least; PostgreSQL's wal_sync_method here is fdatasync too), `writes` times.
 */
async function durableWrite(writes = 300): Promise<DurableWrite> {
  const dir = mkdtempSync(join(settings.tmpRoot, 'auditstream-bench-fsync-'));
  const buf = Buffer.alloc(4096, 0x5a);
  const latencies: number[] = [];
  try {
    await quietMachine();
    const fd = openSync(join(dir, 'probe'), 'w');
    try {
      for (let i = 0; i < writes; i++) {
        const t = performance.now();
        writeSync(fd, buf, 0, buf.length, i * buf.length);
        fdatasyncSync(fd);
        latencies.push(performance.now() - t);
      }
    } finally {
      closeSync(fd);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const r: DurableWrite = { dir: settings.tmpRoot, writes, bytes: buf.length, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) };
  progress(`  durable write (4 KiB + fdatasync in ${r.dir}): p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms over ${writes}`);
  return r;
}

export async function runIngest(): Promise<IngestResults> {
  const durable = await durableWrite();
  const engines: EngineIngestResult[] = [];
  for (const engine of settings.engines) engines.push(await runIngestEngine(engine));
  return { date: new Date().toISOString(), secondsPerMeasurement: settings.ingestSeconds, durableWrite: durable, engines };
}
