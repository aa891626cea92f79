/**
 * `npm run bench`: runs the ingest benchmark, then the query benchmark, and rewrites
 * BENCHMARKS.md from the results (kept, machine-readable, in bench/results.json).
 *
 * Environment:
 * - BENCH_ONLY=ingest|query       run one part; the other part's last results are kept
 * - BENCH_ONLY=render             no measurement: rewrite the report from the saved results
 * - BENCH_ENGINES=sqlite,postgres engines to run (default both)
 * - BENCH_SECONDS=6               seconds per ingest measurement
 * - BENCH_QUERY_RECORDS=10000000  records stored for the query benchmark
 * - BENCH_QUERY_ITERATIONS=200    timed runs of each query
 * - BENCH_QUERY_CASE_SECONDS=30   time budget of one query row (slow queries get fewer runs)
 * - BENCH_DATABASE_URL            PostgreSQL (default postgres://postgres@127.0.0.1:5432/test)
 * - BENCH_TMPDIR                  where SQLite files go (default the OS temp dir)
 * - BENCH_KEEP=1                  keep the query databases; BENCH_QUERY_SQLITE_PATH /
 *                                 BENCH_QUERY_PG_SCHEMA reuse them instead of loading
 * - BENCH_REPORT, BENCH_RESULTS   where to write the report and the JSON (default BENCHMARKS.md
 *                                 and bench/results.json in the repository)
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { progress, round, settings } from './common.js';
import { runIngest, WRITER_ACCOUNTS, type EngineIngestResult, type IngestMeasurement, type IngestResults } from './ingest.js';
import { ACCOUNTS, runQuery, type QueryResults } from './query.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const reportPath = process.env.BENCH_REPORT ?? `${repoRoot}BENCHMARKS.md`;
const resultsPath = process.env.BENCH_RESULTS ?? `${repoRoot}bench/results.json`;

/**
 * docs/decisions/0021-benchmark-method.md and issue 12: the library path reaches half the plain
 * table's rate; HTTP 20,000 rec/s and 0.66 of it on SQLite, 0.7 of it on PostgreSQL.
 */
const LIBRARY_TARGET_RATIO = 0.5;
const HTTP_TARGET_SQLITE = 20_000;
const HTTP_TARGET_RATIO = { sqlite: 0.66, postgres: 0.7 };

interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  os: string;
  node: string;
  sqlite: string;
  betterSqlite3: string;
  postgres: string;
  postgresSettings: string;
}

interface Results {
  machine: Machine;
  ingest?: IngestResults;
  query?: QueryResults;
}

function packageVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(`${repoRoot}node_modules/${name}/package.json`, 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

async function machine(): Promise<Machine> {
  const d = new Database(':memory:');
  const sqlite = (d.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v;
  d.close();
  let postgres: string;
  let postgresSettings = '';
  const c = new pg.Client({ connectionString: settings.pgUrl });
  try {
    await c.connect();
    postgres = ((await c.query('SELECT version() AS v')).rows[0] as { v: string }).v;
    const names = ['shared_buffers', 'synchronous_commit', 'fsync', 'wal_level', 'max_wal_size', 'work_mem'];
    const rows = (await c.query('SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1) ORDER BY name', [names])).rows as {
      name: string;
      setting: string;
      unit: string | null;
    }[];
    postgresSettings = rows.map((r) => `${r.name}=${r.setting}${r.unit ? ` ${r.unit}` : ''}`).join(', ');
  } catch (err) {
    postgres = `unavailable (${String(err)})`;
  } finally {
    await c.end().catch(() => {});
  }
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? '?',
    memoryGiB: round(os.totalmem() / 2 ** 30, 1),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    sqlite,
    betterSqlite3: packageVersion('better-sqlite3'),
    postgres,
    postgresSettings,
  };
}

// ---------------------------------------------------------------------------------------------
// Report

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number | undefined) => (n === undefined || Number.isNaN(n) ? '' : n < 10 ? n.toFixed(2) : n.toFixed(1));
const engineName = (e: string) => (e === 'sqlite' ? 'SQLite' : 'PostgreSQL');

