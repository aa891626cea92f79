/**
 * Putting a resend back in its place (docs/decisions/0023-consumer-reorders-resends.md).
 *
 * What a sink delivers per account: the chain's records in chain order, except that a partial
 * failure resends from the first failed entry onward (docs/decisions/0018-ordering-with-partial-failure.md), so a record that
 * succeeded after a failed one arrives once before the failed one and again after it. The
 * records carry no sequence number on Kinesis, so the order is read from the copies: the engine
 * resends every later record of the batch after a resent one, hence each record's *latest* copy
 * stands in chain order. The buffer keeps each account's records not yet written in the order of
 * their latest copies (a copy arriving again moves its record to the end) and lets a prefix go
 * once it is final:
 *
 * - certainly, once `REORDER_WINDOW` first copies of the account arrived after a record's latest
 *   copy: until a record's batch is acknowledged, the only records arriving for the first time
 *   are that batch's (at most 1,000 in every sink kind) and, when the sink restarted mid-batch, the
 *   batch it sends after the restart, which starts at or before the record; so twice the largest
 *   batch means the record's batch was acknowledged and nothing before it can still come (a sink
 *   restarting twice within one batch is the rare case this does not cover);
 * - once the account was quiet for `holdMs` (a retrying sink resends within its backoff), or when
 *   the consumer stops: a resend later than that (a destination down for longer,
 *   a crashed sink resending after its restart) finds later records already written, and the
 *   proof reports it as the reordering it then is in the output.
 */

import type { AuditRecord } from '../record/record.js';

/** One record held: where its first copy came from and where its latest copy stands. */
export interface HeldRecord {
  account: string;
  logId: string;
  digest: string;
  /** The first copy's bytes and position (the output writes these). */
  data: Buffer;
  shard: string;
  sequence: string;
  subSequence?: number | undefined;
  /** The account's count of first copies when the latest copy arrived (this one included). */
  firstsAt: number;
  /** Arrival order of the latest copy (what the state database sorts held records by). */
  ord: number;
  /** The parsed record and its canonical JSON, when this process parsed it (not stored). */
  parsed?: { value: AuditRecord; canonical: string } | undefined;
  /** Whether the state database has a row for it. */
  stored?: boolean;
}

/** A held record as the state database stores it. */
export type StoredHeld = Omit<HeldRecord, 'firstsAt' | 'parsed' | 'stored'>;

/**
 * Twice the largest batch of any sink kind: Kinesis 500 (1,000 audit records when aggregating),
 * Pub/Sub 1,000 messages, webhook 1,000 (each kind's `maxBatchRecords`, src/sinks/<kind>/limits.ts).
 */
export const REORDER_WINDOW = 2000;

/**
 * How long an account may be quiet before what it holds is written: longer than the engine waits
 * before resending a throttled entry (at most 3.2 s) and than its first five retries of a failed
 * one (200 ms doubling), short enough that a quiet account's records are not kept long.
 */
export const DEFAULT_REORDER_HOLD_MS = 10_000;

interface AccountBuffer {
  /** In the order of the latest copies (Map keeps insertion order; a move is delete + set). */
  held: Map<string, HeldRecord>;
  firsts: number;
  lastArrival: number;
}

export type Arrival = 'new' | 'moved' | 'conflict';

export class ReorderBuffer {
  private readonly accounts = new Map<string, AccountBuffer>();
  /** Held records added or moved since the last `takeChanges`. */
  private changed = new Set<HeldRecord>();
  /** Records that left the buffer since the last `takeChanges` and were stored before. */
  private removed: { account: string; logId: string }[] = [];
  private nextOrd = 1;

  constructor(
    private readonly window = REORDER_WINDOW,
    private readonly holdMs = DEFAULT_REORDER_HOLD_MS,
  ) {}

  private buffer(account: string): AccountBuffer {
    let b = this.accounts.get(account);
    if (!b) {
      b = { held: new Map(), firsts: 0, lastArrival: 0 };
      this.accounts.set(account, b);
    }
    return b;
  }

  /** Whether this buffer has seen the account (else a shared state may hold its records). */
  knows(account: string): boolean {
    return this.accounts.has(account);
  }

