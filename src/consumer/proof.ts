/**
 * The proof: a consumer checks what it received against the operator's signed checkpoints,
 * as CloudTrail's validate-logs does for digest files, but for a live stream.
 *
 * What the stream carries (nothing added to the seeds' record format): per account (the
 * partition / ordering key), the chain's records in chain order, and every few minutes a
 * `ChainCheckpoint` record signing (sequence S, head hash H, time T). That record always sits
 * at S + 1 in the chain, and lists for the records after the previous checkpoint record
 * (`records_from_sequence` F = previous S + 2, up to S) one `digest:log_id` each.
 *
 * So: the first checkpoint received fixes an anchor (S + 1, the hash of the checkpoint record
 * linked onto H); records before it are "not yet verifiable". Each later checkpoint (S', H')
 * must be reached by linking (as they arrive) exactly the records received since the anchor, with sequences
 * anchor + 1 ... S' (`linkHash` of src/chain/hash.ts over each record's canonical JSON). It
 * matches: "verified through S' (T')". It does not: the per-record list names what is missing,
 * altered, reordered or extra (without the list: how many are missing or extra). Either way the
 * next anchor is the new checkpoint, so one break does not hide later ones.
 */
import type { KeyObject } from 'node:crypto';
import { checkSignature, checkpointFromRecord, coveredFromRecord } from '../chain/checkpoint.js';
import { linkHash } from '../chain/hash.js';
import type { AuditRecord } from '../record/record.js';

/** One received chain record not yet covered by a checkpoint (its link is already in `head`). */
export interface PendingRecord {
  logId: string;
  digest: string;
  /** Where it arrived: `shard/sequence[/sub]`. */
  at: string;
}

/** What the proof knows of one account; persisted by the checkpoint database. */
export interface AccountProofState {
  account: string;
  /** The last checkpoint record linked: its own sequence and link hash. */
  anchor?: { seq: number; hash: string };
  /** The anchor with every pending record linked on, in arrival order. */
  head?: { seq: number; hash: string };
  /** The last signed sequence the received records were checked against, and its signing time. */
  verified?: { seq: number; signedAt: string };
  /** Records received before the first checkpoint (nothing signed covers them yet). */
  unverifiable: number;
  pendingCount: number;
  /** Problems found (the first 1,000), and how many in all. */
  breaks: string[];
  breakCount: number;
}

const MAX_BREAKS = 1000;

/** The per-account verdict, as printed and written by `--json-report`. */
export interface AccountReport {
  account: string;
  status: 'verified' | 'not-yet-verifiable' | 'broken';
  verified_through_sequence: number | null;
  verified_at: string | null;
  /** Received after the last verified checkpoint, not yet covered by one. */
  pending: number;
  not_yet_verifiable: number;
  problems: string[];
  problem_count: number;
}

interface Live {
  state: AccountProofState;
  pending: PendingRecord[];
  dirty: boolean;
  pendingReset: boolean;
  added: PendingRecord[];
}

export class ProofTracker {
  private readonly accounts = new Map<string, Live>();

  constructor(
    private readonly trusted: Map<string, KeyObject>,
    initial: { state: AccountProofState; pending: PendingRecord[] }[] = [],
  ) {
    for (const i of initial) this.accounts.set(i.state.account, { state: i.state, pending: i.pending, dirty: false, pendingReset: false, added: [] });
  }

  /** Replaces what this tracker holds of these accounts (read afresh from shared state). */
  reload(entries: { state: AccountProofState; pending: PendingRecord[] }[]): void {
    for (const e of entries) this.accounts.set(e.state.account, { state: e.state, pending: e.pending, dirty: false, pendingReset: false, added: [] });
  }

  private live(account: string): Live {
    let l = this.accounts.get(account);
    if (!l) {
      l = { state: { account, unverifiable: 0, pendingCount: 0, breaks: [], breakCount: 0 }, pending: [], dirty: true, pendingReset: false, added: [] };
      this.accounts.set(account, l);
    }
    l.dirty = true;
    return l;
  }

  private problem(l: Live, text: string): void {
    l.state.breakCount++;
    if (l.state.breaks.length < MAX_BREAKS) l.state.breaks.push(text);
  }

  /** A record whose log_id was already written with other content: an altered copy (dropped). */
  conflict(account: string, logId: string, at: string): void {
    this.problem(this.live(account), `altered: a second copy of log_id ${logId} at ${at} differs from the one received first (dropped)`);
  }

  /**
   * One received chain record (never a VerifyAuditLogSink test record), in arrival order, with its
   * canonical JSON (what the link hash covers).
   */
  add(account: string, record: AuditRecord, rec: PendingRecord, canonical: string): void {
    const l = this.live(account);
    if (record.operation === 'ChainCheckpoint') {
      this.checkpoint(l, record, rec, canonical);
      return;
    }
    if (!l.state.anchor) {
      l.state.unverifiable++;
      return;
    }
    this.push(l, rec, canonical);
  }

  private push(l: Live, rec: PendingRecord, canonical: string): void {
    const head = l.state.head ?? l.state.anchor!;
    l.state.head = { seq: head.seq + 1, hash: linkHash(l.state.account, head.seq + 1, head.hash, canonical) };
    l.pending.push(rec);
    l.added.push(rec);
    l.state.pendingCount = l.pending.length;
  }

