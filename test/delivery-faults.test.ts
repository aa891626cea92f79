/**
 * The delivery engine's fault tests against real destinations, the same tests on every sink kind
 * that has a rig (test/helpers/sink-rigs.ts): Kinesis on moto behind the fault proxy, Pub/Sub on
 * the emulator behind a TCP and a gRPC proxy, the HTTPS webhook against a receiver started
 * here, and S3 on moto (a versioned bucket, every version read back and gunzipped) behind the
 * fault proxy (SlowDown). Steady delivery of two accounts, an outage then recovery, throttling (a share of the
 * calls or entries, then every call; the webhook's 429s carry Retry-After, Pub/Sub's answer is
 * RESOURCE_EXHAUSTED), a dead letter, a replay, the delete fence, a delivering process killed
 * with SIGKILL and restarted (SQLite), and of two processes on PostgreSQL the other taking over.
 * Every test asserts that every record arrived, by log_id, in order per account.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { makeRecord } from './helpers/records.js';
import { until } from './helpers/fake-sink.js';
import { isSubsequence } from './helpers/moto.js';
import { createFixture, engines as storeEngines, type StoreFixture } from './helpers/stores.js';
import { RIG_KINDS, startRig, type DeliveryRig } from './helpers/sink-rigs.js';
import type { AuditStore } from '../src/store/store.js';
import { DeliveryEngine, type EngineOptions } from '../src/delivery/engine.js';
import { awaitSinkDeleted, createSink, deleteSink, replaySink, sinkStatus } from '../src/control/sinks-service.js';
import { sinkByName } from '../src/delivery/sql/sink-by-name.js';
import { createAdapter, sinkRegistry } from '../src/sinks/index.js';
import type { Verdict } from '../src/delivery/adapter.js';

const CHILD = fileURLToPath(new URL('./helpers/delivery-child.js', import.meta.url));

interface Child {
  proc: ChildProcess;
  stderr(): string;
  owner: string;
  exited: Promise<number | null>;
}

function startChild(databaseUrl: string, env: Record<string, string>): Promise<Child> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [CHILD], {
      env: {
        ...process.env,
        ...env,
        DATABASE_URL: databaseUrl,
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

const appendTo = async (store: AuditStore, accountId: string, n: number, per = 200): Promise<string[]> => {
  const records = Array.from({ length: n }, () => makeRecord());
  for (let i = 0; i < records.length; i += per) await store.append({ accountId, records: records.slice(i, i + per), ingestedBy: null });
  return records.map((r) => r.log_id);
};

for (const kind of RIG_KINDS) {
  describe(`delivery faults: ${kind}`, () => {
    let rig: DeliveryRig;
    let store: AuditStore;
    const engines: DeliveryEngine[] = [];
    const children: Child[] = [];
    /** Most records one send carries for this kind: the bound on what a crash may send twice. */
    let batch = sinkRegistry.byKind(kind)!.limits.maxBatchRecords;

    before(async () => {
      rig = await startRig(kind);
      store = rig.store;
      batch = rig.maxBatchRecords ?? batch;
    });
    after(async () => {
      for (const c of children) if (c.proc.exitCode === null) c.proc.kill('SIGKILL');
      await rig.stop(engines);
    });

    const startEngine = (opts: Partial<EngineOptions> = {}) => {
      const e = new DeliveryEngine({
        sinks: sinkRegistry,
        store,
        flushIntervalMs: 50,
        idlePollMs: 200,
        scanIntervalMs: 100,
        leaseTtlMs: 5000,
        backoff: { baseMs: 50, maxMs: 400 },
        fatalBackoff: { baseMs: 100, maxMs: 500 },
        ...rig.engineOptions,
        ...opts,
      });
      engines.push(e);
      e.start();
      return e;
    };
    const appendN = (accountId: string, n: number) => appendTo(store, accountId, n);
    const logIds = async (dest: string) => (await rig.read(dest)).map((r) => r.logId);
    /** A destination `dest` and the account's sink `main` writing to it. */
    const sinkTo = async (accountId: string, dest: string) => {
      await rig.create(dest);
      await store.transaction((tx) => createSink(tx, accountId, rig.spec('main', dest)));
    };
    const backlog = async (accountId: string) => (await sinkStatus(store.sql, accountId, 'main')).backlog;

    it('delivers every record of two accounts, in order, exactly once, keyed by account', async () => {
      await sinkTo('acct-a', 'steady-a');
      await sinkTo('acct-b', 'steady-b');
      const engine = startEngine();
      const a = await appendN('acct-a', 1200);
      const b = await appendN('acct-b', 300);
      engine.notify('acct-a');
      engine.notify('acct-b');
      await until(async () => (await rig.read('steady-a')).length >= 1200 && (await rig.read('steady-b')).length >= 300, 'delivery', 20_000, 200);
      const gotA = await rig.read('steady-a');
      assert.deepEqual(
        gotA.map((r) => r.logId),
        a,
      );
      assert.ok(gotA.every((r) => r.key === undefined || r.key === 'acct-a'));
      assert.deepEqual(await logIds('steady-b'), b);
      await until(async () => (await backlog('acct-a')) === 0, 'status caught up');
      await engine.stop();
    });

    it('survives the destination being down for a while, shows the error, and catches up', async () => {
      await sinkTo('acct-outage', 'outage');
      const engine = startEngine();
      const first = await appendN('acct-outage', 100);
      engine.notify('acct-outage');
      await until(async () => (await rig.read('outage')).length === 100, 'before the outage');
      rig.fault('down');
      try {
        const during = await appendN('acct-outage', 300);
        engine.notify('acct-outage');
        await until(async () => (await sinkStatus(store.sql, 'acct-outage', 'main')).health === 'error', 'error status', 10_000);
        const st = await sinkStatus(store.sql, 'acct-outage', 'main');
        assert.match(st.errorMessage!, rig.outage);
        assert.equal(st.backlog, 300);
        rig.fault('pass');
        await until(async () => (await backlog('acct-outage')) === 0, 'caught up', 15_000);
        assert.equal((await sinkStatus(store.sql, 'acct-outage', 'main')).health, 'ok');
        const got = await logIds('outage');
        assert.ok(isSubsequence([...first, ...during], got), 'every record, in order');
        assert.equal(new Set(got).size, 400);
      } finally {
        rig.fault('pass');
        await engine.stop();
      }
    });

    it('slows down under throttling (a share, then every call) and recovers, keeping order', async () => {
      await sinkTo('acct-throttled', 'throttled');
      const verdicts: Verdict['kind'][] = [];
      const engine = startEngine({ onSent: (_s, v) => verdicts.push(v) });
      try {
        rig.fault('throttle-some');
        const ids = await appendN('acct-throttled', 900);
        engine.notify('acct-throttled');
        await until(() => rig.throttled() > (kind === 'kinesis' ? 50 : 0), 'some throttling', 10_000);
        // Every call throttled until a few were: deterministic, so a loaded machine (fewer calls in
        // the window) cannot make it flaky.
        rig.fault('throttle-all');
        const before = rig.throttled();
        ids.push(...(await appendN('acct-throttled', 600)));
        engine.notify('acct-throttled');
        await until(() => rig.throttled() > before + 3, 'every call throttled', 20_000);
        rig.fault('pass');
        await until(async () => (await backlog('acct-throttled')) === 0, 'caught up', 20_000);
        const got = await logIds('throttled');
        assert.ok(isSubsequence(ids, got), 'every record, in order (resent from the first failed entry)');
        assert.equal(new Set(got).size, 1500);
        assert.ok(verdicts.filter((v) => v === 'throttle').length >= 4);
        assert.equal(verdicts.at(-1), 'ok');
        assert.equal((await sinkStatus(store.sql, 'acct-throttled', 'main')).health, 'ok');
      } finally {
        rig.fault('pass');
        await engine.stop();
      }
    });

    it('dead-letters a record over the destination limit and delivers the rest', async () => {
      await sinkTo('acct-dead', 'dead');
      // Ingest allows 256 KiB and every destination more, so the limit is lowered for the test.
      const engine = startEngine({
        createAdapter: (row, externalId) => {
          const real = createAdapter(row.spec, { accountId: row.accountId, sinkName: row.name, externalId });
          return {
            kind: real.kind,
            limits: { ...real.limits, maxRecordBytes: 4000 },
            encode: real.encode,
            send: real.send,
            classify: real.classify,
            close: real.close,
          };
        },
      });
      const small1 = makeRecord();
      const big = makeRecord({ details: { blob: 'y'.repeat(10_000) } });
      const small2 = makeRecord();
      await store.append({ accountId: 'acct-dead', records: [small1, big, small2], ingestedBy: null });
      engine.notify('acct-dead');
      await until(async () => (await sinkStatus(store.sql, 'acct-dead', 'main')).cursorSeq === 3, 'past the dead letter');
      assert.deepEqual(await logIds('dead'), [small1.log_id, small2.log_id]);
      const st = await sinkStatus(store.sql, 'acct-dead', 'main');
      assert.equal(st.deadLetters, 1);
      assert.equal(st.health, 'ok');
      await engine.stop();
    });

    it('replays a stored time range after the live records, in order, tracked apart from the cursor', async () => {
      await sinkTo('acct-replay', 'replay');
      const engine = startEngine();
      const live = await appendN('acct-replay', 120);
      engine.notify('acct-replay');
      await until(async () => (await backlog('acct-replay')) === 0, 'live records delivered');
      const cursor = (await sinkStatus(store.sql, 'acct-replay', 'main')).cursorSeq;
      await store.transaction((tx) => replaySink(tx, 'acct-replay', 'main', 0, Date.now() + 1));
      engine.sinksChanged('acct-replay');
      await until(async () => (await sinkStatus(store.sql, 'acct-replay', 'main')).replays.every((r) => r.state === 'done'), 'replay done', 15_000);
      const got = await logIds('replay');
      assert.deepEqual(got.slice(0, 120), live, 'the live records first');
      assert.deepEqual(got.slice(120), live, 'then the replayed range, in order');
      assert.equal((await sinkStatus(store.sql, 'acct-replay', 'main')).cursorSeq, cursor, 'a replay does not move the cursor');
      await engine.stop();
    });

    it('after deleteSink + awaitSinkDeleted return, nothing more reaches the destination', async () => {
      await sinkTo('acct-del', 'deleted');
      const engine = startEngine();
      rig.fault('delay');
      let appending = true;
      const writer = (async () => {
        while (appending) {
          await appendN('acct-del', 20);
          engine.notify('acct-del');
          await new Promise((r) => setTimeout(r, 30));
        }
      })();
      try {
        const t0 = Date.now();
        await until(() => rig.sendsSince(t0) > 0, 'sends under way', 10_000);
        await new Promise((r) => setTimeout(r, 150)); // very likely mid-send now
        const deletion = await store.transaction((tx) => deleteSink(tx, 'acct-del', 'main', ''));
        assert.equal(await awaitSinkDeleted(store, deletion, { engine, leaseTtlMs: 5000 }), true);
        const done = Date.now();
        const count = (await rig.read('deleted')).length;
        await new Promise((r) => setTimeout(r, 800));
        assert.equal((await rig.read('deleted')).length, count, 'no record arrived after the delete returned');
        assert.equal(rig.sendsSince(done + 1), 0, 'no send reached the destination after the delete returned');
        assert.ok(count > 0);
      } finally {
        appending = false;
        await writer;
        rig.fault('pass');
        await engine.stop();
      }
    });

    it('a process killed with SIGKILL mid-stream resumes from the durable cursor after restart (SQLite)', async () => {
      const fx: StoreFixture = await createFixture('sqlite');
      const own = await fx.open();
      try {
        await rig.create('sigkill');
        await own.transaction((tx) => createSink(tx, 'acct-kill', rig.spec('main', 'sigkill')));
        const ids = await appendTo(own, 'acct-kill', 3000, 250);
        // Each send held a while, so the kill lands mid-stream whatever the batch size.
        rig.fault('delay');
        const first = await startChild(fx.databaseUrl, rig.childEnv());
        children.push(first);
        await until(async () => (await sinkByName(own.sql, 'acct-kill', 'main'))!.cursorSeq >= 600, 'some progress', 20_000, 20);
        first.proc.kill('SIGKILL');
        await first.exited;
        const atKill = (await sinkByName(own.sql, 'acct-kill', 'main'))!.cursorSeq;
        assert.ok(atKill < 3000, 'killed mid-stream');
        rig.fault('pass');
        const more = await appendTo(own, 'acct-kill', 200, 250);
        const second = await startChild(fx.databaseUrl, rig.childEnv());
        children.push(second);
        await until(async () => (await sinkStatus(own.sql, 'acct-kill', 'main')).backlog === 0, 'caught up after restart', 30_000, 100).catch(
          (err: unknown) => {
            throw new Error(`${String(err)}; child: ${second.stderr()}`);
          },
        );
        second.proc.kill('SIGTERM');
        assert.equal(await second.exited, 0, 'graceful stop');
        assert.equal((await sinkByName(own.sql, 'acct-kill', 'main'))!.leaseOwner, null, 'lease released on SIGTERM');
        const got = await logIds('sigkill');
        assert.ok(isSubsequence([...ids, ...more], got), 'every record, in order');
        assert.equal(new Set(got).size, 3200);
        // At-least-once: what may go twice is the batch in flight at the kill and one acknowledged
        // batch whose cursor commit had not landed (src/delivery/cursor-committer.ts).
        assert.ok(got.length - 3200 <= 2 * batch, `${got.length - 3200} duplicates`);
      } finally {
        rig.fault('pass');
        await own.close();
        await fx.destroy();
      }
    });

    it('of two processes on PostgreSQL, the other takes over when the holder is killed', { skip: !storeEngines().includes('postgres') }, async () => {
      const fx: StoreFixture = await createFixture('postgres');
      const own = await fx.open();
      try {
        await rig.create('takeover');
        await own.transaction((tx) => createSink(tx, 'acct-takeover', rig.spec('main', 'takeover')));
        const a = await startChild(fx.databaseUrl, rig.childEnv());
        children.push(a);
        await until(async () => (await sinkByName(own.sql, 'acct-takeover', 'main'))!.leaseOwner === a.owner, 'A holds the sink', 10_000);
        const b = await startChild(fx.databaseUrl, rig.childEnv());
        children.push(b);
        rig.fault('delay');
        const ids = await appendTo(own, 'acct-takeover', 2000, 250);
        await until(async () => (await sinkByName(own.sql, 'acct-takeover', 'main'))!.cursorSeq >= 300, 'A delivering', 20_000, 20);
        const killedAt = Date.now();
        a.proc.kill('SIGKILL');
        await a.exited;
        rig.fault('pass');
        const more = await appendTo(own, 'acct-takeover', 300, 250);
        await until(async () => (await sinkByName(own.sql, 'acct-takeover', 'main'))!.leaseOwner === b.owner, 'B took over', 10_000);
        assert.ok(Date.now() - killedAt >= 1000, 'only after the lease expired');
        await until(async () => (await sinkStatus(own.sql, 'acct-takeover', 'main')).backlog === 0, 'B caught up', 30_000, 100);
        b.proc.kill('SIGTERM');
        await b.exited;
        const got = await logIds('takeover');
        assert.ok(isSubsequence([...ids, ...more], got), 'every record, in order');
        assert.equal(new Set(got).size, 2300);
      } finally {
        rig.fault('pass');
        await own.close();
        await fx.destroy();
      }
    });
  });
}
