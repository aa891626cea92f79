/**
 * The AuditStore contract, run against SQLite and the real PostgreSQL.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createFixture, engines, type StoreFixture } from './helpers/stores.js';
import { makeRecord } from './helpers/records.js';
import { normalizeRecord, type AcceptedRecord } from '../src/record/record.js';
import { isAuditError } from '../src/errors.js';
import type { AuditStore } from '../src/store/store.js';
import { verifyAccount } from '../src/chain/verify.js';
import { retentionAttestor } from '../src/chain/purge.js';
import { attestorAfterCheckpoint, testSigner } from './helpers/retention.js';

const noKeys = { trustedKeys: new Map() };

for (const engine of engines()) {
  describe(`store contract: ${engine}`, () => {
    let fx: StoreFixture;
    let store: AuditStore;
    before(async () => {
      fx = await createFixture(engine);
      store = await fx.open();
    });
    after(async () => {
      await store.close();
      await fx.destroy();
    });

    it('appends records in order with gap-free sequences and reads them back', async () => {
      const records = [makeRecord(), makeRecord(), makeRecord()];
      const res = await store.append({ accountId: 'acct-order', records, ingestedBy: null });
      assert.deepEqual(res, { sequences: [1, 2, 3], duplicates: 0 });
      const res2 = await store.append({ accountId: 'acct-order', records: [makeRecord()], ingestedBy: 'token:deployment' });
      assert.deepEqual(res2.sequences, [4]);
      const chain = await store.readChain('acct-order', 1, 10);
      assert.deepEqual(
        chain.map((r) => r.seq),
        [1, 2, 3, 4],
      );
      assert.deepEqual(
        chain.slice(0, 3).map((r) => JSON.parse(r.recordJson)),
        records,
      );
      assert.equal(chain[3]!.ingestedBy, 'token:deployment');
      assert.equal(chain[1]!.prevHash, chain[0]!.hash);
      // What delivery reads: the same records, bodies only.
      assert.deepEqual(
        await store.readChainBodies('acct-order', 2, 2),
        chain.slice(1, 3).map((r) => ({ seq: r.seq, logId: r.columns.logId, storedAt: r.storedAt, recordJson: r.recordJson })),
      );
      const head = await store.chainHead('acct-order');
      assert.deepEqual(head, { accountId: 'acct-order', seq: 4, hash: chain[3]!.hash });
      assert.equal((await verifyAccount(store, 'acct-order', noKeys)).ok, true);
    });

    it('stores a retried log_id with identical content once', async () => {
      const r = makeRecord();
      await store.append({ accountId: 'acct-idem', records: [r], ingestedBy: null });
      const again = await store.append({ accountId: 'acct-idem', records: [structuredClone(r), makeRecord()], ingestedBy: null });
      assert.deepEqual(again, { sequences: [1, 2], duplicates: 1 });
      assert.equal(await store.count('acct-idem'), 2);
      // The same log_id in another account is another record.
      await store.append({ accountId: 'acct-idem-2', records: [r], ingestedBy: null });
      assert.equal(await store.count('acct-idem-2'), 1);
    });

    it('refuses a batch whose log_id is stored with other content, storing none of it', async () => {
      const r = makeRecord();
      await store.append({ accountId: 'acct-conflict', records: [r], ingestedBy: null });
      const fresh = makeRecord();
      await assert.rejects(
        store.append({ accountId: 'acct-conflict', records: [fresh, { ...r, operation: 'DeleteUser' }], ingestedBy: null }),
        (err: unknown) => isAuditError(err) && err.code === 'AS_ERR_LOG_ID_CONFLICT' && err.details?.['index'] === 1,
      );
      assert.equal(await store.count('acct-conflict'), 1);
      // A conflict inside one batch is refused too.
      const dup = makeRecord();
      await assert.rejects(
        store.append({ accountId: 'acct-conflict', records: [dup, { ...dup, status: 'ERROR' }], ingestedBy: null }),
        (err: unknown) => isAuditError(err) && err.code === 'AS_ERR_LOG_ID_CONFLICT',
      );
      assert.equal(await store.count('acct-conflict'), 1);
      assert.equal((await verifyAccount(store, 'acct-conflict', noKeys)).ok, true);
    });

    it('gives 409 for the two seed records that share a log_id, never a silent drop', async () => {
      const here = fileURLToPath(new URL('.', import.meta.url));
      const lines = readFileSync(`${here}/../../test/fixtures/seed-records.jsonl`, 'utf8').trim().split('\n');
      const seeds = lines.map((l) => normalizeRecord(JSON.parse(l) as AcceptedRecord));
      const byId = new Map<string, number>();
      seeds.forEach((s) => byId.set(s.log_id, (byId.get(s.log_id) ?? 0) + 1));
      assert.ok(
        [...byId.values()].some((n) => n > 1),
        'the seeds reuse a log_id',
      );
      let conflicts = 0;
      for (const s of seeds) {
        try {
          await store.append({ accountId: 'acct-seeds', records: [s], ingestedBy: 'token:deployment' });
        } catch (err) {
          assert.ok(isAuditError(err) && err.code === 'AS_ERR_LOG_ID_CONFLICT');
          conflicts++;
        }
      }
      assert.equal(conflicts, 1);
      assert.equal(await store.count('acct-seeds'), seeds.length - 1);
    });

    it('batches many concurrent writers into a gap-free chain', async () => {
      const writers = 64;
      const per = 5;
      const results = await Promise.all(
        Array.from({ length: writers }, () =>
          store.append({ accountId: 'acct-concurrent', records: Array.from({ length: per }, () => makeRecord()), ingestedBy: null }),
        ),
      );
      const seqs = results.flatMap((r) => r.sequences).sort((a, b) => a - b);
      assert.deepEqual(
        seqs,
        Array.from({ length: writers * per }, (_, i) => i + 1),
      );
      assert.equal((await verifyAccount(store, 'acct-concurrent', noKeys)).ok, true);
    });

    it('never forks a chain when two store instances write one account', async () => {
      const second = await fx.open();
      try {
        await Promise.all(
          Array.from({ length: 40 }, (_, i) =>
            (i % 2 ? second : store).append({ accountId: 'acct-two-procs', records: [makeRecord(), makeRecord()], ingestedBy: null }),
          ),
        );
      } finally {
        await second.close();
      }
      const report = await verifyAccount(store, 'acct-two-procs', noKeys);
      assert.equal(report.ok, true, report.break?.reason);
      assert.equal(report.checked, 80);
    });

    it('group commits across accounts: two store instances, 8 accounts, every chain gap-free; a conflicting batch fails alone', async () => {
      const accounts = Array.from({ length: 8 }, (_, i) => `acct-multi-${i}`);
      const second = await fx.open();
      try {
        // Interleaved accounts from two instances: heads are locked in sorted order, so no deadlock.
        await Promise.all(
          Array.from({ length: 96 }, (_, i) =>
            (i % 2 ? second : store).append({ accountId: accounts[(i * 5) % 8]!, records: [makeRecord(), makeRecord()], ingestedBy: null }),
          ),
        );
      } finally {
        await second.close();
      }
      for (const a of accounts) {
        const report = await verifyAccount(store, a, noKeys);
        assert.equal(report.ok, true, report.break?.reason);
        assert.equal(report.checked, 24);
      }
      const first = JSON.parse((await store.readChain(accounts[0]!, 1, 1))[0]!.recordJson) as ReturnType<typeof makeRecord>;
      const [bad, good, retried] = await Promise.allSettled([
        store.append({ accountId: accounts[0]!, records: [makeRecord(), { ...makeRecord(), log_id: first.log_id }], ingestedBy: null }),
        store.append({ accountId: accounts[1]!, records: [makeRecord()], ingestedBy: null }),
        store.append({ accountId: accounts[0]!, records: [first, makeRecord()], ingestedBy: null }),
      ]);
      assert.equal(bad.status, 'rejected');
      assert.equal((bad as PromiseRejectedResult).reason.code, 'AS_ERR_LOG_ID_CONFLICT');
      assert.deepEqual(good.status === 'fulfilled' && good.value, { sequences: [25], duplicates: 0 });
      assert.deepEqual(retried.status === 'fulfilled' && retried.value, { sequences: [1, 25], duplicates: 1 });
      assert.equal((await store.chainHead(accounts[0]!))!.seq, 25, 'nothing of the refused batch was stored');
    });

    it('commits domain writes and their audit record in one transaction, or neither', async () => {
      await store.transaction(async (tx) => {
        await tx.run('CREATE TABLE IF NOT EXISTS tx_probe (k TEXT PRIMARY KEY)');
      });
      await store.transaction(async (tx) => {
        await tx.run('INSERT INTO tx_probe (k) VALUES (?)', ['committed']);
        await tx.append({ accountId: 'acct-tx', records: [makeRecord()], ingestedBy: null });
      });
      await assert.rejects(
        store.transaction(async (tx) => {
          await tx.run('INSERT INTO tx_probe (k) VALUES (?)', ['rolled-back']);
          await tx.append({ accountId: 'acct-tx', records: [makeRecord()], ingestedBy: null });
          throw new Error('operation refused');
        }),
        /operation refused/,
      );
      const keys = await store.sql.all<{ k: string }>('SELECT k FROM tx_probe ORDER BY k');
      assert.deepEqual(
        keys.map((r) => r.k),
        ['committed'],
      );
      assert.equal(await store.count('acct-tx'), 1);
      // The rolled-back append left no hole: the next record takes seq 2.
      const next = await store.append({ accountId: 'acct-tx', records: [makeRecord()], ingestedBy: null });
      assert.deepEqual(next.sequences, [2]);
    });

    it('a transaction that need not be durable commits atomically like any other, and only that commit skips the flush', async () => {
      // What the engine is asked for inside the transaction, and in the next ones (SQLite: the
      // write connection's synchronous level, 2 = FULL; PostgreSQL: synchronous_commit).
      const level = async (tx: { get<T>(sql: string): Promise<T | undefined> }): Promise<string> =>
        engine === 'sqlite'
          ? String((await tx.get<{ synchronous: number }>('PRAGMA synchronous'))!.synchronous)
          : (await tx.get<{ synchronous_commit: string }>('SHOW synchronous_commit'))!.synchronous_commit;
      const full = engine === 'sqlite' ? '2' : 'on';
      const relaxed = engine === 'sqlite' ? '1' : 'off';
      await store.transaction((tx) => tx.run('CREATE TABLE IF NOT EXISTS relaxed_probe (k TEXT PRIMARY KEY)'));
      assert.equal(await store.transaction(level), full);
      assert.equal(
        await store.transaction(
          async (tx) => {
            await tx.run('INSERT INTO relaxed_probe (k) VALUES (?)', ['kept']);
            return level(tx);
          },
          { durable: false },
        ),
        relaxed,
      );
      await assert.rejects(
        store.transaction(
          async (tx) => {
            await tx.run('INSERT INTO relaxed_probe (k) VALUES (?)', ['rolled-back']);
            throw new Error('refused');
          },
          { durable: false },
        ),
        /refused/,
      );
      assert.deepEqual(
        (await store.sql.all<{ k: string }>('SELECT k FROM relaxed_probe ORDER BY k')).map((r) => r.k),
        ['kept'],
      );
      // Commits afterwards are durable again, after a rolled-back one too. (No records appended
      // here: the retention test below counts the accounts of this shared store.)
      assert.equal(await store.transaction(level), full);
    });

    it('refuses UPDATE and DELETE on stored records', async () => {
      await store.append({ accountId: 'acct-guard', records: [makeRecord()], ingestedBy: null });
      await assert.rejects(
        store.transaction((tx) => tx.run("UPDATE audit_records SET status = 'ERROR' WHERE account_id = ?", ['acct-guard'])),
        /append-only/,
      );
      await assert.rejects(
        store.transaction((tx) => tx.run('DELETE FROM audit_records WHERE account_id = ?', ['acct-guard'])),
        /append-only|only retention/,
      );
      assert.equal(await store.count('acct-guard'), 1);
    });

    describe('query', () => {
      const acct = 'acct-query';
      before(async () => {
        const recs = [];
        for (let i = 0; i < 25; i++) {
          recs.push(
            makeRecord({
              emit_time: `2026-02-01T00:00:${String(i).padStart(2, '0')}Z`,
              operation: i % 2 ? 'DeleteUser' : 'InviteUsers',
              user_email: i % 5 === 0 ? 'alice@example.com' : 'bob@example.com',
              status: i % 10 === 3 ? 'ERROR' : 'OK',
              principal: { id: i < 12 ? 'pr-a' : 'pr-b', type: 'user', name: 'x' },
              details: i % 3 === 0 ? { namespace: 'prod.acme', search_attribute_update: {} } : { target_users: ['u'], search_attribute_update: {} },
            }),
          );
        }
        await store.append({ accountId: acct, records: recs, ingestedBy: null });
        await store.append({ accountId: 'acct-query-other', records: [makeRecord({ operation: 'DeleteUser' })], ingestedBy: null });
      });

      const ops = async (f: Parameters<AuditStore['query']>[0], limit = 100) =>
        (await store.query(f, { limit })).items.map((r) => JSON.parse(r.recordJson) as { emit_time: string });

      it('filters by each field and never leaks another account', async () => {
        assert.equal((await ops({ accountId: acct })).length, 25);
        assert.equal((await ops({ accountId: acct, operation: 'DeleteUser' })).length, 12);
        assert.equal((await ops({ accountId: acct, userEmail: 'alice@example.com' })).length, 5);
        assert.equal((await ops({ accountId: acct, principalId: 'pr-b' })).length, 13);
        assert.equal((await ops({ accountId: acct, status: 'ERROR' })).length, 3);
        assert.equal((await ops({ accountId: acct, namespace: 'prod.acme' })).length, 9);
        const window = await ops({ accountId: acct, sinceMs: Date.parse('2026-02-01T00:00:05Z'), untilMs: Date.parse('2026-02-01T00:00:10Z') });
        assert.deepEqual(
          window.map((r) => r.emit_time).sort(),
          ['05', '06', '07', '08', '09'].map((s) => `2026-02-01T00:00:${s}Z`),
        );
        assert.equal((await ops({ accountId: acct, operation: 'InviteUsers', status: 'ERROR' })).length, 0);
        assert.equal((await ops({ accountId: acct, operation: 'DeleteUser', status: 'ERROR' })).length, 3);
      });

      it('paginates forward and back with stable cursors, newest first', async () => {
        const p1 = await store.query({ accountId: acct }, { limit: 10 });
        assert.equal(p1.items.length, 10);
        assert.equal(p1.prevCursor, undefined);
        assert.ok(p1.nextCursor);
        // New records must not shift the pages already being walked.
        await store.append({ accountId: acct, records: [makeRecord({ emit_time: '2026-02-01T00:01:00Z' })], ingestedBy: null });
        const p2 = await store.query({ accountId: acct }, { limit: 10, cursor: p1.nextCursor! });
        const p3 = await store.query({ accountId: acct }, { limit: 10, cursor: p2.nextCursor! });
        assert.equal(p3.items.length, 5);
        assert.equal(p3.nextCursor, undefined);
        const ids = [...p1.items, ...p2.items, ...p3.items].map((r) => r.id);
        assert.deepEqual(
          ids,
          [...ids].sort((a, b) => b - a),
        );
        assert.equal(new Set(ids).size, 25);
        const back = await store.query({ accountId: acct }, { limit: 10, cursor: p3.prevCursor! });
        assert.deepEqual(
          back.items.map((r) => r.id),
          p2.items.map((r) => r.id),
        );
        const back1 = await store.query({ accountId: acct }, { limit: 10, cursor: back.prevCursor! });
        assert.deepEqual(
          back1.items.map((r) => r.id),
          p1.items.map((r) => r.id),
        );
        assert.ok(back1.prevCursor, 'the record added meanwhile is one page back');
        const newest = await store.query({ accountId: acct }, { limit: 10, cursor: back1.prevCursor! });
        assert.equal(newest.items.length, 1);
        assert.equal(newest.prevCursor, undefined);
        const asc = await store.query({ accountId: acct }, { limit: 30, order: 'asc' });
        assert.deepEqual(
          asc.items.map((r) => r.seq),
          Array.from({ length: 26 }, (_, i) => i + 1),
        );
      });

      it('pages a time window forward and back (the id-sorted window plan)', async () => {
        const f = { accountId: acct, sinceMs: Date.parse('2026-02-01T00:00:03Z'), untilMs: Date.parse('2026-02-01T00:00:20Z') };
        const all = (await store.query(f, { limit: 100 })).items.map((r) => r.id);
        assert.equal(all.length, 17);
        assert.deepEqual(
          all,
          [...all].sort((a, b) => b - a),
        );
        const walked: number[] = [];
        let page = await store.query(f, { limit: 5 });
        walked.push(...page.items.map((r) => r.id));
        while (page.nextCursor) {
          page = await store.query(f, { limit: 5, cursor: page.nextCursor });
          walked.push(...page.items.map((r) => r.id));
        }
        assert.deepEqual(walked, all);
        const back = await store.query(f, { limit: 5, cursor: page.prevCursor! });
        assert.deepEqual(
          back.items.map((r) => r.id),
          all.slice(10, 15),
        );
        const asc = (await store.query({ accountId: acct, sinceMs: f.sinceMs }, { limit: 100, order: 'asc' })).items.map((r) => r.id);
        assert.deepEqual(
          asc,
          [...asc].sort((a, b) => a - b),
        );
        assert.ok(asc.length >= 22);
      });

      it('rejects malformed cursors and cursors of another query', async () => {
        const p1 = await store.query({ accountId: acct }, { limit: 2 });
        await assert.rejects(store.query({ accountId: acct }, { cursor: 'garbage!' }), (e: unknown) => isAuditError(e) && e.code === 'AS_ERR_INVALID_CURSOR');
        await assert.rejects(
          store.query({ accountId: acct, status: 'OK' }, { cursor: p1.nextCursor! }),
          (e: unknown) => isAuditError(e) && e.code === 'AS_ERR_INVALID_CURSOR',
        );
        await assert.rejects(store.query({ accountId: acct }, { limit: 0 }), (e: unknown) => isAuditError(e) && e.code === 'AS_ERR_INVALID_ARGUMENT');
        await assert.rejects(store.query({ accountId: acct }, { limit: 1001 }), (e: unknown) => isAuditError(e) && e.code === 'AS_ERR_INVALID_ARGUMENT');
      });
    });

    it('purges expired records as a chain prefix, keeping the rest verifiable', async () => {
      const acct = 'acct-retention';
      const signer = testSigner();
      await store.append({ accountId: acct, records: [makeRecord(), makeRecord(), makeRecord()], ingestedBy: null });
      await new Promise((r) => setTimeout(r, 20));
      const cutoff = Date.now();
      await new Promise((r) => setTimeout(r, 20));
      await store.append({ accountId: acct, records: [makeRecord(), makeRecord()], ingestedBy: null });
      // Without a checkpoint signed a retention ago nothing is provably expired: nothing goes.
      assert.equal(await store.purgeExpired({ cutoffMs: cutoff, batchSize: 2, attestor: retentionAttestor(signer, 1, Date.now()) }), 0);
      // The checkpoint (seq 5, its ChainCheckpoint record 6) is the evidence a day later.
      const attestor = await attestorAfterCheckpoint(store, signer);
      // Bounded batches: two rows per call.
      let purged = 0;
      let round: number;
      do {
        round = await store.purgeExpired({ cutoffMs: cutoff, batchSize: 2, attestor });
        assert.ok(round <= 2);
        purged += round;
      } while (round > 0);
      assert.ok(purged >= 3, 'other accounts of this shared store may go too');
      // Each purge transaction (1..2, then 3) appended its signed RetentionPurge record.
      const remaining = await store.readChain(acct, 1, 10);
      assert.deepEqual(
        remaining.map((r) => r.seq),
        [4, 5, 6, 7, 8],
      );
      assert.deepEqual(remaining.map((r) => r.columns.operation).slice(2), ['ChainCheckpoint', 'RetentionPurge', 'RetentionPurge']);
      const last = JSON.parse(remaining[4]!.recordJson) as { category: string; details: Record<string, unknown> };
      assert.equal(last.category, 'LOG_CATEGORY_SYSTEM');
      assert.deepEqual([last.details['from_sequence'], last.details['to_sequence'], last.details['retention_days']], [3, 3, 1]);
      const anchor = await store.retentionAnchor(acct);
      assert.equal(anchor?.seq, 3);
      assert.equal(anchor?.hash, remaining[0]!.prevHash);
      assert.equal(last.details['anchor_hash'], anchor?.hash);
      const report = await verifyAccount(store, acct, { trustedKeys: new Map([[signer.keyId, signer.publicKey]]) });
      assert.equal(report.ok, true, report.break?.reason);
      assert.equal(report.fromSeq, 4);
      // Appends continue the chain after a purge.
      const next = await store.append({ accountId: acct, records: [makeRecord()], ingestedBy: null });
      assert.deepEqual(next.sequences, [9]);
    });

    it('purge keeps what a retention hold asks for, up to its hard cutoff, and reports what went', async () => {
      const acct = 'acct-retention-hold';
      await store.append({ accountId: acct, records: Array.from({ length: 5 }, () => makeRecord()), ingestedBy: null });
      const future = Date.now() + 60_000;
      const purgedRanges: [string, number, number][] = [];
      const hold = (hardCutoffMs: number) => ({
        hardCutoffMs,
        keepFrom: async (sql: import('../src/store/store.js').Sql, accountId: string) => {
          // The hook runs inside the purge transaction and can read the database.
          assert.ok(await sql.get('SELECT 1 AS one'));
          return accountId === acct ? 3 : undefined;
        },
        purged: async (_sql: unknown, accountId: string, fromSeq: number, toSeq: number) => {
          if (accountId === acct) purgedRanges.push([accountId, fromSeq, toSeq]);
        },
      });
      // Ranges are reported per purge transaction, contiguous and in chain order.
      const seqs = () => purgedRanges.flatMap(([, a, b]) => Array.from({ length: b - a + 1 }, (_, i) => a + i));
      const attestor = await attestorAfterCheckpoint(store, testSigner());
      while ((await store.purgeExpired({ cutoffMs: future, batchSize: 2, attestor, hold: hold(0) })) > 0);
      assert.deepEqual(
        (await store.readChain(acct, 1, 3)).map((r) => r.seq),
        [3, 4, 5],
      );
      assert.deepEqual(seqs(), [1, 2]);
      while ((await store.purgeExpired({ cutoffMs: future, batchSize: 2, attestor, hold: hold(future) })) > 0);
      // What is left is the system records written since the evidence checkpoint (seq 5).
      assert.ok((await store.readChain(acct, 1, 10)).every((r) => ['ChainCheckpoint', 'RetentionPurge'].includes(r.columns.operation)));
      assert.deepEqual(seqs(), [1, 2, 3, 4, 5]);
      assert.equal((await store.retentionAnchor(acct))?.seq, 5);
    });
  });
}
