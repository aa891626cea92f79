/**
 * Shared pieces of the benchmarks: settings from the environment, a deterministic record
 * generator, store-consistent chain rows for the raw (driver-level) paths, engine set-up and
 * tear-down, and small statistics helpers.
 *
 * Raw paths never invent their own hashing: `ChainRowFactory` runs the store's own
 * `appendBatches` (src/store/chain-append.ts) against in-memory chain primitives and captures
 * the rows it would insert, so raw-loaded data is a valid chain that `verify` accepts.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { appendBatches, CHAIN_ROW_COLUMNS, chainRowValues, GENESIS_HASH, type ChainRow, type ChainTxOps } from '../src/store/chain-append.js';
import type { AppendBatch, AuditStore } from '../src/store/store.js';
import type { AuditRecord } from '../src/record/record.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { INSERT_ROWS, PostgresStore, pgJsonRows } from '../src/store/postgres/postgres-store.js';
import { prng } from '../test/helpers/prng.js';

export type Engine = 'sqlite' | 'postgres';

/** Benchmark settings, all from the environment (see BENCHMARKS.md "How to run"). */
export const settings = {
  pgUrl: process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  engines: (process.env.BENCH_ENGINES ?? 'sqlite,postgres')
    .split(',')
    .map((s) => s.trim())
    .filter((s): s is Engine => s === 'sqlite' || s === 'postgres'),
  /** Seconds per ingest measurement. */
  ingestSeconds: Number(process.env.BENCH_SECONDS ?? 6),
  queryRecords: Number(process.env.BENCH_QUERY_RECORDS ?? 10_000_000),
  queryIterations: Number(process.env.BENCH_QUERY_ITERATIONS ?? 200),
  /** Time budget of one query row (warm-up included); a slow query gets fewer runs. */
  queryCaseSeconds: Number(process.env.BENCH_QUERY_CASE_SECONDS ?? 30),
  /** Where SQLite files go (a temp dir is made inside). */
  tmpRoot: process.env.BENCH_TMPDIR ?? tmpdir(),
  /** Keep the query databases after the run (prints where they are). */
  keep: process.env.BENCH_KEEP === '1',
  /** Reuse an already loaded query database instead of loading one. */
  reuseSqlitePath: process.env.BENCH_QUERY_SQLITE_PATH,
  reusePgSchema: process.env.BENCH_QUERY_PG_SCHEMA,
};

/** Progress on stderr, with the elapsed time since the process started. */
const started = Date.now();
export function progress(msg: string): void {
  const s = ((Date.now() - started) / 1000).toFixed(1).padStart(7);
  process.stderr.write(`[bench ${s}s] ${msg}\n`);
}

// ---------------------------------------------------------------------------------------------
// Records

/** The operations the generator spreads records over, with relative weights. */
export const OPERATIONS: readonly [string, number][] = [
  ['UserLogin', 30],
  ['UpdateNamespace', 20],
  ['UpdateUserNamespacePermissions', 8],
  ['CreateNamespace', 6],
  ['UpdateUser', 6],
  ['InviteUsers', 5],
  ['CreateAPIKey', 5],
  ['DeleteAPIKey', 4],
  ['UpdateAPIKey', 4],
  ['DeleteUser', 3],
  ['UpdateAccount', 3],
  ['DeleteNamespace', 2],
  ['RenameCustomSearchAttribute', 2],
  ['FailoverNamespace', 1],
  ['VerifyAuditLogSink', 1],
];
const OP_TABLE: string[] = OPERATIONS.flatMap(([name, w]) => new Array<string>(w).fill(name));
const NAMESPACE_OPS = new Set([
  'UpdateNamespace',
  'CreateNamespace',
  'DeleteNamespace',
  'RenameCustomSearchAttribute',
  'FailoverNamespace',
  'UpdateUserNamespacePermissions',
]);

function hex(n: number, width: number): string {
  return (n >>> 0).toString(16).padStart(width, '0').slice(-width);
}

/** A UUID-shaped id derived from a number (stable per user). */
/** A UUID-shaped id of user `n` (records' principal.id) and of other things numbered `n`. */
export function uuidOf(n: number): string {
  const a = Math.imul(n + 1, 2654435761) >>> 0;
  const b = Math.imul(n + 7, 40503) >>> 0;
  return `${hex(a, 8)}-${hex(b, 4)}-4${hex(a >>> 4, 3)}-a${hex(b >>> 3, 3)}-${hex(a ^ b, 8)}${hex(n, 4)}`;
}

/**
 * Unique `log_id`s (32 lowercase alphanumerics, like the seeds): a random run prefix and a
 * counter, so generation costs next to nothing and never collides within a run.
 */
export class LogIds {
  private readonly prefix = randomBytes(8)
    .toString('hex')
    .slice(0, 8)
    .replace(/[^0-9a-z]/g, '0');
  private n = 0;
  next(): string {
    return this.prefix + (this.n++).toString(36).padStart(24, '0');
  }
}

