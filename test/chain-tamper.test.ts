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
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkpointAll, keyIdOf, signCheckpoint, type Signer } from '../src/chain/checkpoint.js';
import { verifyAccount, verifyAll } from '../src/chain/verify.js';
import { purgeRecord, signPurge } from '../src/chain/purge.js';
import { retentionRound } from '../src/retention/jobs.js';
import { createLogger } from '../src/log.js';
import type { AuditStore, Checkpoint, StoredRecord } from '../src/store/store.js';
import { runCli } from './helpers/cli.js';
import { DAY_MS } from './helpers/retention.js';

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

async function expectBreak(store: AuditStore, seq: number, reason: RegExp, accountId = ACCT, externalCheckpoints: Checkpoint[] = []) {
  const report = await verifyAccount(store, accountId, { trustedKeys, externalCheckpoints });
  assert.equal(report.ok, false, 'tampering must be detected');
  assert.equal(report.break!.seq, seq, report.break!.reason);
  assert.match(report.break!.reason, reason);
}

const sqlText = (v: string) => `'${v.replace(/'/g, "''")}'`;

/**
 * SQL that rewrites `rows` (in chain order, the first one's prevHash kept) with fresh, consistent
 * hashes after `edit` changed their records, and moves the head: a forgery without the key.
 */
function rewriteSql(rows: StoredRecord[], edit: (record: Record<string, unknown>, seq: number) => void): string {
  let prev = rows[0]!.prevHash;
  const out: string[] = [];
  for (const row of rows) {
    const record = JSON.parse(row.recordJson) as Record<string, unknown>;
    edit(record, row.seq);
    const hash = linkHash(ACCT, row.seq, prev, canonicalJson(record));
    out.push(
      `UPDATE audit_records SET record_json = ${sqlText(JSON.stringify(record))}, user_email = ${sqlText(String(record['user_email']))}, prev_hash = '${prev}', hash = '${hash}' WHERE account_id = '${ACCT}' AND seq = ${row.seq};`,
    );
    prev = hash;
  }
  out.push(`UPDATE chain_heads SET hash = '${prev}' WHERE account_id = '${ACCT}';`);
  return out.join('\n');
}

