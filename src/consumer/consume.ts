/**
 * The consumer loop: source → (deaggregated) records → validate → dedupe → proof → output, one
 * batch at a time. A batch's output is made durable first, then its positions, dedupe ids, proof
 * state and output position commit together in the checkpoint database, then the source is told
 * (Pub/Sub acks). Stopping (the signal) finishes the current batch and commits it.
 */
import type { KeyObject } from 'node:crypto';
import { canonicalJson, recordDigest } from '../chain/hash.js';
import { ACCOUNT_ID_PATTERN } from '../store/chain-append.js';
import { validateAccepted } from '../record/schema.js';
import type { AuditRecord } from '../record/record.js';
import { Dedupe } from './dedupe.js';
import { ProofTracker, type AccountReport } from './proof.js';
import { positionOf, RejectFile, type Reject } from './rejects.js';
import { DEFAULT_REORDER_HOLD_MS, REORDER_WINDOW, ReorderBuffer, type HeldRecord } from './reorder.js';
import type { ConsumerState, Output, OutputRecord, ShardPosition, Source, SourceBatch, SourceRecord } from './types.js';

export interface ConsumeOptions {
  source: Source;
  output: Output;
  /** Positions, dedupe ids, proof state: `CheckpointDb.state()` or `PgConsumerState`. */
  state: ConsumerState;
  /** Trusted checkpoint keys by key id; without them nothing is verified. */
  trustedKeys?: Map<string, KeyObject>;
  rejectFile: string;
  /** Larger records are rejected (default 1 MiB, a Kinesis record's limit). */
  maxRecordBytes?: number;
  /**
   * How long an account may be quiet before the records held for a resend are written anyway
   * (src/consumer/reorder.ts; default 10 s).
   */
  reorderHoldMs?: number;
  /** Stop once nothing arrived for this long. */
  exitWhenIdleMs?: number;
  progressIntervalMs?: number;
  /** Progress and reject lines (stderr in the CLI). */
  log?: (line: string) => void;
  /** Aborting finishes the current batch, commits it and returns. */
  signal?: AbortSignal;
}

export interface ConsumeResult {
  /** Records read (after deaggregation). */
  received: number;
  written: number;
  duplicates: number;
  rejected: number;
  stoppedBy: 'signal' | 'idle' | 'end';
  /** Per account, when keys were given. */
  accounts: AccountReport[] | undefined;
  /** Some account's proof found a problem. */
  broken: boolean;
}

