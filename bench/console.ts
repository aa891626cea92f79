/**
 * The console benchmark (part of `npm run bench`): how long the audit log viewer takes to show
 * its first page, and a filtered page, in Chromium over a SQLite store of 1,000,000 records, and
 * how much JavaScript the console loads first (gzipped). Figures are reported, not asserted.
 *
 * Method: `auditstream serve` starts once on an empty database (which creates the first owner),
 * stops, the records are appended straight into the store with the library (`store.append`,
 * 1,000-record batches, the same chain the API would build), and serve starts again on it. Each
 * timed view is one navigation, from `page.goto` to the first row of the table being visible:
 * "first visit" in a fresh browser context (empty cache, session cookie only), "return visit"
 * in a new tab of one context (assets cached).
 *
 * Environment:
 * - BENCH_CONSOLE_RECORDS=1000000  records stored
 * - BENCH_CONSOLE_RUNS=7           timed navigations per view and mode
 * - BENCH_TMPDIR                   where the database goes (default the OS temp dir)
 * - BENCH_CONSOLE_NO_WRITE=1       print the section only; leave BENCHMARKS.md and the JSON alone
 *
 * `node dist/bench/console.js --render bench/results-console.json` re-renders the section.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { Browser, BrowserContext } from 'playwright-core';
import { openStore } from '../src/store/open.js';
import type { AuditRecord } from '../src/record/record.js';
import { startServe, type ServeHandle } from '../test/helpers/cli.js';
import { launchChromium, CHROMIUM } from '../test/helpers/browser.js';
import { buildRecord, LogIds, percentile, progress, round, settings, ShapeSource, writeBenchmarksSection } from './common.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BATCH = 1000;
/** Rows the viewer shows per page (ui/src/features/audit-log/api.ts PAGE_SIZE). */
const PAGE_ROWS = 25;

/** The views timed: the first page, and pages under filters a reader would use. */
const VIEWS: { name: string; path: string; check: (cells: string[][]) => boolean }[] = [
  { name: 'first page', path: '/audit-log', check: () => true },
  { name: 'one filter', path: '/audit-log?operation=DeleteUser', check: (rows) => rows.every((r) => r[1] === 'DeleteUser') },
  {
    name: 'two filters',
    path: '/audit-log?operation=UpdateNamespace&status=ERROR',
    check: (rows) => rows.every((r) => r[1] === 'UpdateNamespace' && r[4] === 'ERROR'),
  },
];

interface ViewResult {
  name: string;
  path: string;
  rows: number;
  /** Milliseconds from navigation to the first row visible. */
  firstVisitMs: number[];
  returnVisitMs: number[];
}

interface Bundle {
  /** Files the page loads before any lazy chunk: the entry script, module preloads, the stylesheet. */
  files: { file: string; bytes: number; gzipBytes: number }[];
  jsBytes: number;
  jsGzipBytes: number;
  cssGzipBytes: number;
}

interface ConsoleResults {
  when: string;
  machine: { cpus: number; cpuModel: string; node: string; chromium: string };
  records: number;
  seedSeconds: number;
  seedRecordsPerSecond: number;
  databaseMiB: number;
  bundle: Bundle;
  views: ViewResult[];
}

