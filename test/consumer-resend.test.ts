/**
 * The consumer against every delivery history the engine can produce
 * (docs/decisions/0023-consumer-reorders-resends.md): random batches, random partial failures
 * resent by the engine's own rule (`resendFrom`, src/delivery/batcher.ts), sink crashes that
 * resend from a lagging cursor, several accounts interleaved over several shards, the source
 * delivering again. The consumer library must write each account's records in chain order
 * exactly once and verify them; a real tampering (delete, edit, swap with no resend, a foreign
 * record) on top of such a history must be reported as exactly that one problem.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Signer } from '../src/chain/checkpoint.js';
import type { AuditRecord } from '../src/record/record.js';
import { resendFrom } from '../src/delivery/batcher.js';
import type { EncodedEntry } from '../src/delivery/adapter.js';
import { consume, type ConsumeResult } from '../src/consumer/consume.js';
import { CheckpointDb } from '../src/consumer/checkpoints.js';
import { REORDER_WINDOW, ReorderBuffer, type HeldRecord } from '../src/consumer/reorder.js';
import type { Output, OutputRecord, ShardPosition, Source, SourceBatch, SourceRecord } from '../src/consumer/types.js';
import { sinkRegistry } from '../src/sinks/registry.js';
import { aggregatedLimits } from '../src/sinks/kinesis/limits.js';
import { prng } from './helpers/prng.js';
import { buildSignedChain, chainRecord, type ChainEntry } from './helpers/signed-chain.js';
import { testSigner } from './helpers/retention.js';

/**
 * What one sink puts on its partition key, as the delivery engine sends it: batches of at most
 * `maxBatch` from the cursor; each send loses a random subset of entries and is followed by the
 * engine's resend (`resendFrom`: from the first failed entry on); now and then (at most five
 * times) the sink crashes mid-batch and resends from its committed cursor, which may lag up to two acknowledged batches.
 */
function engineHistory(chain: ChainEntry[], rnd: () => number, maxBatch: number, failRate: number, crashRate: number, maxCrashes = 5): ChainEntry[] {
  const arrived: ChainEntry[] = [];
  const bySeq = new Map(chain.map((c) => [c.seq, c]));
  const starts: number[] = [];
  let cursor = 0;
  let crashes = 0;
  while (cursor < chain.length) {
    starts.push(cursor);
    const size = 1 + Math.floor(rnd() * maxBatch);
    let toSend: EncodedEntry[] = chain.slice(cursor, cursor + size).map((c) => ({ seq: c.seq, logId: c.record.log_id, partitionKey: 'k', data: c.data }));
    const end = cursor + toSend.length;
    let crashed = false;
    while (toSend.length > 0) {
      const failed: number[] = [];
      toSend.forEach((e, i) => {
        if (rnd() < failRate) failed.push(i);
        else arrived.push(bySeq.get(e.seq)!);
      });
      if (crashes < maxCrashes && rnd() < crashRate) {
        crashes++;
        crashed = true;
        break;
      }
      toSend = failed.length ? resendFrom(toSend, failed) : [];
    }
    if (crashed) {
      // The cursor commit runs behind: resend from one of the last (up to three) batch starts.
      const back = Math.min(starts.length, 1 + Math.floor(rnd() * 3));
      cursor = starts[starts.length - back]!;
      starts.length -= back;
    } else cursor = end;
  }
  return arrived;
}

interface Arrival {
  account: string;
  data: Buffer;
}

/** Interleaves the accounts' histories onto `shards` shards (an account keeps its shard and its order). */
function interleave(histories: Map<string, ChainEntry[]>, shards: number, rnd: () => number): Map<string, Arrival[]> {
  const out = new Map<string, Arrival[]>();
  const queues = [...histories].map(([account, h]) => ({ account, h: [...h], shard: `shard-${account.length % shards}` }));
  while (queues.some((q) => q.h.length)) {
    const live = queues.filter((q) => q.h.length);
    const q = live[Math.floor(rnd() * live.length)]!;
    const list = out.get(q.shard) ?? [];
    list.push({ account: q.account, data: q.h.shift()!.data });
    out.set(q.shard, list);
  }
  return out;
}

/** A source over fixed shards, read in random chunks; it ends once every shard is read. */
class ListSource implements Source {
  readonly description = 'test stream';
  private readonly at = new Map<string, number>();

  constructor(
    private readonly shards: Map<string, Arrival[]>,
    private readonly rnd: () => number,
  ) {}

  async open(positions: Map<string, ShardPosition>): Promise<void> {
    for (const s of this.shards.keys()) this.at.set(s, positions.get(s)?.sequence !== undefined ? Number(positions.get(s)!.sequence) + 1 : 0);
  }

