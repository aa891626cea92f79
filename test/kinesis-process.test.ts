/**
 * Delivering processes that die: a child process running the engine (dist/test/helpers/
 * delivery-child.js) is killed with SIGKILL mid-stream and restarted (SQLite), and of two
 * processes sharing PostgreSQL the holder is killed and the other takes over after the lease
 * expires. Every record must arrive in order (at-least-once: a resent tail is allowed).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { createFixture, engines, type StoreFixture } from './helpers/stores.js';
import { makeRecord } from './helpers/records.js';
import { until } from './helpers/fake-sink.js';
import { createStream, isSubsequence, kinesisClient, MOTO_ACCOUNT, readStream, startMoto, useAwsEndpoint, type Moto } from './helpers/moto.js';
import type { AuditStore } from '../src/store/store.js';
import { createSink, sinkStatus } from '../src/control/sinks-service.js';
import { sinkByName } from '../src/delivery/sql/sink-by-name.js';
import type { KinesisClient } from '@aws-sdk/client-kinesis';

const CHILD = fileURLToPath(new URL('./helpers/delivery-child.js', import.meta.url));

interface Child {
  proc: ChildProcess;
  stderr(): string;
  owner: string;
  exited: Promise<number | null>;
}

function startChild(databaseUrl: string, awsUrl: string): Promise<Child> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [CHILD], {
      env: {
        ...process.env,
        DATABASE_URL: databaseUrl,
        AWS_ENDPOINT_URL: awsUrl,
        LEASE_TTL_MS: '1500',
        FLUSH_INTERVAL_MS: '50',
        CHILD_LOG_LEVEL: process.env['CHILD_LOG_LEVEL'] ?? '',
      },
      stdio: ['ignore', 'pipe', process.env['CHILD_STDERR'] ? 'inherit' : 'pipe'],
    });
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
    const timer = setTimeout(() => reject(new Error(`child did not start: ${stderr}`)), 15_000);
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      stderr += `${line}\n`;
      const m = /^ready (\S+)$/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, owner: m[1]!, exited, stderr: () => stderr });
      }
    });
    void exited.then((code) => reject(new Error(`child exited with ${code}: ${stderr}`)));
  });
}

const spec = (stream: string) => ({
  name: 'main',
  enabled: true,
  kinesisSink: { roleName: 'writer', destinationUri: `arn:aws:kinesis:us-east-1:${MOTO_ACCOUNT}:stream/${stream}`, region: 'us-east-1' },
});

describe('delivering processes that die', () => {
  let moto: Moto;
  let kinesis: KinesisClient;
  const children: Child[] = [];
  before(async () => {
    moto = await startMoto();
    useAwsEndpoint(moto.url);
    kinesis = kinesisClient(moto.url);
  });
  after(async () => {
    for (const c of children) if (c.proc.exitCode === null) c.proc.kill('SIGKILL');
    kinesis.destroy();
    await moto.stop();
  });

  const appendN = async (store: AuditStore, accountId: string, n: number) => {
    const records = Array.from({ length: n }, () => makeRecord());
    for (let i = 0; i < n; i += 250) await store.append({ accountId, records: records.slice(i, i + 250), ingestedBy: null });
    return records.map((r) => r.log_id);
  };

  it('a process killed with SIGKILL mid-stream resumes from the durable cursor after restart (SQLite)', async () => {
    const fx: StoreFixture = await createFixture('sqlite');
    const store = await fx.open();
    try {
      await createStream(kinesis, 'sigkill');
      await store.transaction((tx) => createSink(tx, 'acct-kill', spec('sigkill')));
      const ids = await appendN(store, 'acct-kill', 3000);
      const first = await startChild(fx.databaseUrl, moto.url);
      children.push(first);
      await until(async () => (await sinkByName(store.sql, 'acct-kill', 'main'))!.cursorSeq >= 600, 'some progress', 20_000, 20);
      first.proc.kill('SIGKILL');
      await first.exited;
      const atKill = (await sinkByName(store.sql, 'acct-kill', 'main'))!.cursorSeq;
      assert.ok(atKill < 3000, 'killed mid-stream');
      const more = await appendN(store, 'acct-kill', 200);
      const second = await startChild(fx.databaseUrl, moto.url);
      children.push(second);
      await until(async () => (await sinkStatus(store.sql, 'acct-kill', 'main')).backlog === 0, 'caught up after restart', 30_000, 100).catch(
        async (err: unknown) => {
          const t0 = Date.now();
          const row = await sinkByName(store.sql, 'acct-kill', 'main');
          let w = 'write ok';
          try {
            await store.transaction((tx) => tx.run('UPDATE audit_log_sinks SET modified_ms = modified_ms WHERE id = ?', [row!.id]));
          } catch (e) {
            w = String(e);
          }
          throw new Error(
            `${String(err)}; expires in ${row!.leaseExpiresMs! - t0}; ${w} after ${Date.now() - t0} ms; first ${first.owner} second ${second.owner}; status ${JSON.stringify(await sinkStatus(store.sql, 'acct-kill', 'main'))}; child: ${second.stderr()}`,
          );
        },
      );
      second.proc.kill('SIGTERM');
      assert.equal(await second.exited, 0, 'graceful stop');
      assert.equal((await sinkByName(store.sql, 'acct-kill', 'main'))!.leaseOwner, null, 'lease released on SIGTERM');
      const got = (await readStream(kinesis, 'sigkill')).map((r) => r.logId);
      assert.ok(isSubsequence([...ids, ...more], got), 'every record, in order');
      assert.equal(new Set(got).size, 3200);
      // At-least-once: at most the batch in flight at the kill is sent twice.
      assert.ok(got.length - 3200 <= 500, `${got.length - 3200} duplicates`);
    } finally {
      await store.close();
      await fx.destroy();
    }
  });

  it('of two processes on PostgreSQL, the other takes over when the holder is killed', { skip: !engines().includes('postgres') }, async () => {
    const fx: StoreFixture = await createFixture('postgres');
    const store = await fx.open();
    try {
      await createStream(kinesis, 'takeover');
      await store.transaction((tx) => createSink(tx, 'acct-takeover', spec('takeover')));
      const a = await startChild(fx.databaseUrl, moto.url);
      children.push(a);
      await until(async () => (await sinkByName(store.sql, 'acct-takeover', 'main'))!.leaseOwner === a.owner, 'A holds the sink', 10_000);
      const b = await startChild(fx.databaseUrl, moto.url);
      children.push(b);
      const ids = await appendN(store, 'acct-takeover', 2000);
      await until(async () => (await sinkByName(store.sql, 'acct-takeover', 'main'))!.cursorSeq >= 300, 'A delivering', 20_000, 20);
      const killedAt = Date.now();
      a.proc.kill('SIGKILL');
      await a.exited;
      const more = await appendN(store, 'acct-takeover', 300);
      await until(async () => (await sinkByName(store.sql, 'acct-takeover', 'main'))!.leaseOwner === b.owner, 'B took over', 10_000);
      assert.ok(Date.now() - killedAt >= 1000, 'only after the lease expired');
      await until(async () => (await sinkStatus(store.sql, 'acct-takeover', 'main')).backlog === 0, 'B caught up', 30_000, 100);
      b.proc.kill('SIGTERM');
      await b.exited;
      const got = (await readStream(kinesis, 'takeover')).map((r) => r.logId);
      assert.ok(isSubsequence([...ids, ...more], got), 'every record, in order');
      assert.equal(new Set(got).size, 2300);
    } finally {
      await store.close();
      await fx.destroy();
    }
  });
});
