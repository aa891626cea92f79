/**
 * Tamper evidence: an attacker with write access to the database (who first drops the
 * append-only triggers) edits, deletes, reorders, moves or rewrites rows; `verifyAccount` must
 * name the first broken link. Each case gets a fresh database on each engine.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { createFixture, engines, type StoreFixture } from './helpers/stores.js';
import { makeRecord } from './helpers/records.js';
import { canonicalJson, linkHash } from '../src/chain/hash.js';
import { checkpointAll, keyIdOf, signCheckpoint, type Signer } from '../src/chain/checkpoint.js';
import { verifyAccount } from '../src/chain/verify.js';
import type { AuditStore } from '../src/store/store.js';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const signer: Signer = { keyId: keyIdOf(publicKey), privateKey, publicKey };
const trustedKeys = new Map([[signer.keyId, publicKey]]);

const ACCT = 'victim';

async function withChain(engine: 'sqlite' | 'postgres', fn: (fx: StoreFixture, store: AuditStore) => Promise<void>) {
  const fx = await createFixture(engine);
  const store = await fx.open();
  try {
    await store.append({ accountId: ACCT, records: Array.from({ length: 10 }, () => makeRecord()), ingestedBy: null });
    await store.append({ accountId: 'other', records: Array.from({ length: 3 }, () => makeRecord()), ingestedBy: null });
    await fn(fx, store);
  } finally {
    await store.close();
    await fx.destroy();
  }
}

async function expectBreak(store: AuditStore, seq: number, reason: RegExp, accountId = ACCT) {
  const report = await verifyAccount(store, accountId, { trustedKeys });
  assert.equal(report.ok, false, 'tampering must be detected');
  assert.equal(report.break!.seq, seq, report.break!.reason);
  assert.match(report.break!.reason, reason);
}

for (const engine of engines()) {
  describe(`tamper evidence: ${engine}`, () => {
    it('verifies an untouched chain, its checkpoints included', async () => {
      await withChain(engine, async (_fx, store) => {
        await checkpointAll(store, signer);
        const report = await verifyAccount(store, ACCT, { trustedKeys });
        assert.equal(report.ok, true, report.break?.reason);
        // The checkpoint also went into the chain as a ChainCheckpoint system record (seq 11),
        // so sinks deliver it; it covers the head before it.
        assert.equal(report.checked, 11);
        assert.equal(report.checkpointsChecked, 1);
        const [cpRow] = await store.readChain(ACCT, 11, 1);
        const cpRecord = JSON.parse(cpRow!.recordJson) as { operation: string; category: string; details: { sequence: number; head_hash: string } };
        assert.equal(cpRecord.operation, 'ChainCheckpoint');
        assert.equal(cpRecord.category, 'LOG_CATEGORY_SYSTEM');
        assert.equal(cpRecord.details.sequence, 10);
        assert.equal(cpRecord.details.head_hash, cpRow!.prevHash);
        // Nothing new since but the checkpoint record itself: no second checkpoint.
        assert.deepEqual(await checkpointAll(store, signer), []);
      });
    });

    it('catches an edited record', async () => {
      await withChain(engine, async (fx, store) => {
        await fx.raw(`${fx.dropGuards} UPDATE audit_records SET record_json = replace(record_json, '"status":"OK"', '"status":"ERROR"') WHERE account_id = '${ACCT}' AND seq = 4`);
        await expectBreak(store, 4, /hash does not match/);
      });
    });

    it('catches an edited index column that queries rely on', async () => {
      await withChain(engine, async (fx, store) => {
        await fx.raw(`${fx.dropGuards} UPDATE audit_records SET operation = 'Harmless' WHERE account_id = '${ACCT}' AND seq = 2`);
        await expectBreak(store, 2, /operation column/);
      });
    });

    it('catches a record deleted in the middle', async () => {
      await withChain(engine, async (fx, store) => {
        await fx.raw(`${fx.dropGuards} DELETE FROM audit_records WHERE account_id = '${ACCT}' AND seq = 5`);
        await expectBreak(store, 5, /missing/);
      });
    });

    it('catches a deleted tail through the chain head', async () => {
      await withChain(engine, async (fx, store) => {
        await fx.raw(`${fx.dropGuards} DELETE FROM audit_records WHERE account_id = '${ACCT}' AND seq >= 9`);
        await expectBreak(store, 9, /tail were deleted/);
      });
    });

    it('catches a deleted tail with a rewound head through the signed checkpoint', async () => {
      await withChain(engine, async (fx, store) => {
        await checkpointAll(store, signer);
        const eight = (await store.readChain(ACCT, 8, 1))[0]!;
        await fx.raw(
          `${fx.dropGuards} DELETE FROM audit_records WHERE account_id = '${ACCT}' AND seq >= 9;
           UPDATE chain_heads SET seq = 8, hash = '${eight.hash}' WHERE account_id = '${ACCT}'`,
        );
        await expectBreak(store, 9, /checkpoint .* the tail was truncated/);
      });
    });

    it('catches tail truncation against a checkpoint kept outside the database', async () => {
      await withChain(engine, async (fx, store) => {
        const kept = (await checkpointAll(store, signer)).find((c) => c.accountId === ACCT);
        const eight = (await store.readChain(ACCT, 8, 1))[0]!;
        // The attacker also wipes the stored checkpoints.
        await fx.raw(
          `${fx.dropGuards} DELETE FROM audit_records WHERE account_id = '${ACCT}' AND seq >= 9;
           UPDATE chain_heads SET seq = 8, hash = '${eight.hash}' WHERE account_id = '${ACCT}';
           DELETE FROM checkpoints`,
        );
        assert.equal((await verifyAccount(store, ACCT, { trustedKeys })).ok, true, 'undetectable from inside the database alone');
        const report = await verifyAccount(store, ACCT, { trustedKeys, externalCheckpoints: [kept!] });
        assert.equal(report.ok, false);
        assert.match(report.break!.reason, /truncated/);
      });
    });

    it('catches two records swapped (reordered)', async () => {
      await withChain(engine, async (fx, store) => {
        await fx.raw(
          `${fx.dropGuards}
           UPDATE audit_records SET seq = -1 WHERE account_id = '${ACCT}' AND seq = 3;
           UPDATE audit_records SET seq = 3 WHERE account_id = '${ACCT}' AND seq = 6;
           UPDATE audit_records SET seq = 6 WHERE account_id = '${ACCT}' AND seq = -1;`,
        );
        await expectBreak(store, 3, /prev_hash|hash does not match/);
      });
    });

    it('catches a record moved to another account', async () => {
      await withChain(engine, async (fx, store) => {
        await fx.raw(`${fx.dropGuards} UPDATE audit_records SET account_id = 'other', seq = 4 WHERE account_id = '${ACCT}' AND seq = 10`);
        await expectBreak(store, 10, /tail were deleted/);
        await expectBreak(store, 4, /hash|prev_hash/, 'other');
      });
    });

    it('catches an edit with every later hash recomputed, through the signed checkpoint', async () => {
      await withChain(engine, async (fx, store) => {
        await checkpointAll(store, signer);
        const rows = await store.readChain(ACCT, 1, 100);
        // Rewrite record 7 and recompute the hashes of 7..10 and the head: a consistent forgery.
        let prev = rows[5]!.hash;
        const updates: string[] = [];
        for (const row of rows.slice(6)) {
          const record = JSON.parse(row.recordJson) as Record<string, unknown>;
          if (row.seq === 7) record['user_email'] = 'innocent@example.com';
          const json = JSON.stringify(record).replace(/'/g, "''");
          const hash = linkHash(ACCT, row.seq, prev, canonicalJson(record));
          const email = row.seq === 7 ? 'innocent@example.com' : row.columns.userEmail;
          updates.push(`UPDATE audit_records SET record_json = '${json}', user_email = '${email}', prev_hash = '${prev}', hash = '${hash}' WHERE account_id = '${ACCT}' AND seq = ${row.seq};`);
          prev = hash;
        }
        updates.push(`UPDATE chain_heads SET hash = '${prev}' WHERE account_id = '${ACCT}';`);
        await fx.raw(`${fx.dropGuards} ${updates.join('\n')}`);
        await expectBreak(store, 10, /differs from the signed checkpoint/);
      });
    });

    it('refuses checkpoints signed by a key it does not trust', async () => {
      await withChain(engine, async (_fx, store) => {
        const forger = generateKeyPairSync('ed25519');
        const forged = signCheckpoint({ keyId: keyIdOf(forger.publicKey), ...forger }, { accountId: ACCT, seq: 10, hash: 'f'.repeat(64), createdAt: Date.now() });
        await store.saveCheckpoint(forged);
        await expectBreak(store, 10, /untrusted key/);
      });
    });
  });
}