/** Reads until stopped, idle or the source ends; returns the totals and the proof's report. */
export async function consume(opts: ConsumeOptions): Promise<ConsumeResult> {
  const { source, output, state: db } = opts;
  const outputKey = `output_position ${output.description}`;
  const log = opts.log ?? (() => {});
  const maxBytes = opts.maxRecordBytes ?? 1024 * 1024;
  const signal = opts.signal ?? new AbortController().signal;
  const rejects = new RejectFile(opts.rejectFile);
  const dedupe = new Dedupe(db);
  const proof = opts.trustedKeys ? new ProofTracker(opts.trustedKeys, db.shared ? [] : await db.proofStates()) : undefined;
  const reorder = new ReorderBuffer(REORDER_WINDOW, opts.reorderHoldMs ?? DEFAULT_REORDER_HOLD_MS);
  if (!db.shared) reorder.load([], await db.heldRecords(), Date.now());

  /**
   * Writes records the reorder buffer let go (in chain order per account), makes them durable,
   * then commits them with the batch's positions and what is still held; returns how many.
   */
  const writeReleased = async (released: HeldRecord[], positions: ShardPosition[]): Promise<number> => {
    // Shared state: another process may have written some of them since they were held here.
    const already = db.shared && released.length ? await db.seenDigests(released.map((r) => ({ account: r.account, logId: r.logId }))) : undefined;
    const out: OutputRecord[] = [];
    const seen: { account: string; logId: string; digest: string }[] = [];
    for (const r of released) {
      if (already?.has(`${r.account}\n${r.logId}`)) continue;
      out.push({ account: r.account, data: r.data, shard: r.shard, sequence: r.sequence });
      seen.push({ account: r.account, logId: r.logId, digest: r.digest });
      if (!proof) continue;
      const { value, canonical } = r.parsed ?? parseHeld(r.data);
      if (value.operation !== 'VerifyAuditLogSink') proof.add(r.account, value, { logId: r.logId, digest: r.digest, at: positionOf(r) }, canonical);
    }
    const position = await output.write(out);
    await db.commit({
      source: source.description,
      positions,
      seen,
      proofs: proof?.takeChanges() ?? [],
      held: reorder.takeChanges(),
      outputPosition: position,
      outputKey,
    });
    return out.length;
  };

  const committed = await db.meta(outputKey);
  await output.open(committed);
  if (committed === undefined) {
    // Commit the starting position before writing, so a crash in the first batch is undone too.
    const start = await output.write([]);
    if (start !== undefined) await db.setMeta(outputKey, start);
  }
  await source.open(await db.positions(source.description));

  const totals = { received: 0, written: 0, duplicates: 0, rejected: 0 };
  let stoppedBy: ConsumeResult['stoppedBy'] = 'end';
  let lastArrival = Date.now();
  let lastProgress = Date.now();
  let sinceProgress = 0;

  // The next poll runs while the current batch is processed and committed, so reading the
  // stream and the consumer's own work overlap. A poll still in flight when the consumer stops is
  // dropped uncommitted: its records come again on the next start.
  let upcoming: Promise<SourceBatch | null> | undefined;
  for (;;) {
    if (signal.aborted) {
      stoppedBy = 'signal';
      break;
    }
    const batch = await (upcoming ?? source.next(signal));
    upcoming = undefined;
    if (!batch) break;
    if (!signal.aborted) {
      upcoming = source.next(signal);
      // Handled when awaited; a rejection while this batch is processed must not go unhandled.
      upcoming.catch(() => {});
    }
    const now = Date.now();
    const rejected: Reject[] = [];
    const parsed: { rec: SourceRecord; value: AuditRecord; canonical: string; digest: string }[] = [];
    for (const [i, rec] of batch.records.entries()) {
      // Let the event loop breathe: the next poll's answer is read off its socket meanwhile,
      // instead of the stream's server waiting on a full socket until this batch is done.
      if (i > 0 && i % YIELD_EVERY === 0) await yieldToLoop();
      const v = check(rec, maxBytes);
      if (typeof v === 'string') rejected.push({ record: rec, reason: v });
      else {
        const canonical = canonicalJson(v);
        parsed.push({ rec, value: v, canonical, digest: recordDigest(canonical) });
      }
    }
    await dedupe.prefetch(parsed.map((p) => ({ account: p.rec.account, logId: p.value.log_id })));
    if (db.shared) {
      // Shared state: another process may have moved these accounts on (a lease taken over).
      const accounts = [...new Set(parsed.map((p) => p.rec.account))];
      if (proof) proof.reload(await db.proofStates(accounts));
      const unknown = accounts.filter((a) => !reorder.knows(a));
      if (unknown.length) reorder.load(unknown, await db.heldRecords(unknown), now);
    }
    for (const p of parsed) {
      const { account, shard, sequence, subSequence } = p.rec;
      const logId = p.value.log_id;
      // One shape for every held record (the fields in one order, none added later).
      const copy: HeldRecord = {
        account,
        logId,
        digest: p.digest,
        data: p.rec.data,
        shard,
        sequence,
        subSequence,
        firstsAt: 0,
        ord: 0,
        parsed: { value: p.value, canonical: p.canonical },
        stored: false,
      };
      // Held (not written yet): a copy again moves it behind what arrived since (a resend).
      const verdict = reorder.has(account, logId) ? reorder.arrive(copy, now) : dedupe.judge(account, logId, p.digest);
      if (verdict === 'new') {
        reorder.arrive(copy, now);
        continue;
      }
      reorder.touch(account, now);
      if (verdict === 'conflict') {
        rejected.push({ record: p.rec, reason: `log_id ${logId} was received before with other content (an altered copy)` });
        proof?.conflict(account, logId, positionOf(p.rec));
      } else totals.duplicates++;
    }
    for (const r of rejected) log(`consume: rejected ${positionOf(r.record)}: ${r.reason} (written to ${rejects.path})`);
    rejects.write(rejected);
    const written = await writeReleased(reorder.release(now), batch.positions);
    await batch.commit?.();
    dedupe.reset();

    totals.received += batch.records.length;
    totals.written += written;
    totals.rejected += rejected.length;
    sinceProgress += batch.records.length;
    const after = Date.now();
    if (batch.records.length > 0) lastArrival = after;
    if (after - lastProgress >= (opts.progressIntervalMs ?? 5000)) {
      log(progressLine(sinceProgress / ((after - lastProgress) / 1000), totals.written, reorder.size(), source.lag(), proof));
      lastProgress = after;
      sinceProgress = 0;
    }
    if (opts.exitWhenIdleMs !== undefined && after - lastArrival >= opts.exitWhenIdleMs) {
      stoppedBy = 'idle';
      break;
    }
  }
  await upcoming?.catch(() => null);
  // Stopping writes what is held: a resend arriving after a restart then stands after it.
  totals.written += await writeReleased(reorder.release(Date.now(), true), []);
  await source.close();
  await output.close();
  const accounts = proof?.report();
  return { ...totals, stoppedBy, accounts, broken: accounts?.some((a) => a.status === 'broken') ?? false };
}