export interface RecordShape {
  /** Index of the user (0..users-1); the user belongs to account `user % accounts`. */
  user: number;
  operation: string;
  error: boolean;
  emitMs: number;
  namespace: string | null;
}

/**
 * A record in the emitted shape, keys in the seed order, about 450 bytes encoded: the size of
 * the seed samples (387..498 bytes).
 */
export function buildRecord(shape: RecordShape, logId: string, seq: number): AuditRecord {
  const email = `user${String(shape.user).padStart(4, '0')}@example.com`;
  const details: Record<string, unknown> = {};
  if (shape.namespace) details['namespace'] = shape.namespace;
  if (shape.operation.includes('User')) details['target_users'] = [uuidOf(shape.user + 7919 * (seq % 13))];
  details['search_attribute_update'] = {};
  const record: AuditRecord = {
    emit_time: new Date(shape.emitMs).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    level: shape.error ? 'LOG_LEVEL_ERROR' : 'LOG_LEVEL_INFO',
    user_email: email,
    caller_ip_address: `10.${(shape.user >> 8) & 255}.${shape.user & 255}.${seq & 255}, 10.4.5.6`,
    operation: shape.operation,
    details,
    status: shape.error ? 'ERROR' : 'OK',
    category: 'LOG_CATEGORY_ADMIN',
    version: 1,
    log_id: logId,
    principal: { id: uuidOf(shape.user), type: 'user', name: email },
    request_id: uuidOf(seq + 1_000_003),
  };
  return record;
}

/** Draws record shapes for a data set of `accounts` tenants with `usersPerAccount` users each. */
export class ShapeSource {
  private readonly r: () => number;
  constructor(
    readonly accounts: number,
    readonly usersPerAccount: number,
    readonly namespacesPerAccount: number,
    seed: number,
  ) {
    this.r = prng(seed);
  }
  /** A shape for account `account` (0-based). */
  shape(account: number, emitMs: number): RecordShape {
    const user = account + this.accounts * Math.floor(this.r() * this.usersPerAccount);
    const operation = OP_TABLE[Math.floor(this.r() * OP_TABLE.length)]!;
    const error = this.r() < 0.02;
    const namespace = NAMESPACE_OPS.has(operation) ? `ns-${Math.floor(this.r() * this.namespacesPerAccount)}.a${account}` : null;
    return { user, operation, error, emitMs, namespace };
  }
  pickAccount(): number {
    return Math.floor(this.r() * this.accounts);
  }
}

// ---------------------------------------------------------------------------------------------
// Chain rows for the raw paths

/**
 * Turns batches into the exact rows the store would insert, by running the store's own
 * `appendBatches` against in-memory heads. Keeps each account's head between calls.
 */
export class ChainRowFactory {
  readonly heads = new Map<string, { seq: number; hash: string }>();

  async rows(batches: AppendBatch[], now: number): Promise<ChainRow[]> {
    const out: ChainRow[] = [];
    const ops: ChainTxOps = {
      lockHeads: async (accounts) => new Map(accounts.map((a) => [a, this.heads.get(a) ?? { seq: 0, hash: GENESIS_HASH }])),
      findLogIds: async () => new Map(),
      insert: async (rows) => {
        for (const r of rows) out.push(r);
      },
      setHeads: async (heads) => {
        for (const h of heads) this.heads.set(h.accountId, { seq: h.seq, hash: h.hash });
      },
    };
    const outcomes = await appendBatches(
      ops,
      batches.map((b) => ({ ...b, clientLogIds: false })),
      now,
    );
    for (const o of outcomes) if (!o.ok) throw o.error;
    return out;
  }
}

/** The multi-row insert the PostgreSQL store itself uses: one array per column, unnested. */
export const PG_UNNEST_INSERT = `INSERT INTO audit_records (${CHAIN_ROW_COLUMNS})
  SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::text[],
    $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[])`;

export function pgUnnestParams(rows: ChainRow[]): unknown[][] {
  const cols: unknown[][] = Array.from({ length: 14 }, () => new Array<unknown>(rows.length));
  rows.forEach((r, i) => {
    const v = chainRowValues(r);
    for (let c = 0; c < 14; c++) cols[c]![i] = v[c];
  });
  return cols;
}

/**
 * The fastest multi-row insert `pg` offers without extra packages (the store's own since issue 12): the rows as one JSON
 * parameter, expanded server-side. (The `unnest` form above makes `pg` escape every array element
 * in JavaScript, which costs ~26 µs per row on this machine: see BENCHMARKS.md.)
 */
export const PG_JSON_INSERT = pgJsonInsert('audit_records');

/** `PG_JSON_INSERT` into another table of the same columns (the plain baseline table). */
export function pgJsonInsert(table: string): string {
  return INSERT_ROWS.replace('INSERT INTO audit_records ', `INSERT INTO ${table} `);
}

/**
 * The baseline table: the columns of `audit_records` (the chain included) with only the
 * primary key and one index, the chain's unique (account_id, seq). Created beside the store's own
 * tables, in the same database, by the ingest benchmark.
 */
