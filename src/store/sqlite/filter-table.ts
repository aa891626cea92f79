/**
 * SQLite's filter indexes live on a side table, `audit_filter` (migration 0009), filled in bulk:
 * each fill copies the filter columns of every record past its mark and moves the mark. A fill touches
 * each (tenant, value) index page once for thousands of records, where indexes on `audit_records`
 * dirtied them in every commit (bench/index-cost.ts). Queries read the side table up to the mark
 * and the records after it directly, so a record is found by every filter from its commit on,
 * whether or not a fill has run (src/store/query.ts).
 *
 * Fills run on the connection that appends (the append worker, or the store's own), after a group
 * commit once enough records or time have gone by, and on a timer for records other writers add.
 * A fill's commit need not be durable: a fill lost in a crash is made again by the next one.
 */
import type { SqliteConnection } from './sqlite-store.js';

/** Records one fill copies at most, and records appended since the last fill that make one due. */
const FILL_CHUNK = 20_000;

/** The records of the next fill: up to FILL_CHUNK past the mark. */
const NEXT_CHUNK = `FROM audit_records WHERE id > (SELECT id FROM audit_filter_mark) ORDER BY id LIMIT ${FILL_CHUNK}`;

/**
 * One fill: the next chunk's records copied, then the mark moved to the newest of them. The mark,
 * not the side table's newest id: retention may delete that row, a mark moved back (to rebuild)
 * has copies above it, and ids are never reused (AUTOINCREMENT), so nothing at or below the mark
 * can appear later. A chunk bounds how long a fill holds the write lock when much is left to copy
 * (after an outage of fills, or records a process without them wrote); the next fills take the
 * rest. A copy already there is overwritten, so a fill never stops on one.
 */
const FILL_FILTER_TABLE = `INSERT OR REPLACE INTO audit_filter (id, account_id, operation, user_email, principal_id, status, namespace)
  SELECT id, account_id, operation, user_email, principal_id, status, namespace ${NEXT_CHUNK};
UPDATE audit_filter_mark SET id = coalesce((SELECT max(id) FROM (SELECT id ${NEXT_CHUNK})), id);`;

/** Whether records past the mark exist: read before taking the write lock for a timed fill. */
const FILL_DUE = 'SELECT (SELECT coalesce(max(id), 0) FROM audit_records) > (SELECT id FROM audit_filter_mark) AS due';

/** The longest appended records wait for a fill (they are found meanwhile, more slowly). */
export const FILL_EVERY_MS = 1000;
/** A timer tick a little early still fills (ticks run every FILL_EVERY_MS). */
const TICK_SLACK_MS = 100;

/** The filter columns a side-table row copies, as `verify` compares them. */
const COPIED = ['account_id', 'operation', 'user_email', 'principal_id', 'status', 'namespace'] as const;

/**
 * The first record of an account in a seq range (the three parameters), at or below the mark,
 * whose side-table row is missing or differs from its columns. Each differing column is a 0/1 of
 * its own, to name it. Records past the mark have no copy yet: pages read them directly.
 */
export const COPY_MISMATCH = `SELECT r.seq, f.id IS NULL AS missing, ${COPIED.map((c) => `f.${c} IS NOT r.${c} AS ${c}`).join(', ')}
  FROM audit_records r LEFT JOIN audit_filter f ON f.id = r.id
  WHERE r.account_id = ? AND r.seq BETWEEN ? AND ? AND r.id <= (SELECT id FROM audit_filter_mark)
    AND (f.id IS NULL OR ${COPIED.map((c) => `f.${c} IS NOT r.${c}`).join(' OR ')})
  ORDER BY r.seq LIMIT 1`;

/**
 * What `verify` reports for a row of COPY_MISMATCH, once every check of the chain has passed. A
 * tenant may read it (the API's verify), so it names the effect; the operator's fix is in the
 * README.
 */
export function copyMismatchReason(row: Record<string, number>): string {
  const what = row['missing'] ? 'is missing' : `differs in ${COPIED.filter((c) => row[c]).join(', ')}`;
  return (
    `the search index's copy of this record ${what}, so filtered searches may not show it as stored; ` +
    `the records and their chain verify (the operator rebuilds the search index: README, Query)`
  );
}

export class FilterFill {
  private pending = 0;
  private last = Date.now();
  /** Whether the current run of failures has been reported (reset by a fill that works). */
  private warned = false;

  constructor(private readonly db: SqliteConnection) {}

  /** After a commit of `records` records on this connection: fills if one is due. Never throws. */
  appended(records: number): void {
    this.pending += records;
    if (this.pending >= FILL_CHUNK || (this.pending > 0 && Date.now() - this.last >= FILL_EVERY_MS)) this.safely(() => this.fill());
  }

  /**
   * On a timer: fills if none ran for about FILL_EVERY_MS and records wait (other writers' too).
   * The check is a read, so an idle store never takes the write lock for it. Never throws.
   */
  tick(): void {
    if (Date.now() - this.last < FILL_EVERY_MS - TICK_SLACK_MS) return;
    this.safely(() => {
      if (this.behind()) this.fill();
      else this.last = Date.now();
    });
  }

  /**
   * A failed fill loses nothing: the next one copies the same records, and queries read them
   * directly meanwhile. So the commit that triggered it stands, and the failure is a warning,
   * once per run of failures (a persistent cause would otherwise repeat it every second).
   */
  private safely(fill: () => void): void {
    try {
      fill();
      this.warned = false;
    } catch (err) {
      if (!this.warned)
        process.emitWarning(`auditstream: filling the SQLite filter table failed (retrying): ${err instanceof Error ? err.message : String(err)}`);
      this.warned = true;
    }
  }

  /** Copies up to FILL_CHUNK records past the mark, in one non-durable transaction. */
  fill(): void {
    this.db.pragma('synchronous = NORMAL');
    try {
      this.db.exec('BEGIN IMMEDIATE');
      try {
        this.db.exec(FILL_FILTER_TABLE);
        this.db.exec('COMMIT');
      } catch (err) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw err;
      }
    } finally {
      this.db.pragma('synchronous = FULL');
    }
    // Records still past the mark (a backlog beyond one chunk): the next commit fills again.
    this.pending = this.behind() ? FILL_CHUNK : 0;
    this.last = Date.now();
  }

  /** Fills until no record is past the mark (a bulk load). */
  fillAll(): void {
    while (this.behind()) this.fill();
  }

  /** Whether records wait past the mark: a read. */
  private behind(): boolean {
    return (this.db.prepare(FILL_DUE).get() as { due: number }).due === 1;
  }
}
