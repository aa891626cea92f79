/**
 * What each part of the SQLite store's index set costs an insert (part of `npm run bench`): the
 * same rows, made by the store's own chain code before timing, inserted by the driver alone into
 * the store's table (created by its migrations) with index sets that differ one step at a time,
 * 800 rows per transaction (what an HTTP group commit carries) spread over 16 tenants, WAL and
 * synchronous=FULL like the store, all in one run: the layout before decision 0025 (the five
 * filter indexes on the table; random or time-ordered log ids), the table without them, and the
 * table with its filter side table filled as the store fills it. Reported, not asserted.
 *
 * The same for PostgreSQL (decision 0025 keeps its filter indexes on `audit_records`): the
 * store's table as migrated, without its five filter indexes, and with them on a side table
 * filled every 20,000 records as SQLite's is, the rows going in by the store's own INSERT
 * (`json_to_recordset`), one statement a commit. Run when BENCH_ENGINES includes postgres.
 *
 * Environment: BENCH_INDEX_SECONDS=8 (per variant), BENCH_TMPDIR, BENCH_INDEX_NO_WRITE=1 (print
 * only). `node dist/bench/index-cost.js --render bench/results-index-cost.json` re-renders.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { CHAIN_ROW_COLUMNS, chainRowValues, type ChainRow } from '../src/store/chain-append.js';
import { newLogId, type AuditRecord } from '../src/record/record.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { FilterFill } from '../src/store/sqlite/filter-table.js';
import {
  buildRecord,
  ChainRowFactory,
  cpuMeter,
  createBenchDb,
  pgJsonInsert,
  pgJsonParam,
  PLAIN_TABLE,
  plainTableSql,
  progress,
  settings,
  ShapeSource,
  writeBenchmarksSection,
} from './common.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const resultsPath = join(root, 'bench', 'results-index-cost.json');
const SECONDS = Number(process.env.BENCH_INDEX_SECONDS ?? 8);
const ROWS_PER_COMMIT = 800;
/** Records between two fills of a side table, as the SQLite store fills its own. */
const FILL_EVERY = 20_000;
const TENANTS = 16;

/** The five filter indexes as `audit_records` had them before decision 0025 (migration 0001). */
const FILTER_INDEXES_ON_RECORDS = `CREATE INDEX audit_records_operation ON audit_records (account_id, operation, id);
CREATE INDEX audit_records_user_email ON audit_records (account_id, user_email, id);
CREATE INDEX audit_records_principal ON audit_records (account_id, principal_id, id);
CREATE INDEX audit_records_status ON audit_records (account_id, status, id);
CREATE INDEX audit_records_namespace ON audit_records (account_id, namespace, id) WHERE namespace IS NOT NULL;`;

interface Variant {
  name: string;
  /** `plain`: the ingest baseline's table (one index); `store`: the store's table as migrated. */
  table: 'plain' | 'store';
  /** SQL run before timing (indexes added). */
  add?: string;
  /** `random`: 32 random characters (auditstream's server-assigned ids before 2026-12-01); `ordered`: `newLogId`. */
  logIds: 'ordered' | 'random';
  /** Fill the filter side table as the store does (`FilterFill`, every 20,000 records), timed. */
  fill?: boolean;
}

const VARIANTS: Variant[] = [
  { name: 'plain table: one index (account_id, seq)', table: 'plain', logIds: 'ordered' },
  {
    name: "store's table as before decision 0025: the five filter indexes on it, random log ids (as the server assigned them before 2026-12-01)",
    table: 'store',
    add: FILTER_INDEXES_ON_RECORDS,
    logIds: 'random',
  },
  { name: 'the same with time-ordered log ids (as the server assigns them now)', table: 'store', add: FILTER_INDEXES_ON_RECORDS, logIds: 'ordered' },
  { name: "store's table now, its filter side table never filled (no filter indexes at all)", table: 'store', logIds: 'ordered' },
  { name: "store's table now, its filter side table filled as the store fills it (every 20,000 records)", table: 'store', logIds: 'ordered', fill: true },
];

interface VariantResult {
  name: string;
  rows: number;
  seconds: number;
  rowsPerSec: number;
  machineBusyPct?: number;
}

interface IndexCostResults {
  date: string;
  secondsPerVariant: number;
  rowsPerCommit: number;
  variants: VariantResult[];
  /** Absent in results from before PostgreSQL was measured. */
  postgres?: VariantResult[];
}

const LETTERS = '0123456789abcdefghijklmnopqrstuvwxyz';
function randomLogId(): string {
  const b = randomBytes(32);
  let out = '';
  for (let i = 0; i < 32; i++) out += LETTERS[b[i]! % 36];
  return out;
}

