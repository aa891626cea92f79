/**
 * HTTP ingest (16 clients × 100 records, server-assigned log_id, as in bench/ingest.ts) for a fixed
 * time, on SQLite or, with PROFILE_ENGINE=postgres, on PostgreSQL (BENCH_DATABASE_URL, a fresh
 * schema dropped afterwards), to be run under the profiler:
 *
 *   npx tsc -p tsconfig.json && node --cpu-prof --cpu-prof-dir=/tmp/prof dist/bench/profile-ingest.js
 *
 * (PROFILE_SECONDS, default 8). The server's profile is the main thread's file; the clients run in
 * a worker thread with a profile of their own. Prints records/s.
 */
import { Worker } from 'node:worker_threads';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import pg from 'pg';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import type { AuditStore } from '../src/store/store.js';
import { settings } from './common.js';
import { resolveConfig } from '../src/config.js';
import { buildApp } from '../src/api/app.js';
import type { HttpLoadParams, HttpLoadResult } from './http-load.js';

const TOKEN = 'profile-token-0123456789abcdef';

async function main(): Promise<void> {
  const dir = mkdtempSync(join(process.env['BENCH_TMPDIR'] ?? tmpdir(), 'auditstream-profile-'));
  const schema = `profile_${process.pid}`;
  const postgres = process.env['PROFILE_ENGINE'] === 'postgres';
  const store: AuditStore = postgres ? await PostgresStore.open(settings.pgUrl, { schema }) : await SqliteStore.open(join(dir, 'profile.db'));
  const app = await buildApp({ store, config: resolveConfig({ AUDITSTREAM_INGEST_TOKEN: TOKEN, LOG_LEVEL: 'silent' }) });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  const params: HttpLoadParams = {
    port: typeof addr === 'object' && addr ? addr.port : 0,
    token: TOKEN,
    concurrency: 16,
    batchSize: 100,
    seconds: Number(process.env['PROFILE_SECONDS'] ?? 8),
    logIds: 'server',
    accountPrefix: 'profile-',
    accounts: 16,
  };
  try {
    const result = await new Promise<HttpLoadResult>((resolve, reject) => {
      const worker = new Worker(new URL('./http-load.js', import.meta.url), { workerData: params });
      worker.once('message', (msg: { ok: boolean; result?: HttpLoadResult; error?: string }) => {
        void worker.terminate();
        if (msg.ok) resolve(msg.result!);
        else reject(new Error(msg.error));
      });
      worker.once('error', reject);
    });
    process.stdout.write(`${Math.round(result.records / (result.elapsedMs / 1000))} records/s, ${result.errors} errors\n`);
  } finally {
    await app.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
    if (postgres) {
      const c = new pg.Client({ connectionString: settings.pgUrl });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