/** The initial assets of ui/dist/index.html, raw and gzipped. */
function measureBundle(): Bundle {
  const dist = join(root, 'ui', 'dist');
  const html = readFileSync(join(dist, 'index.html'), 'utf8');
  const refs = [...html.matchAll(/<(?:script[^>]*\ssrc|link[^>]*\shref)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!);
  const files = refs.map((ref) => {
    const data = readFileSync(join(dist, ref));
    return { file: ref.replace(/^\/assets\//, ''), bytes: data.length, gzipBytes: gzipSync(data, { level: 9 }).length };
  });
  const js = files.filter((f) => f.file.endsWith('.js'));
  return {
    files,
    jsBytes: js.reduce((n, f) => n + f.bytes, 0),
    jsGzipBytes: js.reduce((n, f) => n + f.gzipBytes, 0),
    cssGzipBytes: files.filter((f) => f.file.endsWith('.css')).reduce((n, f) => n + f.gzipBytes, 0),
  };
}

async function stop(serve: ServeHandle): Promise<void> {
  if (serve.child.exitCode === null) {
    serve.child.kill('SIGTERM');
    await serve.exited;
  }
}

/** Appends `total` generated records to `accountId` through the library, 1,000 per batch. */
async function seed(dbPath: string, accountId: string, total: number): Promise<number> {
  const store = await openStore(dbPath);
  const shapes = new ShapeSource(1, 200, 20, 20261130);
  const ids = new LogIds();
  const spanMs = 20 * 86_400_000;
  const start = Date.now() - spanMs;
  const t0 = performance.now();
  try {
    for (let done = 0; done < total;) {
      const n = Math.min(BATCH, total - done);
      const records: AuditRecord[] = [];
      for (let i = 0; i < n; i++, done++) records.push(buildRecord(shapes.shape(0, start + Math.floor((done / total) * spanMs)), ids.next(), done));
      await store.append({ accountId, records, ingestedBy: 'token:deployment' });
      if (done % 100_000 === 0) progress(`console: ${done} records stored`);
    }
  } finally {
    await store.close();
  }
  return (performance.now() - t0) / 1000;
}

/** One navigation: ms from goto to the first row visible; the rows' cells, to check the view. */
async function timeView(ctx: BrowserContext, url: string): Promise<{ ms: number; rows: string[][] }> {
  const page = await ctx.newPage();
  try {
    const t0 = performance.now();
    await page.goto(url, { waitUntil: 'commit' });
    await page.locator('table.log tbody tr').first().waitFor({ state: 'visible', timeout: 120_000 });
    const ms = performance.now() - t0;
    const rows = await page
      .locator('table.log tbody tr')
      .evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));
    return { ms, rows };
  } finally {
    await page.close();
  }
}

async function runConsoleBench(): Promise<ConsoleResults> {
  const total = Number(process.env['BENCH_CONSOLE_RECORDS'] ?? 1_000_000);
  const runs = Number(process.env['BENCH_CONSOLE_RUNS'] ?? 7);
  const bundle = measureBundle();
  const dir = mkdtempSync(join(settings.tmpRoot, 'auditstream-bench-console-'));
  const dbPath = join(dir, 'audit.db');
  const env = { DATABASE_URL: dbPath, AUDITSTREAM_DATA_DIR: join(dir, 'data') };
  let serve: ServeHandle | undefined;
  let browser: Browser | undefined;
  try {
    // First start: migrations and the first owner (data/initial-admin.json).
    serve = await startServe(env, dir);
    await stop(serve);
    const initial = JSON.parse(readFileSync(join(dir, 'data', 'initial-admin.json'), 'utf8')) as { account_id: string; email: string; password: string };

    progress(`console: storing ${total} records in ${dbPath}`);
    const seedSeconds = await seed(dbPath, initial.account_id, total);
    progress(`console: stored ${total} records in ${seedSeconds.toFixed(1)} s`);
    const databaseMiB = ['', '-wal'].reduce((n, s) => n + (existsSync(dbPath + s) ? statSync(dbPath + s).size : 0), 0) / 2 ** 20;

    serve = await startServe(env, dir);
    browser = await launchChromium();
    const viewport = { width: 1280, height: 900 };
    const signIn = async (): Promise<BrowserContext> => {
      const ctx = await browser!.newContext({ viewport });
      const res = await ctx.request.post(`${serve!.url}/auth/login`, { data: { email: initial.email, password: initial.password } });
      if (!res.ok()) throw new Error(`sign-in failed: ${res.status()} ${await res.text()}`);
      return ctx;
    };

    const views: ViewResult[] = [];
    const returning = await signIn();
    // Warm the return-visit context's cache once (not timed).
    await timeView(returning, `${serve.url}/audit-log`);
    for (const view of VIEWS) {
      const url = `${serve.url}${view.path}`;
      const firstVisitMs: number[] = [];
      const returnVisitMs: number[] = [];
      let rows = 0;
      for (let i = 0; i < runs; i++) {
        const fresh = await signIn();
        try {
          const r = await timeView(fresh, url);
          firstVisitMs.push(r.ms);
          rows = r.rows.length;
          if (r.rows.length !== PAGE_ROWS || !view.check(r.rows))
            throw new Error(`${view.name}: unexpected rows ${JSON.stringify(r.rows.slice(0, 3))} (${r.rows.length})`);
        } finally {
          await fresh.close();
        }
        returnVisitMs.push((await timeView(returning, url)).ms);
      }
      progress(
        `console: ${view.name}: first visit median ${percentile(firstVisitMs, 50).toFixed(0)} ms, return visit median ${percentile(returnVisitMs, 50).toFixed(0)} ms`,
      );
      views.push({
        name: view.name,
        path: view.path,
        rows,
        firstVisitMs: firstVisitMs.map((x) => round(x, 1)),
        returnVisitMs: returnVisitMs.map((x) => round(x, 1)),
      });
    }
    await returning.close();
    return {
      when: new Date().toISOString(),
      machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? '?', node: process.version, chromium: `${browser.version()} (${CHROMIUM})` },
      records: total,
      seedSeconds: round(seedSeconds, 1),
      seedRecordsPerSecond: Math.round(total / seedSeconds),
      databaseMiB: round(databaseMiB, 0),
      bundle,
      views,
    };
  } finally {
    await browser?.close().catch(() => {});
    if (serve) await stop(serve);
    rmSync(dir, { recursive: true, force: true });
  }
}