  async next(): Promise<SourceBatch | null> {
    const open = [...this.shards].filter(([s, list]) => this.at.get(s)! < list.length);
    if (!open.length) return null;
    const records: SourceRecord[] = [];
    const positions: ShardPosition[] = [];
    for (const [shard, list] of open) {
      const from = this.at.get(shard)!;
      const to = Math.min(list.length, from + 1 + Math.floor(this.rnd() * 40));
      for (let i = from; i < to; i++) records.push({ account: list[i]!.account, data: list[i]!.data, shard, sequence: String(i) });
      this.at.set(shard, to);
      positions.push({ shard, sequence: String(to - 1), finished: to === list.length });
    }
    return { records, positions };
  }

  lag(): Map<string, number> {
    return new Map();
  }

  async close(): Promise<void> {}
}

class MemoryOutput implements Output {
  readonly description = 'memory';
  readonly records: OutputRecord[] = [];
  async open(): Promise<void> {}
  async write(records: OutputRecord[]): Promise<string | undefined> {
    this.records.push(...records);
    return undefined;
  }
  async close(): Promise<void> {}
}

async function run(shards: Map<string, Arrival[]>, s: Signer, seed: number): Promise<{ result: ConsumeResult; out: MemoryOutput }> {
  const dir = mkdtempSync(join(tmpdir(), 'consumer-resend-'));
  const path = join(dir, 'cp.db');
  const db = CheckpointDb.open(path);
  const out = new MemoryOutput();
  try {
    const result = await consume({
      source: new ListSource(shards, prng(seed)),
      output: out,
      state: db.state(path),
      trustedKeys: new Map([[s.keyId, s.publicKey]]),
      rejectFile: join(dir, 'rejects.jsonl'),
    });
    return { result, out };
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function perAccount(out: MemoryOutput): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const r of out.records) {
    const list = m.get(r.account) ?? [];
    list.push((JSON.parse(r.data.toString()) as AuditRecord).log_id);
    m.set(r.account, list);
  }
  return m;
}

const ACCOUNTS = ['a', 'bb', 'ccc', 'dddd'];

