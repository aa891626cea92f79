/**
 * The delivery engine against an in-memory destination, on SQLite and PostgreSQL: batching and
 * flush, notify latency, partial failure order, throttling, dead letters, health, pause and
 * destination change, leases and fencing, the delete fence, replay, bounded reads, isolation.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createFixture, engines, type StoreFixture } from './helpers/stores.js';
import { makeRecord } from './helpers/records.js';
import { FakeDestination, until } from './helpers/fake-sink.js';
import type { AuditStore } from '../src/store/store.js';
import { DeliveryEngine, type EngineOptions } from '../src/delivery/engine.js';
import { awaitSinkDeleted, createSink, deleteSink, replayDeadLetters, replaySink, sinkStatus, updateSink } from '../src/control/sinks-service.js';
import type { AuditLogSinkSpec } from '../src/sinks/spec.js';
import { claimLease, leaseTiming } from '../src/delivery/lease.js';
import { commitBatch, LeaseLostError } from '../src/delivery/cursor.js';
import type { SinkRow } from '../src/delivery/sql/sink-row.js';
import { sinkByName } from '../src/delivery/sql/sink-by-name.js';
import type { SinkAdapter, SinkLimits } from '../src/delivery/adapter.js';
import { entrySize } from '../src/delivery/batcher.js';

const kinesisSpec = (name: string, stream = 'audit', enabled = true): AuditLogSinkSpec => ({
  name,
  enabled,
  kinesisSink: { roleName: 'writer', destinationUri: `arn:aws:kinesis:us-east-1:123456789012:stream/${stream}`, region: 'us-east-1' },
});

const FAST = { baseMs: 10, maxMs: 50 };

for (const engineName of engines()) {
  describe(`delivery engine: ${engineName}`, () => {
    let fx: StoreFixture;
    let store: AuditStore;
    const engines: DeliveryEngine[] = [];
    before(async () => {
      fx = await createFixture(engineName);
      store = await fx.open();
    });
    after(async () => {
      for (const e of engines) await e.stop(1000);
      await store.close();
      await fx.destroy();
    });

    /** Destinations by stream ARN, so a destination change lands in another one. */
    const dests = new Map<string, FakeDestination>();
    const dest = (stream: string, limits?: SinkLimits) => {
      const arn = `arn:aws:kinesis:us-east-1:123456789012:stream/${stream}`;
      let d = dests.get(arn);
      if (!d) {
        d = new FakeDestination(limits);
        dests.set(arn, d);
      }
      return d;
    };
    const startEngine = (opts: Partial<EngineOptions> = {}, s: AuditStore = store) => {
      const e = new DeliveryEngine({
        store: s,
        flushIntervalMs: 30,
        idlePollMs: 200,
        scanIntervalMs: 100,
        leaseTtlMs: 3000,
        backoff: FAST,
        fatalBackoff: FAST,
        pageSize: 25,
        createAdapter: (row: SinkRow): SinkAdapter => {
          const d = dests.get(row.spec.kinesisSink!.destinationUri)!;
          return d.adapter();
        },
        ...opts,
      });
      engines.push(e);
      e.start();
      return e;
    };
    const append = async (accountId: string, n: number) => {
      const res = await store.append({ accountId, records: Array.from({ length: n }, () => makeRecord()), ingestedBy: null });
      return res.sequences;
    };
    const create = (accountId: string, spec: AuditLogSinkSpec) => store.transaction((tx) => createSink(tx, accountId, spec));
    /** Whether `engine` holds the lease of the account's sink `main`. */
    const holds = async (engine: DeliveryEngine, accountId: string) => (await sinkByName(store.sql, accountId, 'main'))?.leaseOwner === engine.owner;

    it('starts at the head, delivers in order in batches within the limits, and advances the cursor', async () => {
      const d = dest('s-order');
      await append('acct-order', 5); // history: not delivered
      await create('acct-order', kinesisSpec('main', 's-order'));
      const engine = startEngine();
      const seqs = await append('acct-order', 47);
      engine.notify('acct-order');
      await until(() => d.received.length >= 47, 'delivery');
      assert.deepEqual(d.seqs(), seqs);
      assert.ok(
        d.sends.every((s) => s.seqs.length <= 10),
        'batches stay within maxBatchRecords',
      );
      await until(async () => (await sinkStatus(store.sql, 'acct-order', 'main')).cursorSeq === 52, 'cursor');
      const st = await sinkStatus(store.sql, 'acct-order', 'main');
      assert.equal(st.health, 'ok');
      assert.equal(st.backlog, 0);
      assert.equal(st.lagMs, 0);
      assert.equal(st.deliveredCount, 47);
      assert.ok(st.lastSuccessMs! > 0);
      await engine.stop();
    });

    it('flushes a partial batch after the flush interval, and a notify wakes it at once', async () => {
      const d = dest('s-flush');
      await create('acct-flush', kinesisSpec('main', 's-flush'));
      const engine = startEngine({ flushIntervalMs: 400, idlePollMs: 60_000 });
      await until(() => holds(engine, 'acct-flush'), 'claim');
      await new Promise((r) => setTimeout(r, 100));
      const t0 = Date.now();
      await append('acct-flush', 3);
      engine.notify('acct-flush');
      await new Promise((r) => setTimeout(r, 150));
      assert.equal(d.received.length, 0, 'a partial batch waits');
      await until(() => d.received.length === 3, 'flush');
      const waited = Date.now() - t0;
      assert.ok(waited >= 350 && waited < 2000, `waited ${waited} ms`);
      // A full batch goes without waiting.
      const t1 = Date.now();
      await append('acct-flush', 10);
      engine.notify('acct-flush');
      await until(() => d.received.length === 13, 'full batch');
      assert.ok(Date.now() - t1 < 350, 'full batch is not held back');
      await engine.stop();
    });

    it('after a partial failure resends from the first failed entry on, so order holds', async () => {
      const d = dest('s-partial');
      await create('acct-partial', kinesisSpec('main', 's-partial'));
      d.script.push(() => ({ verdict: { kind: 'retry', only: [2, 5], reason: 'InternalFailure' } }));
      const engine = startEngine();
      await until(() => holds(engine, 'acct-partial'), 'claim');
      const seqs = await append('acct-partial', 8);
      engine.notify('acct-partial');
      await until(() => d.sends.length >= 2 && new Set(d.seqs()).size === 8, 'delivery');
      // First call: 8 entries, 2 and 5 failed; the second resends from index 2 on.
      assert.deepEqual(d.sends[0]!.seqs, seqs);
      assert.deepEqual(d.sends[1]!.seqs, seqs.slice(2));
      // The destination's last occurrences are in order: 1,2,(4,5,7,8 first time),3..8.
      assert.deepEqual(d.seqs(), [...seqs.slice(0, 2), seqs[3], seqs[4], seqs[6], seqs[7], ...seqs.slice(2)]);
      await engine.stop();
    });

    it('slows down on throttling and recovers', async () => {
      const d = dest('s-throttle');
      await create('acct-throttle', kinesisSpec('main', 's-throttle'));
      const verdicts: string[] = [];
      for (let i = 0; i < 3; i++) d.script.push(() => ({ verdict: { kind: 'throttle', reason: 'ProvisionedThroughputExceededException' } }));
      const engine = startEngine({ onSent: (_s, v) => verdicts.push(v) });
      await until(() => holds(engine, 'acct-throttle'), 'claim');
      const seqs = await append('acct-throttle', 30);
      engine.notify('acct-throttle');
      await until(() => d.received.length >= 30, 'delivery');
      assert.deepEqual(d.seqs(), seqs);
      assert.deepEqual(verdicts.slice(0, 3), ['throttle', 'throttle', 'throttle']);
      assert.equal(verdicts.at(-1), 'ok');
      // Throttling is back-pressure, not an error.
      assert.equal((await sinkStatus(store.sql, 'acct-throttle', 'main')).health, 'ok');
      await engine.stop();
    });

    it('holds a sink to its byte rate, not a record count: a Pub/Sub-shaped limit sends ~400-byte records faster than 1,000/s', async () => {
      // PUBSUB_LIMITS' shape: 1 MB/s per ordering key, no count limit.
      const limits: SinkLimits = {
        maxBatchRecords: 1000,
        maxBatchBytes: 9_000_000,
        maxRecordBytes: 9_000_000,
        recordsPerSecond: null,
        bytesPerSecond: 1_000_000,
      };
      const d = dest('s-bytes', limits);
      await create('acct-bytes', kinesisSpec('main', 's-bytes'));
      const n = 4000;
      for (let i = 0; i < n; i += 500) await append('acct-bytes', 500);
      const sizes: number[] = [];
      const engine = startEngine({
        pageSize: 1000,
        createAdapter: (row: SinkRow): SinkAdapter => {
          const a = dests.get(row.spec.kinesisSink!.destinationUri)!.adapter();
          return {
            ...a,
            encode: (...args) => {
              const e = a.encode(...args);
              sizes.push(entrySize(e));
              return e;
            },
          };
        },
      });
      await until(() => d.received.length >= n, 'delivery', 20_000);
      assert.deepEqual(d.seqs().length, n);
      const mean = sizes.reduce((x, y) => x + y, 0) / sizes.length;
      assert.ok(mean > 350 && mean < 600, `entries average ${mean} bytes`);
      // A 1,000 records/s bucket, full at the first send, lets n records start no sooner than
      // (n - 1,000) ms after it; 1 MB/s of ~450-byte entries needs ~0.8 s for 4,000.
      const span = d.sends.at(-1)!.startedAt - d.sends[0]!.startedAt;
      assert.ok(span < n - 1000, `${n} records sent over ${span} ms: not held to 1,000/s`);
      assert.ok(span >= ((n * mean - 1_000_000) / 1_000_000) * 1000 * 0.9, `${n} records sent over ${span} ms: held to 1 MB/s`);
      await engine.stop();
    });

    it('dead-letters what the destination refuses for good and what is over its size limit, without wedging', async () => {
      const d = dest('s-dead', { maxBatchRecords: 10, maxBatchBytes: 1 << 20, maxRecordBytes: 2000, recordsPerSecond: 100_000, bytesPerSecond: 1 << 30 });
      await create('acct-dead', kinesisSpec('main', 's-dead'));
      const engine = startEngine();
      await until(() => holds(engine, 'acct-dead'), 'claim');
      const big = makeRecord({ details: { blob: 'x'.repeat(5000) } });
      const r1 = await store.append({ accountId: 'acct-dead', records: [makeRecord(), big, makeRecord()], ingestedBy: null });
      d.script.push(() => ({ verdict: { kind: 'reject', only: [1], reason: 'ValidationException: malformed' } }));
      const r2 = await store.append({ accountId: 'acct-dead', records: [makeRecord(), makeRecord(), makeRecord()], ingestedBy: null });
      engine.notify('acct-dead');
      await until(async () => (await sinkStatus(store.sql, 'acct-dead', 'main')).cursorSeq === 6, 'cursor past dead letters');
      const st = await sinkStatus(store.sql, 'acct-dead', 'main');
      assert.equal(st.deadLetters, 2);
      assert.equal(st.health, 'ok');
      const got = new Set(d.seqs());
      const oversize = r1.sequences[1]!;
      const rejected = d.sends[0]!.seqs[1]!;
      assert.ok(
        d.sends.every((s) => !s.seqs.includes(oversize)),
        'the oversize record was never sent',
      );
      const dl = await store.sql.all<{ seq: number; reason: string }>('SELECT seq, reason FROM audit_log_sink_dead_letters ORDER BY seq');
      assert.equal(dl.length, 2);
      assert.match(dl.find((r) => r.seq === oversize)!.reason, /over the destination's limit of 2000/);
      assert.match(dl.find((r) => r.seq === rejected)!.reason, /ValidationException/);
      // Replaying dead letters: the rejected one goes through now; the oversize one stays.
      assert.deepEqual(
        dl.map((r) => r.seq),
        [oversize, rejected].sort((a, b) => a - b),
      );
      for (const s of [...r1.sequences, ...r2.sequences]) assert.equal(got.has(s), s !== oversize && s !== rejected, `seq ${s}`);
      const before = d.received.length;
      await store.transaction((tx) => replayDeadLetters(tx, 'acct-dead', 'main'));
      engine.notify('acct-dead');
      await until(async () => (await sinkStatus(store.sql, 'acct-dead', 'main')).replays.every((r) => r.state === 'done'), 'dead-letter replay');
      assert.equal(d.received.length, before + 1);
      assert.equal((await sinkStatus(store.sql, 'acct-dead', 'main')).deadLetters, 1);
      await engine.stop();
    });

    it('shows a configuration error with its message and since-when, and clears it on recovery', async () => {
      const d = dest('s-fatal');
      await create('acct-fatal', kinesisSpec('main', 's-fatal'));
      for (let i = 0; i < 4; i++) d.script.push(() => ({ verdict: { kind: 'fatal', reason: 'permission denied: AccessDeniedException' } }));
      d.script.push(() => ({ verdict: { kind: 'ok' }, delayMs: 300 }));
      const engine = startEngine();
      await until(() => holds(engine, 'acct-fatal'), 'claim');
      await append('acct-fatal', 2);
      engine.notify('acct-fatal');
      await until(async () => (await sinkStatus(store.sql, 'acct-fatal', 'main')).health === 'error', 'error status');
      const st = await sinkStatus(store.sql, 'acct-fatal', 'main');
      assert.equal(st.errorKind, 'user_configuration');
      assert.match(st.errorMessage!, /AccessDenied/);
      assert.ok(st.errorSinceMs! <= Date.now());
      assert.equal(st.backlog, 2);
      assert.ok(st.lagMs > 0);
      await until(async () => (await sinkStatus(store.sql, 'acct-fatal', 'main')).health === 'ok', 'recovery');
      const ok = await sinkStatus(store.sql, 'acct-fatal', 'main');
      assert.equal(ok.errorMessage, null);
      assert.equal(ok.backlog, 0);
      assert.equal(d.received.length, 2);
      await engine.stop();
    });

    it('pauses with enabled: false keeping the cursor, and keeps it across a destination change', async () => {
      const a = dest('s-pause-a');
      const b = dest('s-pause-b');
      await create('acct-pause', kinesisSpec('main', 's-pause-a'));
      const engine = startEngine();
      await until(() => holds(engine, 'acct-pause'), 'claim');
      const first = await append('acct-pause', 4);
      engine.notify('acct-pause');
      await until(() => a.received.length === 4, 'first records');
      const row = (await sinkByName(store.sql, 'acct-pause', 'main'))!;
      await store.transaction((tx) => updateSink(tx, 'acct-pause', kinesisSpec('main', 's-pause-a', false), row.resourceVersion));
      engine.sinksChanged('acct-pause');
      await until(async () => (await sinkByName(store.sql, 'acct-pause', 'main'))!.leaseOwner === null, 'paused sink released');
      const paused = await append('acct-pause', 3);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(a.received.length, 4, 'nothing delivered while paused');
      assert.equal((await sinkStatus(store.sql, 'acct-pause', 'main')).backlog, 3);
      // Re-enable on another destination: continues from the cursor there.
      await store.transaction((tx) => updateSink(tx, 'acct-pause', kinesisSpec('main', 's-pause-b', true), ''));
      engine.sinksChanged('acct-pause');
      await until(() => b.received.length === 3, 'resumed on the new destination');
      assert.deepEqual(b.seqs(), paused);
      assert.deepEqual(a.seqs(), first);
      await engine.stop();
    });

    it('fences cursor writes: a holder whose lease was taken over cannot move the cursor', async () => {
      dest('s-fence');
      await create('acct-fence', kinesisSpec('main', 's-fence'));
      const row = (await sinkByName(store.sql, 'acct-fence', 'main'))!;
      const first = (await claimLease(store, row.id, 'proc-a', 1000))!;
      assert.equal(await claimLease(store, row.id, 'proc-b', 1000), undefined, 'a live lease is not claimable');
      const second = (await claimLease(store, row.id, 'proc-b', 1000, Date.now() + 2000))!;
      assert.ok(second.lease.token > first.lease.token);
      await assert.rejects(commitBatch(store, first.lease, { lastSeq: 5, delivered: 5, deadLetters: [] }), LeaseLostError);
      await commitBatch(store, second.lease, { lastSeq: 5, delivered: 5, deadLetters: [] });
      assert.equal((await sinkByName(store.sql, 'acct-fence', 'main'))!.cursorSeq, 5);
      await store.transaction((tx) => tx.run('UPDATE audit_log_sinks SET lease_owner = NULL WHERE id = ?', [row.id]));
      await store.transaction((tx) => deleteSink(tx, 'acct-fence', 'main', ''));
      await assert.rejects(commitBatch(store, second.lease, { lastSeq: 6, delivered: 1, deadLetters: [] }), LeaseLostError);
    });

    it('delete is fenced: once awaitSinkDeleted returns, no send is in flight or starts', async () => {
      const d = dest('s-delete');
      await create('acct-delete', kinesisSpec('main', 's-delete'));
      for (let i = 0; i < 50; i++) d.script.push(() => ({ verdict: { kind: 'ok' }, delayMs: 150 }));
      const engine = startEngine();
      await until(() => holds(engine, 'acct-delete'), 'claim');
      await append('acct-delete', 30);
      engine.notify('acct-delete');
      await until(() => d.sends.length >= 1, 'a send in flight');
      const deletion = await store.transaction((tx) => deleteSink(tx, 'acct-delete', 'main', ''));
      assert.equal(await awaitSinkDeleted(store, deletion, { engine, leaseTtlMs: 3000 }), true);
      const done = Date.now();
      const received = d.received.length;
      assert.ok(
        d.sends.every((s) => s.endedAt !== undefined && s.endedAt <= done),
        'every send settled before the delete returned',
      );
      await append('acct-delete', 10);
      engine.notify('acct-delete');
      await new Promise((r) => setTimeout(r, 400));
      assert.ok(
        d.sends.every((s) => s.startedAt <= done),
        'no send started after the delete',
      );
      assert.equal(d.received.length, received);
      assert.equal(await sinkByName(store.sql, 'acct-delete', 'main'), undefined);
      await engine.stop();
    });

    it('delete waits for the lease of a holder that died, then completes', async () => {
      dest('s-delete-dead');
      await create('acct-delete-dead', kinesisSpec('main', 's-delete-dead'));
      const row = (await sinkByName(store.sql, 'acct-delete-dead', 'main'))!;
      await claimLease(store, row.id, 'dead-process', 800);
      const t0 = Date.now();
      const deletion = await store.transaction((tx) => deleteSink(tx, 'acct-delete-dead', 'main', ''));
      assert.equal(await awaitSinkDeleted(store, deletion, { leaseTtlMs: 800 }), true);
      assert.ok(Date.now() - t0 >= 700, 'waited for the lease to expire');
      assert.equal(await sinkByName(store.sql, 'acct-delete-dead', 'main'), undefined);
    });

    it('replays a stored time range to one sink, tracked apart from the cursor', async () => {
      const d = dest('s-replay');
      const t0 = Date.now();
      const history = await append('acct-replay', 12);
      const t1 = Date.now() + 1;
      await create('acct-replay', kinesisSpec('main', 's-replay'));
      const engine = startEngine();
      await until(() => holds(engine, 'acct-replay'), 'claim');
      const live = await append('acct-replay', 3);
      engine.notify('acct-replay');
      await until(() => d.received.length === 3, 'live records');
      const replay = await store.transaction((tx) => replaySink(tx, 'acct-replay', 'main', t0, t1));
      assert.equal(replay.fromSeq, history[0]);
      assert.equal(replay.toSeq, history.at(-1));
      engine.sinksChanged('acct-replay');
      await until(async () => (await sinkStatus(store.sql, 'acct-replay', 'main')).replays[0]?.state === 'done', 'replay done');
      assert.deepEqual(d.seqs(), [...live, ...history]);
      const st = await sinkStatus(store.sql, 'acct-replay', 'main');
      assert.equal(st.replays[0]!.deliveredCount, 12);
      assert.equal(st.cursorSeq, live.at(-1));
      await engine.stop();
    });

    it('reads a large backlog page by page, never far ahead of the cursor', async () => {
      const d = dest('s-backlog');
      await create('acct-backlog', kinesisSpec('main', 's-backlog'));
      await append('acct-backlog', 600);
      let maxAhead = 0;
      const row = (await sinkByName(store.sql, 'acct-backlog', 'main'))!;
      const origRead = store.readChain.bind(store);
      const watched: AuditStore = Object.create(store) as AuditStore;
      watched.readChain = async (acct, fromSeq, limit) => {
        const out = await origRead(acct, fromSeq, limit);
        if (acct === 'acct-backlog' && out.length) {
          const cur = (await sinkByName(store.sql, acct, 'main'))!.cursorSeq;
          maxAhead = Math.max(maxAhead, out.at(-1)!.seq - cur);
        }
        return out;
      };
      await store.transaction((tx) => tx.run('UPDATE audit_log_sinks SET cursor_seq = 0 WHERE id = ?', [row.id]));
      const engine = startEngine({ pageSize: 25 }, watched);
      await until(() => d.received.length === 600, 'backlog delivered', 20_000);
      assert.deepEqual(
        d.seqs(),
        Array.from({ length: 600 }, (_, i) => i + 1),
      );
      // maxBatchRecords (10) + one page (25), plus the batch in flight, plus at most two
      // acknowledged batches whose cursor commit is still under way (cursor-committer.ts).
      assert.ok(maxAhead <= 10 + 25 + 10 + 2 * 10, `read ${maxAhead} records ahead of the cursor`);
      await engine.stop();
    });

    it("bounds all sinks' read-ahead by one shared budget, and every sink still delivers all, in order", async () => {
      const accounts = Array.from({ length: 8 }, (_, i) => `acct-budget-${i}`);
      const limits: SinkLimits = {
        maxBatchRecords: 100,
        maxBatchBytes: 1 << 20,
        maxRecordBytes: 64 * 1024,
        recordsPerSecond: 1_000_000,
        bytesPerSecond: 1 << 30,
      };
      const ds = accounts.map((a) => dest(`s-${a}`, limits));
      const expected = new Map<string, number[]>();
      for (const a of accounts) {
        await create(a, kinesisSpec('main', `s-${a}`));
        expected.set(a, await append(a, 300));
      }
      // Every send takes a while, so workers would read ahead (two batches of 100) if they could.
      for (const d of ds) for (let i = 0; i < 200; i++) d.script.push(() => ({ verdict: { kind: 'ok' }, delayMs: 15 }));
      const recordBytes = Math.max(...(await store.readChainBodies(accounts[0]!, 1, 300)).map((r) => Buffer.byteLength(r.recordJson) + accounts[0]!.length));
      const budget = 20 * 1024;
      const engine = startEngine({ pageSize: 25, readAheadBytes: budget });
      let maxInUse = 0;
      const sampler = setInterval(() => (maxInUse = Math.max(maxInUse, engine.readAheadInUse)), 2);
      try {
        for (const a of accounts) engine.notify(a);
        await until(() => ds.every((d) => d.received.length >= 300), 'every sink delivered', 30_000);
      } finally {
        clearInterval(sampler);
      }
      for (const [i, a] of accounts.entries()) assert.deepEqual(ds[i]!.seqs(), expected.get(a), `${a} in order`);
      // The budget, plus one page per sink (always allowed), plus one page each read just as it ran out.
      const bound = budget + 2 * accounts.length * 25 * recordBytes;
      const unbounded = accounts.length * 2 * 100 * recordBytes;
      assert.ok(bound < unbounded / 2, 'the test can tell the budget from per-worker read-ahead');
      assert.ok(maxInUse <= bound, `held ${maxInUse} bytes, bound ${bound}`);
      assert.ok(maxInUse > 0);
      await until(() => engine.readAheadInUse === 0, 'released once acknowledged');
      await engine.stop();
    });

    it('isolates sinks: a destination that hangs delays no other sink', async () => {
      const slow = dest('s-hang');
      const fast = dest('s-fast');
      await create('acct-hang', kinesisSpec('main', 's-hang'));
      await create('acct-fast', kinesisSpec('main', 's-fast'));
      for (let i = 0; i < 5; i++) slow.script.push(() => ({ verdict: { kind: 'ok' }, delayMs: 60_000 }));
      const engine = startEngine();
      await until(async () => (await holds(engine, 'acct-hang')) && (await holds(engine, 'acct-fast')), 'claims');
      await append('acct-hang', 3);
      engine.notify('acct-hang');
      await until(() => slow.sends.length === 1, 'hanging send');
      const seqs = await append('acct-fast', 20);
      engine.notify('acct-fast');
      await until(() => fast.received.length === 20, 'the other sink', 3000);
      assert.deepEqual(fast.seqs(), seqs);
      await engine.stop(200);
      assert.ok(slow.sends[0]!.aborted, 'stop aborted the hanging send after its deadline');
      assert.equal((await sinkByName(store.sql, 'acct-hang', 'main'))!.leaseOwner, null, 'lease released on stop');
    });

    it('shares sinks between two engines: each sink has one holder; a stopped engine hands over', async () => {
      const accounts = ['acct-share-1', 'acct-share-2', 'acct-share-3', 'acct-share-4'];
      for (const a of accounts) {
        dest(`s-${a}`);
        await create(a, kinesisSpec('main', `s-${a}`));
      }
      // Two SqliteStore instances in one process would block each other's synchronous writer
      // (two processes would not): on SQLite both engines share the store.
      const other = engineName === 'postgres' ? await fx.open() : store;
      const e1 = startEngine({ owner: 'engine-1' });
      const e2 = startEngine({ owner: 'engine-2' }, other);
      const mine = async (e: DeliveryEngine, a: string) => holds(e, a);
      await until(async () => {
        for (const a of accounts) if (!(await mine(e1, a)) && !(await mine(e2, a))) return false;
        return true;
      }, 'all claimed');
      const held1 = new Set(e1.heldSinks());
      assert.ok(
        e2.heldSinks().every((id) => !held1.has(id)),
        'no sink held twice',
      );
      const expected = new Map<string, number[]>();
      for (const a of accounts) expected.set(a, await append(a, 15));
      for (const a of accounts) {
        e1.notify(a);
        e2.notify(a);
      }
      await until(() => accounts.every((a) => dests.get(`arn:aws:kinesis:us-east-1:123456789012:stream/s-${a}`)!.received.length >= 15), 'delivered');
      await e1.stop();
      await until(
        async () => {
          for (const a of accounts) if (!(await holds(e2, a))) return false;
          return true;
        },
        'hand-over after graceful stop',
        5000,
      );
      for (const a of accounts) expected.set(a, [...expected.get(a)!, ...(await append(a, 5))]);
      for (const a of accounts) e2.notify(a);
      for (const a of accounts) {
        const d = dests.get(`arn:aws:kinesis:us-east-1:123456789012:stream/s-${a}`)!;
        await until(() => d.received.length >= 20, `delivered ${a}`);
        assert.deepEqual(d.seqs(), expected.get(a));
      }
      await e2.stop();
      if (other !== store) await other.close();
    });

    it('leases expire: a sink whose holder vanished is taken over', async () => {
      const d = dest('s-expire');
      await create('acct-expire', kinesisSpec('main', 's-expire'));
      const row = (await sinkByName(store.sql, 'acct-expire', 'main'))!;
      await claimLease(store, row.id, 'vanished', leaseTiming(600).ttlMs);
      const engine = startEngine();
      const seqs = await append('acct-expire', 5);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(d.received.length, 0, 'held by the vanished process');
      await until(() => d.received.length === 5, 'taken over after expiry', 5000);
      assert.deepEqual(d.seqs(), seqs);
      await engine.stop();
    });
  });
}