const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
const ms = (xs: number[]) => `${Math.round(percentile(xs, 50))} ms`;

/** The console section of BENCHMARKS.md. */
function renderConsoleSection(r: ConsoleResults): string {
  const out = [
    '## Console (web viewer in Chromium)',
    '',
    `Generated by bench/console.ts (\`npm run bench\`; results in bench/results-console.json), ${r.when}. Machine: ${r.machine.cpus} cores (${r.machine.cpuModel}), Node ${r.machine.node}, Chromium ${r.machine.chromium}. Reported, not asserted.`,
    '',
    `Store: SQLite, ${r.records.toLocaleString('en-US')} records in one account (${r.databaseMiB} MiB), appended with the library in ${BATCH.toLocaleString('en-US')}-record batches in ${r.seedSeconds} s (${r.seedRecordsPerSecond.toLocaleString('en-US')} records/s; the machine is shared with other work, so figures vary). Each figure is the time from navigation to the first row of the table visible, ${r.views[0]?.firstVisitMs.length ?? 0} runs each: *first visit* in a fresh browser context (empty cache, signed in), *return visit* in a new tab of a context that loaded the console before (assets cached). Every run shows a full page of ${PAGE_ROWS} rows matching the filter.`,
    '',
    '| view | first visit median | min | max | return visit median | min | max |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...r.views.map(
      (v) =>
        `| \`${v.path}\` (${v.name}) | ${ms(v.firstVisitMs)} | ${Math.round(Math.min(...v.firstVisitMs))} ms | ${Math.round(Math.max(...v.firstVisitMs))} ms | ${ms(v.returnVisitMs)} | ${Math.round(Math.min(...v.returnVisitMs))} ms | ${Math.round(Math.max(...v.returnVisitMs))} ms |`,
    ),
    '',
    `Initial JavaScript (what index.html loads before any page's lazy chunk): ${kb(r.bundle.jsGzipBytes)} gzipped (${kb(r.bundle.jsBytes)} raw); CSS ${kb(r.bundle.cssGzipBytes)} gzipped. Sizes are gzip level 9 of the files in ui/dist:`,
    '',
    '| file | raw | gzipped |',
    '|---|---:|---:|',
    ...r.bundle.files.map((f) => `| ${f.file} | ${kb(f.bytes)} | ${kb(f.gzipBytes)} |`),
    '',
  ];
  return out.join('\n');
}

/** Writes bench/results-console.json and the console section of BENCHMARKS.md. */
function writeOutputs(r: ConsoleResults): void {
  writeFileSync(join(root, 'bench', 'results-console.json'), `${JSON.stringify(r, null, 2)}\n`);
  writeBenchmarksSection('console', renderConsoleSection(r));
}

async function main(): Promise<void> {
  const ri = process.argv.indexOf('--render');
  const results = ri > 0 ? (JSON.parse(readFileSync(process.argv[ri + 1]!, 'utf8')) as ConsoleResults) : await runConsoleBench();
  process.stdout.write(renderConsoleSection(results));
  if (process.env['BENCH_CONSOLE_NO_WRITE'] !== '1') writeOutputs(results);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