/** Records handled between two turns of the event loop. */
const YIELD_EVERY = 500;

function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A held record read back from the state database: parsed again for the proof. */
function parseHeld(data: Buffer): { value: AuditRecord; canonical: string } {
  const value = JSON.parse(data.toString('utf8')) as AuditRecord;
  return { value, canonical: canonicalJson(value) };
}

/** The record, or why it is not a valid audit record. */
function check(rec: SourceRecord, maxBytes: number): AuditRecord | string {
  if (rec.data.length > maxBytes) return `oversized: ${rec.data.length} bytes, over ${maxBytes}`;
  if (!ACCOUNT_ID_PATTERN.test(rec.account)) return `the partition key ${JSON.stringify(rec.account.slice(0, 80))} is not an account id`;
  let value: unknown;
  try {
    value = JSON.parse(rec.data.toString('utf8'));
  } catch {
    return 'not JSON';
  }
  const shape = validateAccepted(value);
  if (!shape.ok) return `not an audit record: ${shape.field ? `${shape.field}: ` : ''}${shape.message}`;
  if (typeof (value as { log_id?: unknown }).log_id !== 'string') return 'not an audit record: log_id is missing';
  return value as AuditRecord;
}

function progressLine(rate: number, written: number, held: number, lag: Map<string, number>, proof: ProofTracker | undefined): string {
  const lags = [...lag].map(([s, ms]) => `${s} ${(ms / 1000).toFixed(1)}s`).join(', ');
  const verified = proof ? [...proof.verifiedSeqs()].map(([a, s]) => `${a} ${s ?? 'not yet'}`).join(', ') : 'not checked';
  return `consume: ${Math.round(rate)} records/s, ${written} written${held ? `, ${held} held for order` : ''}; lag ${lags || 'none'}; verified through ${verified || 'none'}`;
}

/** The report's human form: one line per account, one per problem. */
export function formatReport(accounts: AccountReport[]): string {
  const lines: string[] = [];
  for (const a of accounts) {
    const through = a.verified_through_sequence !== null ? `verified through sequence ${a.verified_through_sequence} (${a.verified_at})` : undefined;
    if (a.status === 'verified')
      lines.push(`account ${a.account}: ${through}${a.pending ? `; ${a.pending} later records not yet covered by a checkpoint` : ''}`);
    else if (a.status === 'not-yet-verifiable')
      lines.push(`account ${a.account}: not yet verifiable (no checkpoint received yet; ${a.not_yet_verifiable} records)`);
    else {
      lines.push(`account ${a.account}: BROKEN, ${a.problem_count} problem(s)${through ? `; last ${through}` : ''}`);
      for (const p of a.problems) lines.push(`  ${p}`);
      if (a.problem_count > a.problems.length) lines.push(`  ... and ${a.problem_count - a.problems.length} more`);
    }
  }
  return lines.join('\n');
}
