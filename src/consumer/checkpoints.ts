/**
 * The consumer's durable state in one local SQLite file (`--checkpoint-db`): per shard the last
 * sequence number processed, the `log_id`s already written (dedupe), the proof's state per
 * account and the output's committed position. Everything one batch changes commits in one
 * transaction after the output made that batch durable, so a consumer killed at any point
 * resumes from a state that matches its output: nothing lost, nothing written twice.
 */
import Database from 'better-sqlite3';
import { ConsumerSetupError, type BatchCommit, type ConsumerState, type ShardPosition } from './types.js';
import type { AccountProofState, PendingRecord } from './proof.js';
import { heldFromRow, heldToRow, type HeldRow, type StoredHeld } from './reorder.js';

/** Rows per multi-row INSERT (3 values each: well under SQLite's 32,766 parameters). */
const ROWS_PER_STATEMENT = 200;

export class CheckpointDb {
  private readonly db: Database.Database;

  /** Prepared statements by their text: a batch runs the same few, many times. */
  private readonly statements = new Map<string, Database.Statement>();

  private constructor(db: Database.Database) {
    this.db = db;
  }

  private prepared(sql: string): Database.Statement {
    let st = this.statements.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.statements.set(sql, st);
    }
    return st;
  }

  /**
   * Runs `head VALUES (?, ...), (?, ...) ...` over `values` (rows of `width` values, flattened), up to
   * ROWS_PER_STATEMENT rows per statement: one statement per chunk, not one per row.
   */
  private insertRows(head: string, width: number, values: unknown[]): void {
    const rows = values.length / width;
    for (let at = 0; at < rows; at += ROWS_PER_STATEMENT) {
      const n = Math.min(ROWS_PER_STATEMENT, rows - at);
      const sql = `${head} VALUES ${Array.from({ length: n }, () => `(${Array.from({ length: width }, () => '?').join(', ')})`).join(', ')}`;
      this.prepared(sql).run(...values.slice(at * width, (at + n) * width));
    }
  }

  /** Opens (creating) the file; an unreadable or foreign file is a `ConsumerSetupError`. */
  static open(path: string): CheckpointDb {
    let db: Database.Database | undefined;
    try {
      db = new Database(path);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.exec(`
        CREATE TABLE IF NOT EXISTS consumer_positions (source TEXT NOT NULL, shard TEXT NOT NULL, sequence TEXT, finished INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (source, shard));
        CREATE TABLE IF NOT EXISTS consumer_seen (account TEXT NOT NULL, log_id TEXT NOT NULL, digest TEXT NOT NULL, PRIMARY KEY (account, log_id)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS consumer_proof (account TEXT PRIMARY KEY, state TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS consumer_proof_pending (account TEXT NOT NULL, idx INTEGER NOT NULL, record TEXT NOT NULL, PRIMARY KEY (account, idx));
        CREATE TABLE IF NOT EXISTS consumer_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS consumer_held (account TEXT NOT NULL, log_id TEXT NOT NULL, ord INTEGER NOT NULL, digest TEXT NOT NULL, data BLOB NOT NULL, shard TEXT NOT NULL, sequence TEXT NOT NULL, sub INTEGER, PRIMARY KEY (account, log_id)) WITHOUT ROWID;
      `);
      return new CheckpointDb(db);
    } catch (err) {
      db?.close();
      throw new ConsumerSetupError(`cannot use checkpoint database ${path}: ${(err as Error).message}`);
    }
  }

  positions(source: string): Map<string, ShardPosition> {
    const rows = this.db.prepare('SELECT shard, sequence, finished FROM consumer_positions WHERE source = ?').all(source) as {
      shard: string;
      sequence: string | null;
      finished: number;
    }[];
    return new Map(rows.map((r) => [r.shard, { shard: r.shard, ...(r.sequence !== null ? { sequence: r.sequence } : {}), finished: r.finished === 1 }]));
  }

  /** The content digest of each (account, log_id) already written, among these. */
  seenDigests(keys: { account: string; logId: string }[]): Map<string, string> {
    const out = new Map<string, string>();
    // Row-value IN lists, 500 keys per query: one statement per chunk, not one per record.
    for (let i = 0; i < keys.length; i += 500) {
      const chunk = keys.slice(i, i + 500);
      const rows = this.prepared(
        `SELECT account, log_id, digest FROM consumer_seen WHERE (account, log_id) IN (VALUES ${chunk.map(() => '(?, ?)').join(', ')})`,
      ).all(...chunk.flatMap((k) => [k.account, k.logId])) as { account: string; log_id: string; digest: string }[];
      for (const r of rows) out.set(`${r.account}\n${r.log_id}`, r.digest);
    }
    return out;
  }

  proofStates(): { state: AccountProofState; pending: PendingRecord[] }[] {
    const states = this.db.prepare('SELECT account, state FROM consumer_proof').all() as { account: string; state: string }[];
    const pending = this.db.prepare('SELECT record FROM consumer_proof_pending WHERE account = ? ORDER BY idx');
    return states.map((s) => ({
      state: JSON.parse(s.state) as AccountProofState,
      pending: (pending.all(s.account) as { record: string }[]).map((r) => JSON.parse(r.record) as PendingRecord),
    }));
  }

  heldRecords(): StoredHeld[] {
    const rows = this.db.prepare('SELECT account, log_id, ord, digest, data, shard, sequence, sub FROM consumer_held ORDER BY ord').all() as HeldRow[];
    return rows.map(heldFromRow);
  }

  meta(key: string): string | undefined {
    return (this.db.prepare('SELECT value FROM consumer_meta WHERE key = ?').get(key) as { value: string } | undefined)?.value;
  }

  setMeta(key: string, value: string): void {
    this.db.prepare('INSERT INTO consumer_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  /** Commits one batch's effects atomically. */
  commit(c: BatchCommit): void {
    const pos = this.db.prepare(
      'INSERT INTO consumer_positions (source, shard, sequence, finished) VALUES (?, ?, ?, ?) ON CONFLICT (source, shard) DO UPDATE SET sequence = COALESCE(excluded.sequence, sequence), finished = excluded.finished',
    );
    const proof = this.db.prepare('INSERT INTO consumer_proof (account, state) VALUES (?, ?) ON CONFLICT (account) DO UPDATE SET state = excluded.state');
    const clear = this.db.prepare('DELETE FROM consumer_proof_pending WHERE account = ?');
    const hold = this.db.prepare(
      'INSERT INTO consumer_held (account, log_id, ord, digest, data, shard, sequence, sub) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (account, log_id) DO UPDATE SET ord = excluded.ord',
    );
    const unhold = this.db.prepare('DELETE FROM consumer_held WHERE account = ? AND log_id = ?');
    this.db.transaction(() => {
      for (const p of c.positions) pos.run(c.source, p.shard, p.sequence ?? null, p.finished ? 1 : 0);
      const seen: string[] = [];
      for (const s of c.seen) seen.push(s.account, s.logId, s.digest);
      this.insertRows('INSERT OR IGNORE INTO consumer_seen (account, log_id, digest)', 3, seen);
      for (const p of c.proofs) {
        proof.run(p.state.account, JSON.stringify(p.state));
        if (p.pendingReset) clear.run(p.state.account);
        const base = p.state.pendingCount - p.pendingAdded.length;
        const added: unknown[] = [];
        p.pendingAdded.forEach((r, i) => added.push(p.state.account, base + i, JSON.stringify(r)));
        this.insertRows('INSERT INTO consumer_proof_pending (account, idx, record)', 3, added);
      }
      for (const h of c.held?.put ?? []) {
        const r = heldToRow(h);
        hold.run(r.account, r.log_id, r.ord, r.digest, r.data, r.shard, r.sequence, r.sub);
      }
      for (const h of c.held?.remove ?? []) unhold.run(h.account, h.logId);
      if (c.outputPosition !== undefined) this.setMeta(c.outputKey ?? 'output_position', c.outputPosition);
    })();
  }

  close(): void {
    this.db.close();
  }

  /** This database as the consumer's (unshared) state. */
  state(path: string): ConsumerState {
    return {
      description: `checkpoint database ${path}`,
      shared: false,
      positions: async (source) => this.positions(source),
      seenDigests: async (keys) => this.seenDigests(keys),
      proofStates: async () => this.proofStates(),
      heldRecords: async () => this.heldRecords(),
      meta: async (key) => this.meta(key),
      setMeta: async (key, value) => this.setMeta(key, value),
      commit: async (c) => this.commit(c),
      close: async () => this.close(),
    };
  }
}