  /** Whether the record is held (not written yet). */
  has(account: string, logId: string): boolean {
    return this.accounts.get(account)?.held.has(logId) ?? false;
  }

  /**
   * A copy of a record not yet written: `new` (its first copy, now held last), `moved` (held
   * already; its latest copy now stands last) or `conflict` (held with other content: dropped).
   */
  arrive(rec: HeldRecord, now: number): Arrival {
    const b = this.buffer(rec.account);
    b.lastArrival = now;
    const known = b.held.get(rec.logId);
    if (known && known.digest !== rec.digest) return 'conflict';
    if (!known) b.firsts++;
    // A first copy's object is kept as the entry (the caller made it for this call).
    const entry = known ?? rec;
    entry.firstsAt = b.firsts;
    entry.ord = this.nextOrd++;
    if (known) b.held.delete(rec.logId);
    b.held.set(rec.logId, entry);
    this.changed.add(entry);
    return known ? 'moved' : 'new';
  }

  /** An arrival of an account whose copy was dropped (written before): the account is not quiet. */
  touch(account: string, now: number): void {
    this.buffer(account).lastArrival = now;
  }

  /**
   * The records now final, per account in chain order (accounts in no particular order);
   * `all` lets everything go (the consumer stops).
   */
  release(now: number, all = false): HeldRecord[] {
    const out: HeldRecord[] = [];
    for (const b of this.accounts.values()) {
      const quiet = all || now - b.lastArrival >= this.holdMs;
      const going: HeldRecord[] = [];
      for (const r of b.held.values()) {
        if (!quiet && b.firsts - r.firstsAt < this.window) break;
        going.push(r);
      }
      for (const r of going) this.forget(b, r);
      out.push(...going);
    }
    return out;
  }

  private forget(b: AccountBuffer, r: HeldRecord): void {
    b.held.delete(r.logId);
    this.changed.delete(r);
    if (r.stored) this.removed.push({ account: r.account, logId: r.logId });
  }

  /** Held records to store (added or moved) and stored ones to delete, since the last call. */
  takeChanges(): { put: HeldRecord[]; remove: { account: string; logId: string }[] } {
    const put = [...this.changed];
    for (const r of put) r.stored = true;
    const remove = this.removed;
    this.changed = new Set();
    this.removed = [];
    return { put, remove };
  }

  /**
   * Replaces what is held for these accounts with what the state database holds (at start, and
   * per batch when several processes share the state). Stored order is the order of latest
   * copies; counts of first copies start again, so a reloaded record waits a full window.
   */
  load(accounts: string[], rows: StoredHeld[], now: number): void {
    for (const a of accounts) {
      const old = this.accounts.get(a);
      if (old) for (const r of old.held.values()) this.changed.delete(r);
      this.accounts.delete(a);
    }
    for (const r of [...rows].sort((x, y) => x.ord - y.ord)) {
      this.nextOrd = Math.max(this.nextOrd, r.ord + 1);
      const b = this.buffer(r.account);
      b.lastArrival = now;
      b.held.set(r.logId, { ...r, firstsAt: 0, stored: true });
    }
  }

  /** How many records are held in all. */
  size(): number {
    let n = 0;
    for (const b of this.accounts.values()) n += b.held.size;
    return n;
  }
}

/** A held record's row in the state database (the bytes as a BLOB / bytea, never re-encoded). */
export interface HeldRow {
  account: string;
  log_id: string;
  ord: number;
  digest: string;
  data: Buffer;
  shard: string;
  sequence: string;
  sub: number | null;
}

export function heldToRow(h: StoredHeld): HeldRow {
  return { account: h.account, log_id: h.logId, ord: h.ord, digest: h.digest, data: h.data, shard: h.shard, sequence: h.sequence, sub: h.subSequence ?? null };
}

export function heldFromRow(r: HeldRow): StoredHeld {
  return {
    account: r.account,
    logId: r.log_id,
    ord: Number(r.ord),
    digest: r.digest,
    data: Buffer.from(r.data),
    shard: r.shard,
    sequence: r.sequence,
    ...(r.sub !== null ? { subSequence: Number(r.sub) } : {}),
  };
}