export const PLAIN_TABLE = 'bench_plain_records';

export function plainTableSql(engine: Engine): string {
  const id = engine === 'sqlite' ? 'INTEGER PRIMARY KEY AUTOINCREMENT' : 'BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY';
  const int = engine === 'sqlite' ? 'INTEGER' : 'BIGINT';
  return `CREATE TABLE ${PLAIN_TABLE} (id ${id}, account_id TEXT NOT NULL, seq ${int} NOT NULL, log_id TEXT NOT NULL, stored_at ${int} NOT NULL,
  emit_ms ${int} NOT NULL, operation TEXT NOT NULL, user_email TEXT NOT NULL, principal_id TEXT NOT NULL, status TEXT NOT NULL, namespace TEXT,
  ingested_by TEXT, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, record_json TEXT NOT NULL);
CREATE UNIQUE INDEX ${PLAIN_TABLE}_chain ON ${PLAIN_TABLE} (account_id, seq);`;
}

export function pgJsonParam(rows: ChainRow[]): string {
  return pgJsonRows(rows);
}

// ---------------------------------------------------------------------------------------------
// Engines

export interface BenchDb {
  engine: Engine;
  /** SQLite file path, or the PostgreSQL schema. */
  where: string;
  open(): Promise<AuditStore>;
  /** A raw PostgreSQL client on the schema (PostgreSQL only). */
  pgClient(): Promise<pg.Client>;
  destroy(): Promise<void>;
}

export async function createBenchDb(engine: Engine, label: string, reuse?: string): Promise<BenchDb> {
  if (engine === 'sqlite') {
    const dir = reuse ? undefined : mkdtempSync(join(settings.tmpRoot, `auditstream-bench-${label}-`));
    const path = reuse ?? join(dir!, 'audit.db');
    return {
      engine,
      where: path,
      open: () => SqliteStore.open(path),
      pgClient: () => Promise.reject(new Error('not PostgreSQL')),
      destroy: async () => {
        if (dir) rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const schema = reuse ?? `bench_${label}_${randomBytes(4).toString('hex')}`;
  const pgClient = async () => {
    const c = new pg.Client({ connectionString: settings.pgUrl, options: `-c search_path=${schema}` });
    await c.connect();
    return c;
  };
  return {
    engine,
    where: schema,
    open: () => PostgresStore.open(settings.pgUrl, { schema }),
    pgClient,
    destroy: async () => {
      if (reuse) return;
      const c = await pgClient();
      try {
        await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } finally {
        await c.end();
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Machine load during a measurement (the machine is shared: other jobs may run beside us)

export interface CpuShare {
  /** Share of all cores busy during the interval, % (everything: us, the database, other jobs). */
  machineBusyPct: number;
  /** Share of all cores this process used (its worker threads and in-process SQLite included), %. */
  selfPct: number;
}

function procStat(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.reduce((a, b) => a + b, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

/** Starts measuring CPU; the returned function stops and reports the shares. */
export function cpuMeter(): () => CpuShare | undefined {
  const s0 = procStat();
  const u0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  return () => {
    const s1 = procStat();
    if (!s0 || !s1 || s1.total === s0.total) return undefined;
    const u = process.cpuUsage(u0);
    const wallUs = Number(process.hrtime.bigint() - t0) / 1000;
    const cores = availableParallelism();
    return {
      machineBusyPct: (100 * (s1.busy - s0.busy)) / (s1.total - s0.total),
      selfPct: (100 * (u.user + u.system)) / (wallUs * cores),
    };
  };
}

/**
 * Waits (up to `maxSeconds`) until the machine has been below `busyPct` busy for one second, so
 * a measurement does not start on top of another job. Returns the seconds waited, or -1 when the
 * machine never went quiet.
 */
export async function quietMachine(busyPct = 25, maxSeconds = 30): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const a = procStat();
    await sleep(1000);
    const b = procStat();
    if (!a || !b || b.total === a.total) return 0;
    if ((100 * (b.busy - a.busy)) / (b.total - a.total) < busyPct) return (Date.now() - t0) / 1000 - 1;
    if (Date.now() - t0 > maxSeconds * 1000) return -1;
  }
}

// ---------------------------------------------------------------------------------------------
// Statistics

/** Nearest-rank percentile of an unsorted sample (copied and sorted). */
export function percentile(sample: number[], p: number): number {
  if (sample.length === 0) return NaN;
  const s = [...sample].sort((a, b) => a - b);
  const rank = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[rank]!;
}

export function round(n: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Replaces the section of BENCHMARKS.md between `<!-- name:start -->` and `<!-- name:end -->`
 * (or appends it), leaving the rest of the report as it is.
 */
export function writeBenchmarksSection(name: string, section: string): void {
  const file = join(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..'), 'BENCHMARKS.md');
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  let text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const block = `${start}\n${section}${end}`;
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a >= 0 && b > a) text = text.slice(0, a) + block + text.slice(b + end.length);
  else text = text.replace(/\n*$/, '\n\n') + block + '\n';
  writeFileSync(file, text);
}
