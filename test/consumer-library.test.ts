/**
 * The consumer library (`auditstream/consumer`) in-process: the proof against a chain built with
 * the real chain code, under random single tampering of every kind; the directory output undoing
 * what a crash left past the committed position; KPL deaggregation; dedupe across a reopened
 * checkpoint database; and the package's "exports" entry.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { canonicalJson, recordDigest } from '../src/chain/hash.js';
import type { AuditRecord } from '../src/record/record.js';
import { ProofTracker } from '../src/consumer/proof.js';
import { DirectoryOutput } from '../src/consumer/outputs/directory.js';
import { aggregate, deaggregate } from '../src/consumer/deaggregate.js';
import { CheckpointDb } from '../src/consumer/checkpoints.js';
import { Dedupe } from '../src/consumer/dedupe.js';
import { buildSignedChain, chainRecord } from './helpers/signed-chain.js';
import { testSigner } from './helpers/retention.js';

const ACCOUNT = 'acct-1';

function feed(tracker: ProofTracker, records: AuditRecord[]): void {
  records.forEach((r, i) => {
    const canonical = canonicalJson(r);
    tracker.add(ACCOUNT, r, { logId: r.log_id, digest: recordDigest(canonical), at: `shard-0/${i}` }, canonical);
  });
}

describe('proof', () => {
  const s = testSigner();
  const trusted = new Map([[s.keyId, s.publicKey]]);

  it('verifies an untouched stream through its last checkpoint, from the first checkpoint received on', () => {
    const chain = buildSignedChain(s, ACCOUNT, [3, 4, 5, 2]);
    // A sink starting mid-chain: the first records are not yet verifiable.
    const tracker = new ProofTracker(trusted);
    feed(
      tracker,
      chain.slice(2).map((d) => d.record),
    );
    const [r] = tracker.report();
    const last = chain.filter((d) => d.record.operation === 'ChainCheckpoint').at(-1)!;
    assert.deepEqual(
      { status: r!.status, through: r!.verified_through_sequence, unverifiable: r!.not_yet_verifiable, pending: r!.pending },
      { status: 'verified', through: last.seq - 1, unverifiable: 1, pending: 0 },
    );
  });

  it('names exactly the record deleted, altered, swapped or added, at any place after the first checkpoint (random trials)', () => {
    for (let trial = 0; trial < 60; trial++) {
      const chain = buildSignedChain(
        s,
        ACCOUNT,
        Array.from({ length: 4 }, () => 2 + Math.floor(Math.random() * 6)),
      );
      const firstCp = chain.findIndex((d) => d.record.operation === 'ChainCheckpoint');
      const candidates = chain.map((d, i) => i).filter((i) => i > firstCp && chain[i]!.record.operation !== 'ChainCheckpoint');
      const i = candidates[Math.floor(Math.random() * candidates.length)]!;
      const target = chain[i]!;
      const kind = (['delete', 'alter', 'swap', 'insert'] as const)[trial % 4];
      const records = chain.map((d) => d.record);
      let expected: RegExp;
      if (kind === 'delete') {
        records.splice(i, 1);
        expected = new RegExp(`^missing: sequence ${target.seq} \\(log_id ${target.record.log_id}\\) did not arrive$`);
      } else if (kind === 'alter') {
        records[i] = { ...target.record, user_email: 'someone-else@example.com' };
        expected = new RegExp(`^altered: sequence ${target.seq} \\(log_id ${target.record.log_id}\\) at shard-0/${i} differs`);
      } else if (kind === 'insert') {
        const extra = chainRecord(ACCOUNT, 999);
        records.splice(i, 0, extra);
        expected = new RegExp(`^extra: log_id ${extra.log_id} at shard-0/${i} is not in the chain`);
      } else {
        const next = chain[i + 1]!;
        if (next.record.operation === 'ChainCheckpoint') {
          trial--;
          continue;
        }
        [records[i], records[i + 1]] = [records[i + 1]!, records[i]!];
        expected = new RegExp(`^reordered: sequence ${target.seq} \\(log_id ${target.record.log_id}\\) at shard-0/${i + 1} arrived after sequence ${next.seq}`);
      }
      const tracker = new ProofTracker(trusted);
      feed(tracker, records);
      const [r] = tracker.report();
      assert.equal(r!.status, 'broken', `${kind} at ${target.seq}`);
      assert.equal(r!.problems.length, 1, `${kind} at ${target.seq}: ${r!.problems.join('; ')}`);
      assert.match(r!.problems[0]!, expected);
    }
  });

  it('a checkpoint signed by another key, or with a broken signature, is a break; without the per-record list the break is counted', () => {
    const chain = buildSignedChain(s, ACCOUNT, [2, 3, 3]);
    const other = new ProofTracker(new Map([[testSigner().keyId, testSigner().publicKey]]));
    feed(
      other,
      chain.map((d) => d.record),
    );
    assert.match(other.report()[0]!.problems[0]!, /is signed by key [0-9a-f]{16}, not one given with --public-key/);

    const forged = chain.map((d) => d.record);
    const last = forged.length - 1;
    const details = forged[last]!.details as Record<string, unknown>;
    forged[last] = { ...forged[last]!, details: { ...details, head_hash: 'a'.repeat(64) } };
    const t = new ProofTracker(trusted);
    feed(t, forged);
    assert.match(t.report()[0]!.problems[0]!, /has a bad signature/);

    const unlisted = chain.map((d) => d.record);
    const cpIdx = unlisted.length - 1;
    const d2 = { ...(unlisted[cpIdx]!.details as Record<string, unknown>) };
    delete d2['records'];
    delete d2['records_from_sequence'];
    unlisted[cpIdx] = { ...unlisted[cpIdx]!, details: d2 };
    unlisted.splice(cpIdx - 1, 1);
    const u = new ProofTracker(trusted);
    feed(u, unlisted);
    assert.match(u.report()[0]!.problems[0]!, /^missing: 1 of the 3 records of sequences \d+\.\.\d+ did not arrive$/);
  });
});

describe('directory output', () => {
  it('cuts off what a crash wrote past the committed position, including a file made after it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'consumer-dir-'));
    try {
      let now = Date.parse('2026-01-01T10:00:00Z');
      const a = new DirectoryOutput(dir, () => now);
      await a.open(undefined);
      const committed = await a.write([{ account: 'x', data: Buffer.from('{"a":1}') }]);
      await a.write([{ account: 'x', data: Buffer.from('{"a":2}') }]);
      now = Date.parse('2026-01-02T00:00:01Z');
      await a.write([{ account: 'x', data: Buffer.from('{"a":3}') }]);
      assert.deepEqual(readdirSync(dir).sort(), ['audit-2026-01-01.jsonl.gz', 'audit-2026-01-02.jsonl.gz']);
      // A restart from the committed position: both later writes are undone.
      const b = new DirectoryOutput(dir, () => now);
      await b.open(committed);
      assert.deepEqual(readdirSync(dir), ['audit-2026-01-01.jsonl.gz']);
      await b.write([{ account: 'x', data: Buffer.from('{"a":2}') }]);
      assert.equal(gunzipSync(readFileSync(join(dir, 'audit-2026-01-01.jsonl.gz'))).toString(), '{"a":1}\n');
      assert.equal(gunzipSync(readFileSync(join(dir, 'audit-2026-01-02.jsonl.gz'))).toString(), '{"a":2}\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('deaggregation', () => {
  it('returns the user records of a KPL aggregate in order with their partition keys; anything else is one record as is', () => {
    for (let trial = 0; trial < 30; trial++) {
      const users = Array.from({ length: 1 + Math.floor(Math.random() * 20) }, () => ({
        partitionKey: `acct-${Math.floor(Math.random() * 3)}`,
        data: randomBytes(Math.floor(Math.random() * 300)),
      }));
      const agg = aggregate(users);
      assert.deepEqual(deaggregate(agg, 'ignored'), users);
      const corrupt = Buffer.from(agg);
      corrupt[corrupt.length - 1] ^= 1;
      assert.deepEqual(deaggregate(corrupt, 'k'), [{ partitionKey: 'k', data: corrupt }]);
    }
    const plain = Buffer.from('{"log_id":"x"}');
    assert.deepEqual(deaggregate(plain, 'k'), [{ partitionKey: 'k', data: plain }]);
  });
});

describe('dedupe', () => {
  it('remembers written log ids across a reopened checkpoint database; the same id with other content is a conflict', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'consumer-dedupe-'));
    try {
      const path = join(dir, 'c.db');
      let db = CheckpointDb.open(path);
      let d = new Dedupe(db.state(path));
      await d.prefetch([{ account: 'a', logId: 'l1' }]);
      assert.equal(d.judge('a', 'l1', 'd1'), 'new');
      assert.equal(d.judge('a', 'l1', 'd1'), 'duplicate');
      assert.equal(d.judge('b', 'l1', 'd9'), 'new', 'log ids are per account');
      db.commit({ source: 's', positions: [], seen: [{ account: 'a', logId: 'l1', digest: 'd1' }], proofs: [] });
      db.close();
      db = CheckpointDb.open(path);
      d = new Dedupe(db.state(path));
      await d.prefetch([{ account: 'a', logId: 'l1' }]);
      assert.equal(d.judge('a', 'l1', 'd1'), 'duplicate');
      assert.equal(d.judge('a', 'l1', 'd2'), 'conflict');
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('package exports', () => {
  it('auditstream/consumer resolves to the library', async () => {
    const lib = (await import('auditstream/consumer')) as Record<string, unknown>;
    for (const name of [
      'consume',
      'KinesisSource',
      'PubSubSource',
      'DirectoryOutput',
      'StdoutOutput',
      'CheckpointDb',
      'ProofTracker',
      'deaggregate',
      'loadTrustedKeys',
    ]) {
      assert.equal(typeof lib[name], 'function', name);
    }
  });
});