/** Makes the rows of one variant: 800 records a commit over 16 tenants, chained by the store's code. */
class RowSource {
  private readonly shapes = new ShapeSource(TENANTS, 20, 4, 11);
  private readonly factory = new ChainRowFactory();
  private n = 0;
  constructor(private readonly logIds: Variant['logIds']) {}

  async commits(count: number): Promise<ChainRow[][]> {
    return makeRows(this.shapes, this.factory, this.logIds, count, () => this.n++);
  }
}

async function makeRows(shapes: ShapeSource, factory: ChainRowFactory, logIds: Variant['logIds'], commits: number, next: () => number): Promise<ChainRow[][]> {
  const out: ChainRow[][] = [];
  for (let c = 0; c < commits; c++) {
    const now = Date.now();
    const batches = Array.from({ length: TENANTS }, (_, a) => ({
      accountId: `tenant-${a}`,
      records: Array.from({ length: ROWS_PER_COMMIT / TENANTS }, (): AuditRecord =>
        buildRecord(shapes.shape(a, now), logIds === 'random' ? randomLogId() : newLogId(now), next()),
      ),
      ingestedBy: 'bench:index-cost',
    }));
    const rows: ChainRow[] = await factory.rows(batches, now);
    out.push(rows);
  }
  return out;
}

async function runVariant(v: Variant, dir: string): Promise<VariantResult> {
  const path = join(dir, `${v.name.length}-${Date.now()}.db`);
  await (await SqliteStore.open(path)).close();
  const d = new Database(path);
  try {
    d.pragma('journal_mode = WAL');
    d.pragma('synchronous = FULL');
    const table = v.table === 'plain' ? PLAIN_TABLE : 'audit_records';
    if (v.table === 'plain') d.exec(plainTableSql('sqlite'));
    if (v.add) d.exec(v.add);
    const insert = d.prepare(`INSERT INTO ${table} (${CHAIN_ROW_COLUMNS}) VALUES (${new Array(14).fill('?').join(',')})`);
    const commit = d.transaction((rows: ChainRow[]) => {
      for (const r of rows) insert.run(...chainRowValues(r));
    });
    const filters = v.fill ? new FilterFill(d) : undefined;
    const r = await timeCommits(v.name, v.logIds, (chunk) => {
      commit(chunk);
      filters?.appended(chunk.length);
    });
    progress(`  ${Math.round(r.rowsPerSec)} rows/s: ${v.name}`);
    return r;
  } finally {
    d.close();
  }
}

/**
 * Commits rows of the variant's kind with `commit` for about SECONDS of its own time. Rows are
 * made ahead in rounds (making them is not timed), so the figure is the database's.
 */
