/**
 * Group commits planned ahead of their write (PostgreSQL plans the next commit while the database
 * writes the last one, against the heads it expects): whatever moves a head in between (another
 * process, a control-plane transaction, a commit that failed) must never fork a chain, lose an
 * acknowledged record or turn one caller's failure into another's. Run on both engines, as a
 * contract.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createFixture, engines, type StoreFixture } from './helpers/stores.js';
import { makeRecord } from './helpers/records.js';
import { prng } from './helpers/prng.js';
import { canonicalJson } from '../src/chain/hash.js';
import { verifyAccount } from '../src/chain/verify.js';
import type { AuditRecord } from '../src/record/record.js';
import type { AppendResult, AuditStore } from '../src/store/store.js';

const noKeys = { trustedKeys: new Map() };

for (const engine of engines()) {
  describe(`planned group commits: ${engine}`, () => {
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

    it('an append after another instance or a transaction moved the head lands on the new head', async () => {
      const other = await fx.open();
      try {
        const a = 'acct-moved';
        assert.deepEqual((await store.append({ accountId: a, records: [makeRecord()], ingestedBy: null })).sequences, [1]);
        // `store` now expects head 1; the other instance moves it to 3.
        assert.deepEqual((await other.append({ accountId: a, records: [makeRecord(), makeRecord()], ingestedBy: null })).sequences, [2, 3]);
        assert.deepEqual((await store.append({ accountId: a, records: [makeRecord()], ingestedBy: null })).sequences, [4]);
        await store.transaction((tx) => tx.append({ accountId: a, records: [makeRecord()], ingestedBy: null }));
        await other.transaction((tx) => tx.append({ accountId: a, records: [makeRecord()], ingestedBy: null }));
        assert.deepEqual((await store.append({ accountId: a, records: [makeRecord()], ingestedBy: null })).sequences, [7]);
        const report = await verifyAccount(store, a, noKeys);
        assert.equal(report.ok, true, report.break?.reason);
        assert.equal(report.checked, 7);
      } finally {
        await other.close();
      }
    });

    it('random concurrent histories (two instances, transactions, repeated and conflicting log_ids) keep every chain whole and every answer true', async () => {
      for (const seed of [1, 2, 3, 4, 5, 6]) {
        const rand = prng(seed);
        const accounts = Array.from({ length: 3 }, (_, i) => `acct-hist-${seed}-${i}`);
        const other = await fx.open();
        const submitted: AuditRecord[] = [];
        type Op = { accountId: string; records: AuditRecord[]; outcome?: PromiseSettledResult<AppendResult> };
        const ops: Op[] = [];
        try {
          for (let round = 0; round < 8; round++) {
            const wave: Promise<unknown>[] = [];
            for (let k = 0; k < 24; k++) {
              const accountId = accounts[Math.floor(rand() * accounts.length)]!;
              const records = Array.from({ length: 1 + Math.floor(rand() * 4) }, () => {
                const roll = rand();
                const earlier = submitted[Math.floor(rand() * submitted.length)];
                // A retry of an earlier record (same content), or a different record reusing its log_id.
                if (earlier && roll < 0.08) return earlier;
                if (earlier && roll < 0.12) return makeRecord({ log_id: earlier.log_id, operation: 'OtherThing' });
                return makeRecord();
              });
              for (const r of records) submitted.push(r);
              const op: Op = { accountId, records };
              ops.push(op);
              // Transactions through one instance only: two SQLite instances in one process would
              // wait for each other's write lock on the one event loop (separate processes do not).
              const inTx = rand() < 0.1;
              const target = rand() < 0.5 ? store : other;
              // Spread over a few milliseconds, so appends arrive while commits are in flight.
              const delay = Math.floor(rand() * 6);
              const call = new Promise<void>((r) => setTimeout(r, delay)).then(() =>
                inTx ? store.transaction((tx) => tx.append({ accountId, records, ingestedBy: null })) : target.append({ accountId, records, ingestedBy: null }),
              );
              wave.push(
                call.then(
                  (value) => (op.outcome = { status: 'fulfilled', value }),
                  (reason: unknown) => (op.outcome = { status: 'rejected', reason }),
                ),
              );
            }
            await Promise.all(wave);
          }
        } finally {
          await other.close();
        }

        for (const accountId of accounts) {
          const report = await verifyAccount(store, accountId, noKeys);
          assert.equal(report.ok, true, `seed ${seed} ${accountId}: ${report.break?.reason}`);
          const rows = await store.readChain(accountId, 1, 100_000);
          const stored = new Map(rows.map((r) => [JSON.parse(r.recordJson) as AuditRecord, r] as const).map(([rec, r]) => [rec.log_id, { rec, seq: r.seq }]));
          assert.equal(stored.size, rows.length, `seed ${seed} ${accountId}: a log_id stored twice`);
          const bySeq = new Map([...stored.values()].map((v) => [v.seq, v.rec]));
          for (const op of ops.filter((o) => o.accountId === accountId)) {
            const outcome = op.outcome!;
            if (outcome.status === 'fulfilled') {
              // Every acknowledged record is stored, at the sequence the caller was told, as sent.
              op.records.forEach((r, i) => {
                const at = bySeq.get(outcome.value.sequences[i]!);
                assert.ok(at, `seed ${seed}: acknowledged seq ${outcome.value.sequences[i]} missing`);
                assert.equal(canonicalJson(at), canonicalJson(r), `seed ${seed}: seq ${outcome.value.sequences[i]} holds another record`);
              });
            } else {
              // The only refusal: a log_id stored (or earlier in the batch) with other content.
              const reason = outcome.reason as { code?: string };
              assert.equal(reason.code, 'AS_ERR_LOG_ID_CONFLICT', `seed ${seed}: ${String(outcome.reason)}`);
              assert.ok(
                op.records.some((r, i) => {
                  const s = stored.get(r.log_id);
                  const inBatch = op.records.slice(0, i).some((e) => e.log_id === r.log_id && canonicalJson(e) !== canonicalJson(r));
                  return inBatch || (s !== undefined && canonicalJson(s.rec) !== canonicalJson(r));
                }),
                `seed ${seed}: refused without a conflicting stored record`,
              );
            }
          }
          for (const { rec } of stored.values()) {
            // Nothing stored that no successful call sent.
            const sentBy = ops.some(
              (o) =>
                o.accountId === accountId &&
                o.outcome!.status === 'fulfilled' &&
                o.records.some((r) => r.log_id === rec.log_id && canonicalJson(r) === canonicalJson(rec)),
            );
            assert.ok(sentBy, `seed ${seed}: ${rec.log_id} stored but no acknowledged call sent it`);
          }
        }
      }
    });
  });
}
