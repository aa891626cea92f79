/**
 * What each part of the SQLite store's index set costs an insert (part of `npm run bench`): the
 * same rows, made by the store's own chain code before timing, inserted by the driver alone into
 * the store's table (created by its migrations) with index sets that differ one step at a time,
 * 800 rows per transaction (what an HTTP group commit carries) spread over 16 tenants, WAL and
 * synchronous=FULL like the store, all in one run. It shows where SQLite ingest's limit is (the
 * Targets table: HTTP runs at about the same-schema ceiling) and what a different design would
 * buy. Reported, not asserted.
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
import { buildRecord, ChainRowFactory, cpuMeter, PLAIN_TABLE, plainTableSql, progress, settings, ShapeSource, writeBenchmarksSection } from './common.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const resultsPath = join(root, 'bench', 'results-index-cost.json');
const SECONDS = Number(process.env.BENCH_INDEX_SECONDS ?? 8);
const ROWS_PER_COMMIT = 800;
const TENANTS = 16;

/** The store's five filter indexes (migration 0001): one per filter the API offers. */
const FILTER_INDEXES = ['audit_records_operation', 'audit_records_user_email', 'audit_records_principal', 'audit_records_status', 'audit_records_namespace'];

/** A narrow table holding the filter columns, with the same five indexes, filled in bulk. */
const SIDE_TABLE = `CREATE TABLE audit_filter (id INTEGER PRIMARY KEY, account_id TEXT NOT NULL, operation TEXT NOT NULL,
  user_email TEXT NOT NULL, principal_id TEXT NOT NULL, status TEXT NOT NULL, namespace TEXT);
CREATE INDEX audit_filter_operation ON audit_filter (account_id, operation, id);
CREATE INDEX audit_filter_user_email ON audit_filter (account_id, user_email, id);
CREATE INDEX audit_filter_principal ON audit_filter (account_id, principal_id, id);
CREATE INDEX audit_filter_status ON audit_filter (account_id, status, id);
CREATE INDEX audit_filter_namespace ON audit_filter (account_id, namespace, id) WHERE namespace IS NOT NULL;`;
const FILL_SIDE_TABLE = `INSERT INTO audit_filter SELECT id, account_id, operation, user_email, principal_id, status, namespace
  FROM audit_records WHERE id > (SELECT coalesce(max(id), 0) FROM audit_filter)`;
const SIDE_FILL_ROWS = Number(process.env.BENCH_SIDE_FILL_ROWS ?? 50_000);

interface Variant {
  name: string;
  /** `plain`: the ingest baseline's table (one index); `store`: the store's table as migrated. */
  table: 'plain' | 'store';
  drop?: string[];
  /** `random`: 32 random characters (auditstream's server-assigned ids before 2026-12-01); `ordered`: `newLogId`. */
  logIds: 'ordered' | 'random';
  sideTable?: boolean;
}

const VARIANTS: Variant[] = [
  { name: 'plain table: one index (account_id, seq)', table: 'plain', logIds: 'ordered' },
  { name: "store's table, all its indexes, time-ordered log ids (as the server assigns them now)", table: 'store', logIds: 'ordered' },
  { name: "store's table, all its indexes, random log ids (as the server assigned them before)", table: 'store', logIds: 'random' },
  { name: 'without the five filter indexes (operation, user_email, principal_id, status, namespace)', table: 'store', drop: FILTER_INDEXES, logIds: 'ordered' },
  {
    name: `without them, and a side table with those five indexes filled every ${SIDE_FILL_ROWS.toLocaleString('en-US')} rows by one INSERT … SELECT (deferred index upkeep)`,
    table: 'store',
    drop: FILTER_INDEXES,
    logIds: 'ordered',
    sideTable: true,
  },
];

interface VariantResult {
  name: string;
  rows: number;
  seconds: number;
  rowsPerSec: number;
  /** Share of the time spent filling the side table (deferred variant). */
  fillSeconds?: number;
  machineBusyPct?: number;
}

interface IndexCostResults {
  date: string;
  secondsPerVariant: number;
  rowsPerCommit: number;
  variants: VariantResult[];
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

  async commits(count: number): Promise<unknown[][][]> {
    return makeRows(this.shapes, this.factory, this.logIds, count, () => this.n++);
  }
}

async function makeRows(shapes: ShapeSource, factory: ChainRowFactory, logIds: Variant['logIds'], commits: number, next: () => number): Promise<unknown[][][]> {
  const out: unknown[][][] = [];
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
    out.push(rows.map(chainRowValues));
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
    for (const idx of v.drop ?? []) d.exec(`DROP INDEX ${idx}`);
    if (v.sideTable) d.exec(SIDE_TABLE);
    const insert = d.prepare(`INSERT INTO ${table} (${CHAIN_ROW_COLUMNS}) VALUES (${new Array(14).fill('?').join(',')})`);
    const commit = d.transaction((rows: unknown[][]) => {
      for (const r of rows) insert.run(...r);
    });
    const fill = v.sideTable ? d.prepare(FILL_SIDE_TABLE) : undefined;
    // Rows are made ahead in rounds (making them is not timed), so the figure is the database's.
    let rows = 0;
    let sinceFill = 0;
    let timed = 0;
    let fillMs = 0;
    const source = new RowSource(v.logIds);
    const meter = cpuMeter();
    while (timed < SECONDS * 1000) {
      const round = await source.commits(25);
      for (const chunk of round) {
        const t = performance.now();
        commit(chunk);
        rows += chunk.length;
        sinceFill += chunk.length;
        if (fill && sinceFill >= SIDE_FILL_ROWS) {
          const f = performance.now();
          d.transaction(() => fill.run())();
          fillMs += performance.now() - f;
          sinceFill = 0;
        }
        timed += performance.now() - t;
      }
    }
    const cpu = meter();
    const r: VariantResult = {
      name: v.name,
      rows,
      seconds: timed / 1000,
      rowsPerSec: rows / (timed / 1000),
      ...(fill ? { fillSeconds: fillMs / 1000 } : {}),
      ...(cpu ? { machineBusyPct: cpu.machineBusyPct } : {}),
    };
    progress(`  ${Math.round(r.rowsPerSec)} rows/s: ${v.name}`);
    return r;
  } finally {
    d.close();
  }
}

function render(r: IndexCostResults): string {
  const plain = r.variants[0]!.rowsPerSec;
  const all = r.variants[1]!.rowsPerSec;
  const lines = [
    `## SQLite: what the index set costs an insert (bench/index-cost.ts)`,
    ``,
    `Run ${r.date}. The same rows (made and hashed by the store's chain code before timing; records stamped with the time they are made) inserted by the driver alone, ${r.rowsPerCommit} rows per transaction over ${TENANTS} tenants, WAL, synchronous=FULL, about ${r.secondsPerVariant} s each, one variant after another in one process. Each row differs from the one above it in one step. Reported, not asserted.`,
    ``,
    `| index set | rows/s | × plain table | × the store's indexes |`,
    `|---|---:|---:|---:|`,
    ...r.variants.map(
      (v) =>
        `| ${v.name}${v.fillSeconds !== undefined ? ` (filling: ${((100 * v.fillSeconds) / v.seconds).toFixed(0)} % of the time)` : ''} | ${Math.round(v.rowsPerSec).toLocaleString('en-US')} | ${(v.rowsPerSec / plain).toFixed(2)} | ${(v.rowsPerSec / all).toFixed(2)} |`,
    ),
    ``,
  ];
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
  const r: IndexCostResults = { date: new Date().toISOString(), secondsPerVariant: SECONDS, rowsPerCommit: ROWS_PER_COMMIT, variants };
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