async function timeCommits(name: string, logIds: Variant['logIds'], commit: (chunk: ChainRow[]) => void | Promise<void>): Promise<VariantResult> {
  let rows = 0;
  let timed = 0;
  const source = new RowSource(logIds);
  const meter = cpuMeter();
  while (timed < SECONDS * 1000) {
    const round = await source.commits(25);
    for (const chunk of round) {
      const t = performance.now();
      await commit(chunk);
      rows += chunk.length;
      timed += performance.now() - t;
    }
  }
  const cpu = meter();
  return { name, rows, seconds: timed / 1000, rowsPerSec: rows / (timed / 1000), ...(cpu ? { machineBusyPct: cpu.machineBusyPct } : {}) };
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

/** The side table as SQLite's (migration 0009), for the PostgreSQL variant that tries it. */
const PG_SIDE_TABLE = `CREATE TABLE bench_filter (id BIGINT PRIMARY KEY, account_id TEXT NOT NULL, operation TEXT NOT NULL, user_email TEXT NOT NULL,
  principal_id TEXT NOT NULL, status TEXT NOT NULL, namespace TEXT);
${FILTER_INDEXES_ON_RECORDS.replaceAll('audit_records_', 'bench_filter_').replaceAll('ON audit_records', 'ON bench_filter')}`;
const PG_DROP_FILTER_INDEXES = ['operation', 'user_email', 'principal', 'status', 'namespace'].map((i) => `DROP INDEX audit_records_${i};`).join('\n');
/** Fills the PostgreSQL side table past $1, returning the newest id copied. */
const PG_FILL = `WITH copied AS (INSERT INTO bench_filter SELECT id, account_id, operation, user_email, principal_id, status, namespace
  FROM audit_records WHERE id > $1 ORDER BY id LIMIT ${FILL_EVERY} RETURNING id) SELECT max(id) AS mark FROM copied`;

interface PgVariant {
  name: string;
  table: 'plain' | 'store';
  /** SQL run before timing. */
  setup?: string;
  fill?: boolean;
}

const PG_VARIANTS: PgVariant[] = [
  { name: 'plain table: one index (account_id, seq)', table: 'plain' },
  { name: "store's table as migrated: the five filter indexes on it (what the store runs)", table: 'store' },
  { name: "store's table without the five filter indexes", table: 'store', setup: PG_DROP_FILTER_INDEXES },
  {
    name: "store's table with the five filter indexes on a side table instead, filled every 20,000 records (SQLite's layout)",
    table: 'store',
    setup: `${PG_DROP_FILTER_INDEXES}\n${PG_SIDE_TABLE}`,
    fill: true,
  },
];

async function runPgVariant(v: PgVariant): Promise<VariantResult> {
  const db = await createBenchDb('postgres', 'idx');
  try {
    await (await db.open()).close();
    const c = await db.pgClient();
    try {
      if (v.table === 'plain') await c.query(plainTableSql('postgres'));
      if (v.setup) await c.query(v.setup);
      const insert = pgJsonInsert(v.table === 'plain' ? PLAIN_TABLE : 'audit_records');
      let mark = 0;
      let sinceFill = 0;
      const r = await timeCommits(v.name, 'ordered', async (chunk) => {
        await c.query(insert, [pgJsonParam(chunk)]);
        sinceFill += chunk.length;
        if (v.fill && sinceFill >= FILL_EVERY) {
          mark = Number(((await c.query(PG_FILL, [mark])).rows[0] as { mark: string | null }).mark ?? mark);
          sinceFill = 0;
        }
      });
      progress(`  postgres ${Math.round(r.rowsPerSec)} rows/s: ${v.name}`);
      return r;
    } finally {
      await c.end();
    }
  } finally {
    await db.destroy();
  }
}

function variantTable(variants: VariantResult[], beforeLabel: string): string[] {
  const plain = variants[0]!.rowsPerSec;
  const before = variants[1]!.rowsPerSec;
  return [
    `| index set | rows/s | × plain table | × ${beforeLabel} |`,
    `|---|---:|---:|---:|`,
    ...variants.map(
      (v) =>
        `| ${v.name} | ${Math.round(v.rowsPerSec).toLocaleString('en-US')} | ${(v.rowsPerSec / plain).toFixed(2)} | ${(v.rowsPerSec / before).toFixed(2)} |`,
    ),
  ];
}

function render(r: IndexCostResults): string {
  const lines = [
    `## Index cost: what each engine's index set costs an insert (bench/index-cost.ts)`,
    ``,
    `Run ${r.date}. The same rows (made and hashed by the store's chain code before timing; records stamped with the time they are made) inserted by the driver alone, ${r.rowsPerCommit} rows per transaction over ${TENANTS} tenants, WAL, synchronous=FULL, about ${r.secondsPerVariant} s each, one variant after another in one process. Each row differs from the one above it in one step. Reported, not asserted.`,
    ``,
    `SQLite:`,
    ``,
    ...variantTable(r.variants, 'as before'),
    ``,
  ];
  if (r.postgres) {
    lines.push(
      `PostgreSQL, same run, same kind of rows and commits, each into a fresh schema migrated by the store, inserted by the store's own statement (\`json_to_recordset\`, one statement a commit). Decision 0025 keeps PostgreSQL's filter indexes on \`audit_records\`; the last row is what SQLite's side table would give it.`,
      ``,
      ...variantTable(r.postgres, 'as migrated'),
      ``,
    );
  }
  return lines.join('\n') + '\n';
}

async function main(): Promise<void> {
  const renderFrom = process.argv.indexOf('--render');
  if (renderFrom >= 0) {
    const r = JSON.parse(readFileSync(process.argv[renderFrom + 1]!, 'utf8')) as IndexCostResults;
    writeBenchmarksSection('index-cost', render(r));
    return;
  }
  const dir = mkdtempSync(join(settings.tmpRoot, 'auditstream-bench-index-'));
  progress(`index cost: ${VARIANTS.length} variants, ${SECONDS} s each, in ${dir}`);
  const variants: VariantResult[] = [];
  try {
    for (const v of VARIANTS) variants.push(await runVariant(v, dir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const postgres: VariantResult[] = [];
  if (settings.engines.includes('postgres')) for (const v of PG_VARIANTS) postgres.push(await runPgVariant(v));
  const r: IndexCostResults = {
    date: new Date().toISOString(),
    secondsPerVariant: SECONDS,
    rowsPerCommit: ROWS_PER_COMMIT,
    variants,
    ...(postgres.length > 0 ? { postgres } : {}),
  };
  if (process.env.BENCH_INDEX_NO_WRITE === '1') {
    process.stdout.write(render(r));
    return;
  }
  writeFileSync(resultsPath, JSON.stringify(r, null, 2) + '\n');
  writeBenchmarksSection('index-cost', render(r));
  progress(`wrote ${resultsPath} and BENCHMARKS.md`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