/** The baseline of ratios: the plain table (issue 12), or the same-schema ceiling in results from before it was measured. */
function baselineOf(e: EngineIngestResult): { perSec: number; name: string } {
  return e.plainRecordsPerSec !== undefined ? { perSec: e.plainRecordsPerSec, name: 'plain table' } : { perSec: e.ceilingRecordsPerSec, name: 'raw ceiling' };
}

function ingestTable(e: EngineIngestResult): string[] {
  const base = baselineOf(e);
  const lines = [
    `| Path | Records per call | Concurrent writers | Records/s | × ${base.name} | × same-schema ceiling | Call p50 (ms) | Call p99 (ms) | Records per commit | CPU busy: machine / bench process |`,
    `|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|`,
  ];
  const row = (m: IngestMeasurement) => {
    const how = e.engine === 'sqlite' ? 'prepared INSERT' : m.label.includes('unnest') ? '`unnest` arrays' : '`json_to_recordset`';
    const bold = m.label.startsWith('raw ceiling') || m.label.startsWith('plain table') || m.label.startsWith('16-row commits');
    const perTx = `${m.batchSize} rows/transaction`;
    const path =
      m.path === 'raw'
        ? bold
          ? `**${m.label}**: driver, ${how}, ${perTx}${m.label.includes('plain') ? ', one index' : ", all the store's indexes"}`
          : `${m.label}: driver, ${how}, ${perTx}`
        : m.path === 'library'
          ? 'library `store.append`'
          : m.label.endsWith('unwritten')
            ? `**HTTP, appends acknowledged unwritten** (the request handling alone), ${m.label.split(', ')[2]}`
            : `HTTP, ${m.label.split(', ').slice(2).join(', ')}`;
    const ratio = (per: number) => (m.label.startsWith(base.name === 'plain table' ? 'plain table' : 'raw ceiling') ? '—' : (m.recordsPerSec / per).toFixed(2));
    lines.push(
      `| ${path} | ${m.batchSize} | ${m.concurrency} | ${fmt(m.recordsPerSec)} | ${ratio(base.perSec)} | ${m.label.startsWith('raw ceiling') ? '—' : (m.recordsPerSec / e.ceilingRecordsPerSec).toFixed(2)} | ${ms(m.p50Ms)} | ${ms(m.p99Ms)} | ${m.recordsPerCommit !== undefined ? fmt(m.recordsPerCommit) : m.path === 'raw' ? fmt(m.batchSize) : ''} | ${m.cpu ? `${Math.round(m.cpu.machineBusyPct)} % / ${Math.round(m.cpu.selfPct)} %` : ''} |`,
    );
  };
  if (e.plainStart) row(e.plainStart);
  row(e.ceilingStart);
  // The 16-row commits go right after the single-record library rows they bound.
  let after = -1;
  e.measurements.forEach((m, i) => {
    if (m.path === 'library' && m.batchSize === 1) after = i;
  });
  e.measurements.forEach((m, i) => {
    row(m);
    if (i === after) for (const c of [e.commit16Plain, e.commit16Ceiling]) if (c) row(c);
  });
  if (after < 0) for (const c of [e.commit16Plain, e.commit16Ceiling]) if (c) row(c);
  if (e.httpUnwritten) row(e.httpUnwritten);
  row(e.ceilingEnd);
  if (e.plainEnd) row(e.plainEnd);
  return lines;
}

/**
 * 16 writers of one record each fill a group commit with 16 records at most: the 16-row commits
 * (driver alone, same run) are what that path can reach here, and the library's share of them.
 */