describe('consumer under resends', () => {
  const s = testSigner();

  it('twice the largest batch of any sink kind that can resend part of a batch fits the reorder window', () => {
    // Kinds with stable batches (S3) resend a whole batch or nothing, under the same name: no
    // record of theirs arrives ahead of an earlier one, whatever their batch size.
    const streams = sinkRegistry.drivers().filter((d) => !d.limits.stableBatches);
    assert.ok(streams.length >= 3, 'Kinesis, Pub/Sub and the webhook at least');
    const limits = [...streams.map((d) => [d.kind, d.limits] as const), ['kinesis aggregated', aggregatedLimits(0)] as const];
    for (const [kind, l] of limits) assert.ok(2 * l.maxBatchRecords <= REORDER_WINDOW, `${kind}: ${l.maxBatchRecords}`);
  });

  it('writes every account in chain order exactly once and verifies it, for random engine histories (partial failures, crashes, several shards)', async () => {
    for (let trial = 0; trial < 40; trial++) {
      const rnd = prng(1000 + trial);
      const chains = new Map(
        ACCOUNTS.map((a) => [
          a,
          buildSignedChain(
            s,
            a,
            Array.from({ length: 4 }, () => 3 + Math.floor(rnd() * 25)),
          ),
        ]),
      );
      const failRate = [0, 0.05, 0.3, 0.7][trial % 4]!;
      const histories = new Map([...chains].map(([a, c]) => [a, engineHistory(c, rnd, 1 + Math.floor(rnd() * 30), failRate, trial % 3 === 0 ? 0.1 : 0)]));
      const { result, out } = await run(interleave(histories, 1 + (trial % 3), rnd), s, trial);
      const got = perAccount(out);
      for (const [a, chain] of chains) {
        assert.deepEqual(
          got.get(a),
          chain.map((c) => c.record.log_id),
          `trial ${trial} account ${a}`,
        );
      }
      for (const r of result.accounts!) {
        const last = chains.get(r.account)!.at(-1)!.seq - 1;
        assert.deepEqual(
          { status: r.status, through: r.verified_through_sequence, problems: r.problems },
          { status: 'verified', through: last, problems: [] },
          `trial ${trial}`,
        );
      }
      assert.equal(
        result.written,
        ACCOUNTS.reduce((n, a) => n + chains.get(a)!.length, 0),
      );
    }
  });

  it('lets a record go mid-stream only when it is final: what it writes before the end is already in chain order (small window, random histories)', () => {
    for (let trial = 0; trial < 400; trial++) {
      const rnd = prng(5000 + trial);
      const maxBatch = 1 + Math.floor(rnd() * 12);
      const chain = buildSignedChain(s, 'a', [20 + Math.floor(rnd() * 60)]);
      // A sink restarting mid-batch at most once per history: what the window covers.
      const history = engineHistory(chain, rnd, maxBatch, [0.1, 0.4, 0.8][trial % 3]!, trial % 2 ? 0.15 : 0, 1);
      // Hold forever but for the window (twice the largest batch): only the certain rule lets records go.
      const buffer = new ReorderBuffer(2 * maxBatch, Number.MAX_SAFE_INTEGER);
      const written: string[] = [];
      const done = new Set<string>();
      const take = (rs: HeldRecord[]) => rs.forEach((r) => (written.push(r.logId), done.add(r.logId)));
      for (const [i, c] of history.entries()) {
        const logId = c.record.log_id;
        if (done.has(logId)) continue;
        buffer.arrive({ account: 'a', logId, digest: 'd', data: c.data, shard: 's', sequence: String(i), firstsAt: 0, ord: 0 }, 0);
        take(buffer.release(0));
      }
      const early = written.length;
      take(buffer.release(0, true));
      assert.deepEqual(
        written,
        chain.map((c) => c.record.log_id),
        `trial ${trial}`,
      );
      assert.ok(early > 0 || chain.length <= 4 * maxBatch, `trial ${trial}: nothing was final before the end`);
    }
  });

  it('reports exactly the record deleted, edited, swapped without a resend, or foreign, on top of a history with resends', async () => {
    const kinds = ['delete', 'edit', 'swap', 'insert'] as const;
    for (let trial = 0; trial < 40; trial++) {
      const rnd = prng(9000 + trial);
      const kind = kinds[trial % 4]!;
      const chain = buildSignedChain(
        s,
        'a',
        Array.from({ length: 4 }, () => 4 + Math.floor(rnd() * 12)),
      );
      const history = engineHistory(chain, rnd, 1 + Math.floor(rnd() * 8), kind === 'swap' ? 0 : 0.2, 0);
      const firstCp = chain.findIndex((c) => c.record.operation === 'ChainCheckpoint');
      const lastCp = chain.length - 1;
      const candidates = chain.filter((c, i) => i > firstCp && i < lastCp - 1 && c.record.operation !== 'ChainCheckpoint');
      const target = candidates[Math.floor(rnd() * candidates.length)]!;
      let arrivals = history.map((c) => c.data);
      let expected: RegExp;
      if (kind === 'delete') {
        arrivals = history.filter((c) => c.seq !== target.seq).map((c) => c.data);
        expected = new RegExp(`^missing: sequence ${target.seq} \\(log_id ${target.record.log_id}\\) did not arrive$`);
      } else if (kind === 'edit') {
        const edited = Buffer.from(JSON.stringify({ ...target.record, user_email: 'someone-else@example.com' }));
        arrivals = history.map((c) => (c.seq === target.seq ? edited : c.data));
        expected = new RegExp(`^altered: sequence ${target.seq} \\(log_id ${target.record.log_id}\\) at .* differs from the record the checkpoint signed$`);
      } else if (kind === 'insert') {
        const foreign = chainRecord('a', 999);
        const at = history.findIndex((c) => c.seq === target.seq);
        arrivals.splice(at, 0, Buffer.from(JSON.stringify(foreign)));
        expected = new RegExp(`^extra: log_id ${foreign.log_id} at .* is not in the chain`);
      } else {
        // Clean delivery; the target arrives after its successor, and nothing is resent.
        const next = chain[chain.indexOf(target) + 1]!;
        if (next.record.operation === 'ChainCheckpoint') {
          trial--;
          continue;
        }
        const at = history.findIndex((c) => c.seq === target.seq);
        [arrivals[at], arrivals[at + 1]] = [arrivals[at + 1]!, arrivals[at]!];
        expected = new RegExp(`^reordered: sequence ${target.seq} \\(log_id ${target.record.log_id}\\) at .* arrived after sequence ${next.seq}`);
      }
      const { result } = await run(new Map([['shard-0', arrivals.map((data) => ({ account: 'a', data }))]]), s, trial);
      const [r] = result.accounts!;
      assert.equal(r!.status, 'broken', `trial ${trial} ${kind}`);
      assert.equal(r!.problems.length, 1, `trial ${trial} ${kind}: ${r!.problems.join(' | ')}`);
      assert.match(r!.problems[0]!, expected, `trial ${trial} ${kind}`);
    }
  });
});