const randomInt = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));

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
        // The stored checkpoint and the ChainCheckpoint record that carries it.
        assert.equal(report.checkpointsChecked, 2);
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
        await fx.raw(
          `${fx.dropGuards} UPDATE audit_records SET record_json = replace(record_json, '"status":"OK"', '"status":"ERROR"') WHERE account_id = '${ACCT}' AND seq = 4`,
        );
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
          updates.push(
            `UPDATE audit_records SET record_json = '${json}', user_email = '${email}', prev_hash = '${prev}', hash = '${hash}' WHERE account_id = '${ACCT}' AND seq = ${row.seq};`,
          );
          prev = hash;
        }
        updates.push(`UPDATE chain_heads SET hash = '${prev}' WHERE account_id = '${ACCT}';`);
        await fx.raw(`${fx.dropGuards} ${updates.join('\n')}`);
        // The ChainCheckpoint record at 11 (kept verbatim by the forger) names the true hash of 10.
        await expectBreak(store, 10, /differs from the signed (checkpoint|ChainCheckpoint record at 11)/);
      });
    });

    it('refuses checkpoints signed by a key it does not trust', async () => {
      await withChain(engine, async (_fx, store) => {
        const forger = generateKeyPairSync('ed25519');
        const forged = signCheckpoint(
          { keyId: keyIdOf(forger.publicKey), ...forger },
          { accountId: ACCT, seq: 10, hash: 'f'.repeat(64), createdAt: Date.now() },
        );
        await store.saveCheckpoint(forged);
        await expectBreak(store, 10, /untrusted key/);
      });
    });

    it('verifies every account a trusted checkpoint file or the database names: a deleted account is a break', async () => {
      await withChain(engine, async (fx, store) => {
        await store.append({ accountId: 't2', records: Array.from({ length: 4 }, () => makeRecord()), ingestedBy: null });
        await store.append({ accountId: 't3', records: Array.from({ length: 4 }, () => makeRecord()), ingestedBy: null });
        const kept = await checkpointAll(store, signer);
        // Records and head of t3 gone, its checkpoints kept: the database's own checkpoints name it.
        await fx.raw(`${fx.dropGuards} DELETE FROM audit_records WHERE account_id = 't3'; DELETE FROM chain_heads WHERE account_id = 't3'`);
        let t3 = (await verifyAll(store, { trustedKeys })).find((r) => r.accountId === 't3');
        assert.equal(t3?.ok, false, 'the account is still verified');
        assert.match(t3!.break!.reason, /no chain but a signed checkpoint records 4 links/);
        // Its checkpoint rows gone too: only the file kept elsewhere still names it.
        await fx.raw("DELETE FROM checkpoints WHERE account_id = 't3'");
        const reports = await verifyAll(store, { trustedKeys, externalCheckpoints: kept });
        t3 = reports.find((r) => r.accountId === 't3');
        assert.equal(t3?.ok, false, 'an account named in the file is verified although the database forgot it');
        assert.equal(t3!.break!.seq, 1);
        assert.equal(reports.find((r) => r.accountId === 't2')?.ok, true, 'the other accounts still verify');
        assert.equal(reports.find((r) => r.accountId === ACCT)?.ok, true);
      });
    });

    it('auditstream verify --checkpoints exits 1 when an account in the file was deleted whole', async () => {
      await withChain(engine, async (fx, store) => {
        await store.append({ accountId: 't2', records: Array.from({ length: 3 }, () => makeRecord()), ingestedBy: null });
        await store.append({ accountId: 't3', records: Array.from({ length: 3 }, () => makeRecord()), ingestedBy: null });
        const dir = mkdtempSync(join(tmpdir(), 'auditstream-verify-'));
        try {
          const keyFile = join(dir, 'signing-key.pem');
          writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
          const env = { DATABASE_URL: fx.databaseUrl, AUDITSTREAM_SIGNING_KEY: keyFile };
          const cp = await runCli(['checkpoint'], env, dir);
          assert.equal(cp.code, 0, cp.stderr);
          const file = join(dir, 'cp.jsonl');
          writeFileSync(file, cp.stdout);
          await fx.raw(
            `${fx.dropGuards} DELETE FROM audit_records WHERE account_id = 't3'; DELETE FROM chain_heads WHERE account_id = 't3';
             DELETE FROM checkpoints WHERE account_id = 't3'`,
          );
          const res = await runCli(['verify', '--checkpoints', file], env, dir);
          assert.equal(res.code, 1, res.stderr);
          assert.match(res.stderr, /BROKEN {2}t3: at seq 1: the account has no chain/);
          assert.match(res.stderr, /ok {6}t2:/);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      });
    });

    it('checks the signed ChainCheckpoint records inside the chain against a rewritten chain', async () => {
      await withChain(engine, async (fx, store) => {
        await checkpointAll(store, signer); // checkpoint of 10, carried by record 11
        await store.append({ accountId: ACCT, records: Array.from({ length: 4 }, () => makeRecord()), ingestedBy: null });
        // Rewrite from a random record up to the end with fresh hashes, fix the head and wipe the
        // checkpoints table: only the record at 11 still names the true hash of 10.
        const from = randomInt(1, 10);
        const rows = await store.readChain(ACCT, from, 100);
        await fx.raw(
          `${fx.dropGuards} ${rewriteSql(rows, (r, seq) => {
            if (seq === from) r['user_email'] = 'innocent@example.com';
          })} DELETE FROM checkpoints;`,
        );
        await expectBreak(store, 10, /differs from the signed ChainCheckpoint record at 11/);
      });
    });

    it('refuses an in-chain ChainCheckpoint record edited to fit a rewritten chain', async () => {
      await withChain(engine, async (fx, store) => {
        await checkpointAll(store, signer);
        const rows = await store.readChain(ACCT, 5, 100);
        // The forger also points the checkpoint record at the forged hash of 10: its signature breaks.
        let forgedTen = '';
        let prev = rows[0]!.prevHash;
        for (const row of rows) {
          const rec = JSON.parse(row.recordJson) as Record<string, unknown>;
          if (row.seq === 5) rec['user_email'] = 'innocent@example.com';
          if (row.seq === 11) (rec['details'] as Record<string, unknown>)['head_hash'] = forgedTen;
          prev = linkHash(ACCT, row.seq, prev, canonicalJson(rec));
          if (row.seq === 10) forgedTen = prev;
        }
        await fx.raw(
          `${fx.dropGuards} ${rewriteSql(rows, (r, seq) => {
            if (seq === 5) r['user_email'] = 'innocent@example.com';
            if (seq === 11) (r['details'] as Record<string, unknown>)['head_hash'] = forgedTen;
          })} DELETE FROM checkpoints;`,
        );
        await expectBreak(store, 11, /ChainCheckpoint record has a bad signature/);
      });
    });

    it('purges for real: retention leaves a signed RetentionPurge record and the chain verifies', async () => {
      await withChain(engine, async (fx, store) => {
        // Everything so far was stored and checkpointed two days ago; retention is one day.
        await checkpointAll(store, signer, Date.now() - 2 * DAY_MS);
        await fx.raw(`${fx.dropGuards} UPDATE audit_records SET stored_at = stored_at - ${2 * DAY_MS}`);
        await store.append({ accountId: ACCT, records: [makeRecord(), makeRecord()], ingestedBy: null });
        await retentionRound(store, signer, 1, 4, createLogger('silent'))();
        // 1..10 went; the checkpoint of 10 is the newest evidence, so the record carrying it (11)
        // stays until a later checkpoint covers it, and the two young records stay.
        const anchor = await store.retentionAnchor(ACCT);
        assert.equal(anchor?.seq, 10);
        const rows = await store.readChain(ACCT, 1, 100);
        assert.deepEqual(
          rows.slice(0, 3).map((r) => r.columns.operation),
          ['ChainCheckpoint', 'UpdateNamespace', 'UpdateNamespace'],
        );
        // One signed RetentionPurge record per purge transaction (batches of 4), together naming 1..10.
        const ranges = rows
          .filter((r) => r.columns.operation === 'RetentionPurge')
          .map((r) => (JSON.parse(r.recordJson) as { details: { from_sequence: number; to_sequence: number } }).details);
        assert.ok(ranges.length >= 3);
        assert.deepEqual(
          ranges.flatMap((d) => Array.from({ length: d.to_sequence - d.from_sequence + 1 }, (_, i) => d.from_sequence + i)),
          Array.from({ length: 10 }, (_, i) => i + 1),
        );
        for (const accountId of [ACCT, 'other']) {
          const report = await verifyAccount(store, accountId, { trustedKeys });
          assert.equal(report.ok, true, `${accountId}: ${report.break?.reason}`);
        }
        // A purge cannot be stretched after the fact: deleting one more record and moving the
        // anchor on leaves an anchor no signed purge names.
        const [first] = await store.readChain(ACCT, 11, 1);
        await fx.raw(`${fx.dropGuards} DELETE FROM audit_records WHERE account_id = '${ACCT}' AND seq = 11;
          UPDATE retention_anchors SET seq = 11, hash = '${first!.hash}' WHERE account_id = '${ACCT}'`);
        await expectBreak(store, 11, /not justified by a signed RetentionPurge record/);
      });
    });

    it('retention deletes nothing on planted evidence: a forged or mismatched checkpoint row', async () => {
      for (const variant of ['bad-signature', 'other-hash'] as const) {
        await withChain(engine, async (fx, store) => {
          await fx.raw(`${fx.dropGuards} UPDATE audit_records SET stored_at = stored_at - ${2 * DAY_MS}`);
          const [ten] = await store.readChain(ACCT, 10, 1);
          const old = Date.now() - 2 * DAY_MS;
          // other-hash: a genuine signature over a hash the chain does not hold.
          const planted =
            variant === 'other-hash'
              ? signCheckpoint(signer, { accountId: ACCT, seq: 10, hash: 'a'.repeat(64), createdAt: old })
              : { ...signCheckpoint(signer, { accountId: ACCT, seq: 10, hash: ten!.hash, createdAt: old + 1 }), createdAt: old };
          await store.saveCheckpoint(planted);
          await retentionRound(store, signer, 1, 100, createLogger('silent'))();
          assert.equal(await store.count(ACCT), 10, `${variant}: nothing purged`);
          assert.equal(await store.retentionAnchor(ACCT), undefined);
          assert.equal((await verifyAccount(store, ACCT, { trustedKeys })).ok, false, 'and verify names the planted row');
        });
      }
    });

    it('catches a deletion of the oldest records disguised as retention, with and without the checkpoint file', async () => {
      await withChain(engine, async (fx, store) => {
        const kept = await checkpointAll(store, signer);
        const cut = randomInt(1, 9);
        const [last] = await store.readChain(ACCT, cut, 1);
        await fx.raw(
          `${fx.dropGuards} DELETE FROM audit_records WHERE account_id = '${ACCT}' AND seq <= ${cut};
           INSERT INTO retention_anchors (account_id, seq, hash) VALUES ('${ACCT}', ${cut}, '${last!.hash}')`,
        );
        await expectBreak(store, cut, /not justified by a signed RetentionPurge record/);
        await expectBreak(store, cut, /not justified by a signed RetentionPurge record/, ACCT, kept);
      });
    });

    it('refuses a signed purge of records younger than the retention, or beyond its evidence', async () => {
      for (const variant of ['too-young', 'beyond-evidence', 'forged-key'] as const) {
        await withChain(engine, async (fx, store) => {
          const now = Date.now();
          // too-young: the evidence was signed now, not a retention (1 day) before the purge.
          const [evidence] = (await checkpointAll(store, signer, variant === 'too-young' ? now : now - 2 * DAY_MS)).filter((c) => c.accountId === ACCT);
          const toSeq = variant === 'beyond-evidence' ? 11 : 6;
          const [last] = await store.readChain(ACCT, toSeq, 1);
          const by =
            variant === 'forged-key'
              ? (() => {
                  const k = generateKeyPairSync('ed25519');
                  return { keyId: keyIdOf(k.publicKey), ...k };
                })()
              : signer;
          const purge = signPurge(by, { accountId: ACCT, fromSeq: 1, toSeq, anchorHash: last!.hash, evidence: evidence!, retentionDays: 1, purgedAt: now });
          await fx.raw(
            `${fx.dropGuards} DELETE FROM audit_records WHERE account_id = '${ACCT}' AND seq <= ${toSeq};
             INSERT INTO retention_anchors (account_id, seq, hash) VALUES ('${ACCT}', ${toSeq}, '${last!.hash}')`,
          );
          await store.append({ accountId: ACCT, records: [purgeRecord(purge)], ingestedBy: null, clientLogIds: false });
          const reason = {
            'too-young': /not proven older than 1 days/,
            'beyond-evidence': /not covered by its evidence checkpoint/,
            'forged-key': /untrusted key/,
          }[variant];
          const report = await verifyAccount(store, ACCT, { trustedKeys });
          assert.equal(report.ok, false, variant);
          assert.match(report.break!.reason, reason);
        });
      }
    });
  });
}