function commit16Limit(e: EngineIngestResult, m: IngestMeasurement): string {
  const part = (c: IngestMeasurement | undefined, name: string) =>
    c ? `${name} ${fmt(c.recordsPerSec)} records/s (this path ${(m.recordsPerSec / c.recordsPerSec).toFixed(2)} of it)` : undefined;
  const parts = [part(e.commit16Plain, 'plain table'), part(e.commit16Ceiling, "store's table")].filter((p) => p !== undefined);
  return parts.length ? `≤ 16 records per durable commit. 16-row commits, driver alone: ${parts.join(', ')}` : '';
}

/**
 * The store's own table and indexes, driver alone, 1,000 rows per commit: what any path writing
 * them meets first; and the request handling alone (appends acknowledged unwritten).
 */
function sameSchemaLimit(e: EngineIngestResult, m: IngestMeasurement): string {
  const table = `store's table with all its indexes, driver alone, 1,000 rows per commit: ${fmt(e.ceilingRecordsPerSec)} records/s (this path ${(m.recordsPerSec / e.ceilingRecordsPerSec).toFixed(2)} of it)`;
  const u = e.httpUnwritten;
  return u
    ? `${table}; HTTP with appends acknowledged unwritten: ${fmt(u.recordsPerSec)} records/s (this path ${(m.recordsPerSec / u.recordsPerSec).toFixed(2)} of it)`
    : table;
}

function ingestSection(r: IngestResults): string[] {
  const out: string[] = [];
  out.push(`## Ingest`, ``, `Run: ${r.date}. Each figure: ${r.secondsPerMeasurement} s of load; records/s = records acknowledged ÷ wall time. `);
  out.push(
    `Ratios are against the **plain table of the same database in the same run** (the issue's baseline: the same rows, chain included, into a table with one index, unique (account_id, seq); mean of the measurements at the start and at the end of that engine's run). ` +
      `The **same-schema ceiling** (the same rows into the store's own table with all its indexes; on SQLite with its filter side table filled as the store fills it) is shown beside it for information.`,
    ``,
  );
  const dw = r.durableWrite;
  if (dw)
    out.push(
      `Durable write on this machine (same run): a ${dw.bytes / 1024} KiB append plus \`fdatasync\` to a file under ${dw.dir} takes ${ms(dw.p50Ms)} ms (median), ${ms(dw.p99Ms)} ms (p99) over ${dw.writes} writes: the floor under every durable commit, which writes more than that (16 records per such write alone would be ${fmt((16 * 1000) / dw.p50Ms)} records/s).`,
      ``,
    );
  out.push(
    `### Targets`,
    ``,
    `| Engine | Path | Records/s | Baseline (same run) | Ratio | Target | Met | Limit at this concurrency (same run) |`,
    `|---|---|---:|---:|---:|---|---|---|`,
  );
  const yes = (ok: boolean) => (ok ? 'yes' : '**no**');
  for (const e of r.engines) {
    const base = baselineOf(e);
    const lib = e.measurements.find((m) => m.path === 'library' && m.batchSize === 100 && m.concurrency === 16);
    const lib1 = e.measurements.find((m) => m.path === 'library' && m.batchSize === 1 && m.concurrency === 16);
    for (const m of [lib, lib1]) {
      if (!m) continue;
      const ratio = m.recordsPerSec / base.perSec;
      out.push(
        `| ${engineName(e.engine)} | library, 16 writers, ${m.batchSize} record${m.batchSize === 1 ? '' : 's'}/call | ${fmt(m.recordsPerSec)} | ${fmt(base.perSec)} (${base.name}) | ${ratio.toFixed(2)} | ≥ ${LIBRARY_TARGET_RATIO} × ${base.name} | ${yes(ratio >= LIBRARY_TARGET_RATIO)} | ${m.batchSize === 1 ? commit16Limit(e, m) : ''} |`,
      );
    }
    for (const m of e.measurements.filter((x) => x.path === 'http')) {
      const ratio = m.recordsPerSec / base.perSec;
      const ids = m.label.includes('server') ? 'server-assigned log_id' : 'client-supplied log_id';
      const [target, met] =
        e.engine === 'sqlite'
          ? [
              `≥ ${fmt(HTTP_TARGET_SQLITE)} records/s and ≥ ${HTTP_TARGET_RATIO.sqlite} × ${base.name}`,
              yes(m.recordsPerSec >= HTTP_TARGET_SQLITE && ratio >= HTTP_TARGET_RATIO.sqlite),
            ]
          : [`≥ ${HTTP_TARGET_RATIO.postgres} × ${base.name}`, yes(ratio >= HTTP_TARGET_RATIO.postgres)];
      out.push(
        `| ${engineName(e.engine)} | HTTP, 16 clients × 100 records, ${ids} | ${fmt(m.recordsPerSec)} | ${fmt(base.perSec)} (${base.name}) | ${ratio.toFixed(2)} | ${target} | ${met} | ${sameSchemaLimit(e, m)} |`,
      );
    }
  }
  out.push(``);
  for (const e of r.engines) {
    out.push(`### ${engineName(e.engine)}`, ``);
    if (e.plainStart && e.plainEnd)
      out.push(
        `Plain table (baseline): ${fmt(e.plainStart.recordsPerSec)} records/s at the start, ${fmt(e.plainEnd.recordsPerSec)} at the end, baseline ${fmt(baselineOf(e).perSec)}. `,
      );
    out.push(
      `Same-schema ceiling: ${fmt(e.ceilingStart.recordsPerSec)} records/s at the start, ${fmt(e.ceilingEnd.recordsPerSec)} at the end, mean ${fmt(e.ceilingRecordsPerSec)}.`,
      ``,
    );
    out.push(...ingestTable(e), ``);
  }
  return out;
}