  private checkpoint(l: Live, record: AuditRecord, rec: PendingRecord, canonical: string): void {
    const account = l.state.account;
    const cp = checkpointFromRecord(account, record);
    if (typeof cp === 'string') {
      this.problem(l, `${cp}: log_id ${rec.logId} at ${rec.at}`);
      if (l.state.anchor) this.push(l, rec, canonical);
      return;
    }
    const sig = checkSignature(cp, this.trusted);
    if (sig !== 'ok') {
      this.problem(
        l,
        `checkpoint of sequence ${cp.seq} (log_id ${rec.logId} at ${rec.at}) ${sig === 'untrusted-key' ? `is signed by key ${cp.keyId}, not one given with --public-key` : 'has a bad signature'}`,
      );
      if (l.state.anchor) this.push(l, rec, canonical);
      return;
    }
    const anchor = l.state.anchor;
    if (anchor && cp.seq < anchor.seq) {
      this.problem(l, `reordered: the checkpoint of sequence ${cp.seq} (log_id ${rec.logId} at ${rec.at}) arrived after sequence ${anchor.seq}`);
      return;
    }
    const signedAt = new Date(cp.createdAt).toISOString();
    if (anchor) {
      const head = l.state.head ?? anchor;
      const expected = cp.seq - anchor.seq;
      if (l.pending.length === expected && head.seq === cp.seq && head.hash === cp.hash) {
        l.state.verified = { seq: cp.seq, signedAt };
      } else {
        for (const p of diagnose(anchor.seq, l.pending, cp.seq, coveredFromRecord(record))) this.problem(l, p);
      }
    } else {
      l.state.verified = { seq: cp.seq, signedAt };
    }
    // The checkpoint record itself sits at S + 1, linked onto the signed head.
    l.state.anchor = { seq: cp.seq + 1, hash: linkHash(account, cp.seq + 1, cp.hash, canonical) };
    delete l.state.head;
    l.pending = [];
    l.added = [];
    l.pendingReset = true;
    l.state.pendingCount = 0;
  }

  /** The accounts changed since the last call, for the checkpoint database; resets the change marks. */
  takeChanges(): { state: AccountProofState; pendingReset: boolean; pendingAdded: PendingRecord[] }[] {
    const out: { state: AccountProofState; pendingReset: boolean; pendingAdded: PendingRecord[] }[] = [];
    for (const l of this.accounts.values()) {
      if (!l.dirty) continue;
      out.push({ state: { ...l.state, breaks: [...l.state.breaks] }, pendingReset: l.pendingReset, pendingAdded: l.added });
      l.dirty = false;
      l.pendingReset = false;
      l.added = [];
    }
    return out;
  }

  /** The last verified sequence per account (for progress lines). */
  verifiedSeqs(): Map<string, number | undefined> {
    return new Map([...this.accounts.values()].map((l) => [l.state.account, l.state.verified?.seq]));
  }

  report(): AccountReport[] {
    return [...this.accounts.values()]
      .map(({ state: s }) => ({
        account: s.account,
        status: s.breakCount > 0 ? ('broken' as const) : s.verified ? ('verified' as const) : ('not-yet-verifiable' as const),
        verified_through_sequence: s.verified?.seq ?? null,
        verified_at: s.verified?.signedAt ?? null,
        pending: s.pendingCount,
        not_yet_verifiable: s.unverifiable,
        problems: s.breaks,
        problem_count: s.breakCount,
      }))
      .sort((a, b) => (a.account < b.account ? -1 : a.account > b.account ? 1 : 0));
  }
}

/**
 * What went wrong between an anchor and a checkpoint of `seq`: per record when the checkpoint
 * lists the records it covers (and the list starts right after the anchor), else by count.
 */
export function diagnose(anchorSeq: number, pending: PendingRecord[], seq: number, covered: { fromSeq: number; entries: string[] } | undefined): string[] {
  const expectedCount = seq - anchorSeq;
  const range = `sequences ${anchorSeq + 1}..${seq}`;
  if (!covered || covered.fromSeq !== anchorSeq + 1 || covered.entries.length !== expectedCount) {
    if (pending.length < expectedCount) return [`missing: ${expectedCount - pending.length} of the ${expectedCount} records of ${range} did not arrive`];
    if (pending.length > expectedCount) return [`extra: ${pending.length - expectedCount} records arrived beyond the ${expectedCount} of ${range}`];
    return [`altered or reordered: the ${expectedCount} records received for ${range} do not hash to the signed head of sequence ${seq}`];
  }
  const expected = covered.entries.map((e, i) => ({ seq: covered.fromSeq + i, digest: e.slice(0, 16), logId: e.slice(17) }));
  const byLogId = new Map(expected.map((e) => [e.logId, e]));
  const received = new Set(pending.map((p) => p.logId));
  const problems: string[] = [];
  for (const e of expected) if (!received.has(e.logId)) problems.push(`missing: sequence ${e.seq} (log_id ${e.logId}) did not arrive`);
  let highest: { seq: number; logId: string } | undefined;
  for (const p of pending) {
    const e = byLogId.get(p.logId);
    if (!e) {
      problems.push(`extra: log_id ${p.logId} at ${p.at} is not in the chain between ${range}`);
      continue;
    }
    if (e.digest !== p.digest) problems.push(`altered: sequence ${e.seq} (log_id ${e.logId}) at ${p.at} differs from the record the checkpoint signed`);
    if (highest && e.seq < highest.seq)
      problems.push(`reordered: sequence ${e.seq} (log_id ${e.logId}) at ${p.at} arrived after sequence ${highest.seq} (log_id ${highest.logId})`);
    else highest = { seq: e.seq, logId: e.logId };
  }
  if (problems.length === 0) problems.push(`altered: the records of ${range} match the checkpoint's list but do not hash to its signed head`);
  return problems;
}
