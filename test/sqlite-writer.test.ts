/**
 * The SQLite store's write path beyond the contract suite: group commits in the append worker
 * (src/store/sqlite/appender.ts), the WAL checkpointer worker (checkpointer.ts), and what
 * acknowledged means when the process dies mid-commit.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { BACKSTOP_AUTOCHECKPOINT, type Checkpointer } from '../src/store/sqlite/checkpointer.js';
import { workerOptions, type WorkerAppender } from '../src/store/sqlite/appender.js';
import { AuditError } from '../src/errors.js';
import { verifyAccount } from '../src/chain/verify.js';
import { makeRecord } from './helpers/records.js';

const checkpointerOf = (store: SqliteStore) => (store as unknown as { checkpointer: Checkpointer | undefined }).checkpointer;
const appenderOf = (store: SqliteStore) => (store as unknown as { appender: WorkerAppender | undefined }).appender;
const writerOf = (store: SqliteStore) => (store as unknown as { w: { pragma(s: string, o?: { simple: boolean }): unknown } }).w;

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !ok(); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(ok(), what);
}

describe('SQLite store: group commits in the append worker', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'auditstream-appender-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('commits through the worker; a batch refused there fails alone, with its error code, and the rest of its group commit is stored', async () => {
    const store = await SqliteStore.open(join(dir, 'a.db'));
    try {
      assert.equal(appenderOf(store)?.alive, true);
      const first = makeRecord();
      await store.append({ accountId: 'acct', records: [first], ingestedBy: null });
      // One tick: one group commit holding a conflicting batch between two good ones.
      const [good1, bad, good2] = await Promise.allSettled([
        store.append({ accountId: 'acct', records: [makeRecord()], ingestedBy: null }),
        store.append({ accountId: 'acct', records: [makeRecord(), { ...makeRecord(), log_id: first.log_id }], ingestedBy: null }),
        store.append({ accountId: 'other', records: [makeRecord()], ingestedBy: null }),
      ]);
      assert.deepEqual(good1.status === 'fulfilled' && good1.value, { sequences: [2], duplicates: 0 });
      assert.deepEqual(good2.status === 'fulfilled' && good2.value, { sequences: [1], duplicates: 0 });
      assert.equal(bad.status, 'rejected');
      const err = (bad as PromiseRejectedResult).reason as AuditError;
      assert.ok(err instanceof AuditError, 'the refusal crosses the thread boundary as an AuditError');
      assert.equal(err.code, 'AS_ERR_LOG_ID_CONFLICT');
      assert.equal(err.details?.['log_id'], first.log_id);
      assert.equal((await store.chainHead('acct'))!.seq, 2, 'nothing of the refused batch was stored');
      assert.equal((await verifyAccount(store, 'acct', { trustedKeys: new Map() })).ok, true);
    } finally {
      await store.close();
    }
  });

  it('close drains every queued append before the worker stops, and all of them are stored', async () => {
    const path = join(dir, 'b.db');
    const store = await SqliteStore.open(path);
    const appends = Array.from({ length: 200 }, (_, i) =>
      store.append({ accountId: `acct-${i % 5}`, records: [makeRecord(), makeRecord()], ingestedBy: null }),
    );
    const closing = store.close();
    const results = await Promise.all(appends);
    await closing;
    assert.equal(results.length, 200);
    await assert.rejects(store.append({ accountId: 'acct-0', records: [makeRecord()], ingestedBy: null }), { code: 'AS_ERR_UNAVAILABLE' });
    const again = await SqliteStore.open(path);
    try {
      assert.equal(await again.count(), 400);
      for (let a = 0; a < 5; a++) assert.equal((await verifyAccount(again, `acct-${a}`, { trustedKeys: new Map() })).ok, true);
    } finally {
      await again.close();
    }
  });

  it('goes on committing on its own connection when the worker dies, the chain unbroken', async () => {
    const store = await SqliteStore.open(join(dir, 'c.db'));
    try {
      await store.append({ accountId: 'acct', records: [makeRecord(), makeRecord()], ingestedBy: null });
      await (appenderOf(store) as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
      await until('the store saw the worker stop', () => appenderOf(store)!.alive === false);
      const r = await store.append({ accountId: 'acct', records: [makeRecord()], ingestedBy: null });
      assert.deepEqual(r.sequences, [3]);
      assert.equal((await verifyAccount(store, 'acct', { trustedKeys: new Map() })).ok, true);
    } finally {
      await store.close();
    }
  });
});

describe('SQLite store: WAL checkpoints in a worker thread', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'auditstream-writer-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('checkpoints from the worker, keeps the writer on the backstop mark, and closes cleanly with every record kept', async () => {
    const path = join(dir, 'a.db');
    const store = await SqliteStore.open(path);
    assert.equal(writerOf(store).pragma('wal_autocheckpoint', { simple: true }), BACKSTOP_AUTOCHECKPOINT);
    const appends: Promise<unknown>[] = [];
    for (let i = 0; i < 40; i++) appends.push(store.append({ accountId: `acct-${i % 4}`, records: [makeRecord(), makeRecord()], ingestedBy: null }));
    await Promise.all(appends);
    await until('the worker ran a checkpoint', () => checkpointerOf(store)!.checkpoints > 0);
    // Everything committed so far is in the database file: a checkpoint from outside finds no frame left to copy.
    const outside = new Database(path);
    const [row] = outside.pragma('wal_checkpoint(PASSIVE)') as { busy: number; log: number; checkpointed: number }[];
    outside.close();
    assert.equal(row!.checkpointed, row!.log);
    await store.close();
    // The write connection closed last and ran the final checkpoint: no WAL left behind.
    assert.equal(existsSync(`${path}-wal`), false);

    const again = await SqliteStore.open(path);
    try {
      assert.equal(await again.count(), 80);
      for (let a = 0; a < 4; a++) assert.equal((await verifyAccount(again, `acct-${a}`, { trustedKeys: new Map() })).ok, true);
    } finally {
      await again.close();
    }
  });

  it('falls back to the writer checkpointing itself when the worker stops, and appends go on', async () => {
    const store = await SqliteStore.open(join(dir, 'b.db'));
    try {
      const worker = (checkpointerOf(store) as unknown as { worker: { terminate(): Promise<number> } }).worker;
      await worker.terminate();
      await until('the writer took its checkpoints back', () => writerOf(store).pragma('wal_autocheckpoint', { simple: true }) === 1000);
      const r = await store.append({ accountId: 'acct', records: [makeRecord(), makeRecord()], ingestedBy: null });
      assert.deepEqual(r.sequences, [1, 2]);
    } finally {
      await store.close();
    }
  });

  it('runs without the worker when asked (checkpointInWorker: false)', async () => {
    const store = await SqliteStore.open(join(dir, 'c.db'), { checkpointInWorker: false });
    try {
      assert.equal(checkpointerOf(store), undefined);
      assert.equal(writerOf(store).pragma('wal_autocheckpoint', { simple: true }), 1000);
      assert.deepEqual((await store.append({ accountId: 'acct', records: [makeRecord()], ingestedBy: null })).sequences, [1]);
    } finally {
      await store.close();
    }
  });

  it('keeps every acknowledged record, chains intact, when the process is killed mid-commit', async () => {
    const path = join(dir, 'kill.db');
    const storeUrl = new URL('../src/store/sqlite/sqlite-store.js', import.meta.url).href;
    const recordsUrl = new URL('./helpers/records.js', import.meta.url).href;
    // 8 writers over 4 accounts append 50 records at a time without pause; each acknowledgement is
    // printed once its group commit returned, so whatever was printed must survive SIGKILL.
    const child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const { SqliteStore } = await import(${JSON.stringify(storeUrl)});
         const { makeRecord } = await import(${JSON.stringify(recordsUrl)});
         const store = await SqliteStore.open(${JSON.stringify(path)});
         const writer = async (w) => {
           for (;;) {
             const records = Array.from({ length: 50 }, () => makeRecord());
             await store.append({ accountId: 'acct-' + (w % 4), records, ingestedBy: null });
             process.stdout.write(records.map((r) => 'acct-' + (w % 4) + ' ' + r.log_id + '\\n').join(''));
           }
         };
         for (let w = 0; w < 8; w++) void writer(w);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'], cwd: fileURLToPath(new URL('.', import.meta.url)) },
    );
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => (out += d));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    await until('the child acknowledged 3,000 records', () => out.split('\n').length > 3000);
    child.kill('SIGKILL');
    await exited;
    // A line cut by the kill is not an acknowledgement.
    const complete = out.slice(0, out.lastIndexOf('\n')).split('\n');
    assert.ok(complete.length >= 3000);

    const store = await SqliteStore.open(path);
    try {
      for (const line of complete) {
        const [accountId, logId] = line.split(' ');
        assert.ok(await store.recordByLogId(accountId!, logId!), `acknowledged ${logId} of ${accountId} survived SIGKILL`);
      }
      for (let a = 0; a < 4; a++) {
        const report = await verifyAccount(store, `acct-${a}`, { trustedKeys: new Map() });
        assert.equal(report.ok, true, JSON.stringify(report.break));
      }
    } finally {
      await store.close();
    }
  });

  it('opens, and commits through its workers, in a process started with V8 heap and stack options', async () => {
    // A worker thread refuses these as options (ERR_WORKER_INVALID_EXEC_ARGV): the store must
    // still open, the old-space limit going to each worker as its own resource limit.
    const path = join(dir, 'v8-options.db');
    const storeUrl = new URL('../src/store/sqlite/sqlite-store.js', import.meta.url).href;
    const recordsUrl = new URL('./helpers/records.js', import.meta.url).href;
    const child = spawn(
      process.execPath,
      [
        '--max-old-space-size=128',
        '--stack-size=900',
        '--max_semi_space_size=8',
        '--input-type=module',
        '-e',
        `const { SqliteStore } = await import(${JSON.stringify(storeUrl)});
         const { makeRecord } = await import(${JSON.stringify(recordsUrl)});
         const store = await SqliteStore.open(${JSON.stringify(path)});
         const r = await store.append({ accountId: 'acct-v8', records: Array.from({ length: 100 }, () => makeRecord()), ingestedBy: null });
         const inWorker = store.appender?.alive === true && store.checkpointer !== undefined;
         await store.close();
         process.stdout.write(JSON.stringify({ stored: r.sequences.length, inWorker }));`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], cwd: fileURLToPath(new URL('.', import.meta.url)) },
    );
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    assert.equal(code, 0, err);
    assert.deepEqual(JSON.parse(out), { stored: 100, inWorker: true });
    const store = await SqliteStore.open(path);
    try {
      assert.equal((await store.chainHead('acct-v8'))!.seq, 100);
    } finally {
      await store.close();
    }
  });

  it('worker options: Node options pass, `node -e` code and V8 sizes do not, the old-space size becomes a resource limit', () => {
    assert.deepEqual(workerOptions(['--enable-source-maps', '--max-old-space-size=128', '--input-type=module', '-e', 'code', '--cpu-prof']), {
      execArgv: ['--enable-source-maps', '--cpu-prof'],
      resourceLimits: { maxOldGenerationSizeMb: 128 },
    });
    assert.deepEqual(workerOptions(['--max_old_space_size', '64', '--stack-size=900', '--input-type', 'module', '--conditions=dev']), {
      execArgv: ['--conditions=dev'],
      resourceLimits: { maxOldGenerationSizeMb: 64 },
    });
  });
});