function querySection(r: QueryResults): string[] {
  const out: string[] = [];
  out.push(`## Query`, ``);
  out.push(
    `Run: ${r.date}. ${fmt(r.records)} stored records per engine (${ACCOUNTS} tenants of ~${fmt(r.records / ACCOUNTS)} records, 20 users each, 15 operations, 30 days). ` +
      `Pages of 100, newest first, through \`store.query\` (one row through the HTTP API); ${r.iterations} timed runs per row after 20 warm-up runs, rotating over tenants and values (fewer when a row would take more than ${r.caseSeconds ?? 30} s: see Runs).`,
    ``,
  );
  const L = r.load ?? { wallSeconds: 0, generateSeconds: 0, insertPhaseSeconds: 0, indexPhaseSeconds: 0, finishPhaseSeconds: 0 };
  if (L.wallSeconds > 0) {
    const loaded = r.engines.filter((e) => !e.load.reused).map((e) => engineName(e.engine));
    out.push(
      `Load: ${loaded.join(' and ')} in one pass, ${fmt(L.wallSeconds)} s wall (${(L.wallSeconds / 60).toFixed(1)} min): ` +
        `inserting ${fmt(L.insertPhaseSeconds)} s (of which ${fmt(L.generateSeconds)} s generating and hashing the rows with the store's chain code), ` +
        `rebuilding indexes ${fmt(L.indexPhaseSeconds)} s, finishing ${fmt(L.finishPhaseSeconds)} s. Per engine below.`,
      ``,
    );
  }
  for (const e of r.engines) {
    out.push(`### ${engineName(e.engine)}`, ``);
    if (e.load.reused) out.push(`Load: ${e.load.note}.`);
    else if (e.load.concurrent)
      out.push(
        `Load: ${e.load.note}. PostgreSQL worked on the other core meanwhile; the load waited for it ${fmt(e.load.insertSeconds)} s while inserting and ${fmt(e.load.indexSeconds)} s while building indexes, beyond the hashing and SQLite's work; finishing took ${fmt(e.load.finishSeconds)} s.`,
      );
    else
      out.push(
        `Load: ${e.load.note}. ${e.engine === 'sqlite' ? 'Its own time' : 'Time waited for it'}: inserting ${fmt(e.load.insertSeconds)} s (${fmt(r.records / Math.max(e.load.insertSeconds, 1e-9))} rows/s), building indexes ${fmt(e.load.indexSeconds)} s, finishing ${fmt(e.load.finishSeconds)} s.`,
      );
    if (e.dbBytes) out.push(`Size on disk (table and indexes): ${(e.dbBytes / 2 ** 30).toFixed(1)} GiB.`);
    out.push(
      `Chain check: \`verify\` of ${e.verify.account} (${fmt(e.verify.records)} records) ${e.verify.ok ? 'passed' : '**failed**'} in ${e.verify.seconds.toFixed(1)} s (${fmt(e.verify.records / e.verify.seconds)} records/s).`,
      ``,
    );
    out.push(`| Query | Page | p50 (ms) | p99 (ms) | max (ms) | Runs | Rows | Plan |`, `|---|---|---:|---:|---:|---:|---:|---|`);
    for (const c of e.cases) {
      const page = c.kind === 'deep page' ? `deep (${c.depth})` : 'first';
      out.push(
        `| ${c.name} | ${page} | ${ms(c.p50Ms)} | ${ms(c.p99Ms)} | ${ms(c.maxMs)} | ${c.iterations} | ${Math.round(c.rows)} | ${c.plan ? `\`${c.plan.replace(/\|/g, '\\|')}\`` : c.via === 'http' ? 'as above, plus HTTP and JSON' : ''} |`,
      );
    }
    out.push(``);
  }
  return out;
}

function render(res: Results): string {
  const m = res.machine;
  const out: string[] = [
    `<!-- Generated by bench/run.ts (\`npm run bench\`) from bench/results.json, except the marked sections at the end (between "delivery:start" and "delivery:end" comments and the like), which other benchmark scripts write (bench/delivery.ts and the like) and bench/run.ts keeps as they are. One of them, between "ingest-profile:start" and "ingest-profile:end", is written by hand from the figures of the others and a CPU profile, and says which run it reads. Every other figure is machine-generated: do not edit by hand, rerun the benchmark. -->`,
    ``,
    `# Benchmarks`,
    ``,
    `Generated ${new Date().toISOString()}.`,
    ``,
    `## Machine`,
    ``,
    `| | |`,
    `|---|---|`,
    `| CPU | ${m.cpus} cores, ${m.cpuModel} |`,
    `| Memory | ${m.memoryGiB} GiB |`,
    `| OS | ${m.os} |`,
    `| Node.js | ${m.node} |`,
    `| SQLite | ${m.sqlite} (better-sqlite3 ${m.betterSqlite3}), WAL, synchronous=FULL |`,
    `| PostgreSQL | ${m.postgres} |`,
    `| PostgreSQL settings | ${m.postgresSettings} |`,
    ``,
    `The benchmark process, its HTTP clients and the database share these ${m.cpus} cores.`,
    ``,
  ];
  if (res.ingest) out.push(...ingestSection(res.ingest));
  else out.push(`## Ingest`, ``, `Not run yet.`, ``);
  if (res.query) out.push(...querySection(res.query));
  else out.push(`## Query`, ``, `Not run yet.`, ``);
  out.push(
    `## How measured`,
    ``,
    `**Ingest.** Each engine gets a fresh database (a SQLite file under the temp dir, a fresh PostgreSQL schema dropped afterwards) created by the store's own migrations. ` +
      `The **plain table** (the baseline) and the **same-schema ceiling** insert rows of the same shape with the driver alone, the first into a table of the same columns with one index (unique account_id, seq), the second into the store's own table and all its indexes (on SQLite, whose filter indexes are on a side table since 2026-12-01, that table filled every 20,000 records as the store fills it, timed with the inserts): rows (hashes included) are made by the store's own chain code, timed for the plain table (its figure is a chain made and stored) and not timed for the same-schema ceiling; each 1,000-row transaction spreads over the same ${WRITER_ACCOUNTS} tenants as the writers, grouped by tenant as a group commit writes them; ` +
      `SQLite runs a prepared INSERT, 1,000 rows per transaction, on its own connection with WAL and synchronous=FULL like the store; PostgreSQL runs one multi-row \`INSERT ... SELECT FROM json_to_recordset($1)\` per 1,000 rows (one commit each) on one connection, ` +
      `the fastest multi-row insert \`pg\` offers without extra packages; the store's own \`unnest\` statement is measured beside it for information. ` +
      `Each is measured at the start and at the end of each engine's run and its mean is used (the table grows by about a million rows in between, and insert rates fall as it grows). ` +
      `A path whose group commits carry more than 1,000 rows (256 writers × 100 records: up to 25,600 rows per commit) can beat this baseline, since it spreads each fsync and each dirtied index page over more rows. ` +
      `The **16-row commits** are the same two inserts with 16 rows per transaction, one row per tenant like one group commit of the 16 single-record writers (writer *w* to tenant *w* mod ${WRITER_ACCOUNTS}), back to back, measured once per engine right after the single-record library rows: ` +
      `16 writers of one record each, every one waiting for its own acknowledgement, give a group commit 16 records at most, so these show about the most that library row can reach on this machine; the Targets table shows how close it comes (on SQLite these two run with automatic checkpoints off, since the store checkpoints in a worker thread, not inside its commits; their WAL then grows through the measurement, to hundreds of MB with the store's indexes, and every page lookup pays for it, so the library, whose worker keeps the WAL short, can come out above the store's-table row: it is then at that limit). ` +
      `The durable-write figure times a 4 KiB append plus \`fdatasync\` to a file in the SQLite temp dir, a few hundred times in a row, at the start of the ingest run. ` +
      `The **library path** calls \`store.append({accountId, records, ingestedBy})\` from 1, 16 or 256 concurrent writers in one process (writer *w* appends to tenant *w* mod ${WRITER_ACCOUNTS}), 1 or 100 records per call, for a fixed time; records are made on the fly (fresh \`log_id\`s) by the same process; every path, the plain table and the same-schema ceiling included, stamps records with the time they are made as \`emit_time\` (second resolution), as a control plane posts records as it emits them, so the emit-time index grows at each tenant's newest end (runs before 2026-12-01 cycled 1,000 emit times spread over the last 1,000 s, which scattered that index's insertions over about a thousand places per commit); ` +
      `an append resolves once its group commit is durable, and the count stored is checked against the count acknowledged after each measurement. ` +
      `The **HTTP path** serves \`buildApp\` (src/api/app.ts) on 127.0.0.1 with the deployment ingest token and drives \`POST /api/v1/audit-logs\` from 16 keep-alive clients in a worker thread, 100 records (~450 bytes each) per request, every response must be 201; ` +
      `it is measured once with records without \`log_id\` (the server assigns them, no duplicate lookup) and once with client-supplied \`log_id\`s (duplicate lookup on every batch). A third HTTP measurement, **appends acknowledged unwritten**, runs the same app and load with the store's \`append\` answered at once and nothing written (every other call reaches the real store): what the request handling alone (HTTP, JSON parsing, validation, normalizing, on one event loop, beside the clients' thread) carries on this machine, a limit beside the HTTP rows and never a result. ` +
      `"CPU busy" is the share of all cores in use during the measurement (from /proc/stat) and the share this process used (worker threads and in-process SQLite included); on PostgreSQL the difference is mostly the database server, and anything else running on the machine shows up there too. ` +
      `Before each measurement the WAL is checkpointed (SQLite \`wal_checkpoint(TRUNCATE)\`, PostgreSQL \`CHECKPOINT\`) and the benchmark waits (up to 30 s) for the machine to be under 25 % busy, so a measurement does not start on top of another job. "Records per commit" counts the store's group commits by wrapping its committer from outside (no change to the store).`,
    ``,
    `**Query.** One pass generates the records and the store's chain code hashes them (every tenant is a valid chain with its head stored; \`verify\` re-checks one tenant), and the rows are bulk-inserted with the driver in large transactions, the secondary indexes dropped during the load and rebuilt afterwards from the store's own migration statements; ` +
      `PostgreSQL then gets \`VACUUM ANALYZE\` (what autovacuum does after a load); SQLite gets no ANALYZE, because the store never runs one. ` +
      `Timings are of \`store.query(filter, {limit: 100})\` (and one \`GET /api/v1/audit-logs\`), one at a time. Deep pages: a cursor is prepared by walking the same query (pages of 1,000; the cursor does not depend on the page size), then the next page of 100 is timed. ` +
      `Plans are \`EXPLAIN QUERY PLAN\` (SQLite) and \`EXPLAIN\` (PostgreSQL) of the same SQL the store runs.`,
    ``,
    `Speed is never asserted in tests; this file is the record. Run it with \`npm run bench\` (about 45 minutes on this machine, all its parts included; the ingest and 10 M-record query part about 25 of them, most of it loading), or quicker with e.g. \`BENCH_QUERY_RECORDS=200000 BENCH_SECONDS=3 npm run bench\`, \`BENCH_ONLY=ingest\` or \`BENCH_ONLY=query\`; see the header of bench/run.ts for every setting.`,
    ``,
  );
  return out.join('\n');
}

/** Sections other scripts keep in the report, each between `<!-- name:start -->` and `<!-- name:end -->`. */
function otherBlocks(text: string): string[] {
  return [...text.matchAll(/^<!-- ([\w-]+):start -->$[\s\S]*?^<!-- \1:end -->$/gm)].map((m) => m[0]);
}

async function main(): Promise<void> {
  const only = process.env.BENCH_ONLY;
  if (only !== undefined && only !== 'ingest' && only !== 'query' && only !== 'render') throw new Error('BENCH_ONLY must be ingest, query or render');
  const previous: Partial<Results> = existsSync(resultsPath) ? (JSON.parse(readFileSync(resultsPath, 'utf8')) as Results) : {};
  const res: Results = {
    machine: only === 'render' && previous.machine ? previous.machine : await machine(),
    ...(previous.ingest ? { ingest: previous.ingest } : {}),
    ...(previous.query ? { query: previous.query } : {}),
  };
  progress(`machine: ${res.machine.cpus} cores, node ${res.machine.node}, SQLite ${res.machine.sqlite}, ${res.machine.postgres.split(' on ')[0]}`);
  const save = () => {
    writeFileSync(resultsPath, `${JSON.stringify(res, null, 2)}\n`);
    // Other scripts' sections (the delivery section of bench/delivery.ts) live between their own
    // markers: keep them, in order, after ours.
    const before = existsSync(reportPath) ? readFileSync(reportPath, 'utf8') : '';
    const blocks = otherBlocks(before)
      .map((b) => `\n${b}\n`)
      .join('');
    writeFileSync(reportPath, render(res).replace(/\n*$/, '\n') + blocks);
    progress(`wrote ${reportPath} and ${resultsPath}`);
  };
  if (only === 'render') {
    save();
    return;
  }
  if (only !== 'query') {
    progress(`ingest: ${settings.engines.join(', ')}, ${settings.ingestSeconds} s per measurement`);
    res.ingest = await runIngest();
    save();
  }
  if (only !== 'ingest') {
    progress(`query: ${settings.queryRecords} records, ${settings.queryIterations} iterations per query`);
    res.query = await runQuery();
    save();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
