/**
 * A sink's status for the UI and GetAccountAuditLogSink: health (OK, or an error summary with
 * since-when), last success, backlog (head seq − cursor), delivery lag (age of the oldest
 * undelivered record), dead letters, records expired undelivered, replays in progress.
 */
import type { Sql } from '../store/store.js';
import type { SinkErrorKind, SinkHealth, SinkRow } from './sql/sink-row.js';
import type { ReplayRow } from './sql/replay-row.js';
import { replaysOfSink } from './sql/replays-of-sink.js';
import { chainHeadSeq } from './sql/chain-head-seq.js';
import { retentionAnchorSeq } from './sql/retention-anchor-seq.js';
import { oldestStoredAfter } from './sql/oldest-stored-after.js';
import { deadLetterCount } from './sql/dead-letter-count.js';

export interface SinkStatus {
  name: string;
  enabled: boolean;
  state: 'active' | 'deleting';
  health: SinkHealth;
  /** `user_configuration` (role, stream, permission: the customer's to fix) or `internal`. */
  errorKind: SinkErrorKind | null;
  errorMessage: string | null;
  /** When the current error started (epoch ms). */
  errorSinceMs: number | null;
  /** Last time a batch was acknowledged (epoch ms). */
  lastSuccessMs: number | null;
  /** Last seq delivered, and the account's head. */
  cursorSeq: number;
  headSeq: number;
  /** Records stored and not yet delivered (purged ones excluded). */
  backlog: number;
  /** Age (ms) of the oldest undelivered record; 0 when none waits. */
  lagMs: number;
  /** Records delivered since the sink was created (each counted once, however often resent). */
  deliveredCount: number;
  /** Dead letters now in the table (replayable), and ever dead-lettered. */
  deadLetters: number;
  deadLetteredTotal: number;
  /** Records retention purged before this sink delivered them (past the hard cap). */
  expiredUndelivered: number;
  /** Records the sink's filter skipped (the cursor moved past them without a send). */
  filteredCount: number;
  /** Which process holds the lease, if any. */
  leaseOwner: string | null;
  replays: ReplayRow[];
}

/** Computes a sink's status from its row and the store. */
export async function statusOf(sql: Sql, row: SinkRow, now = Date.now()): Promise<SinkStatus> {
  const headSeq = await chainHeadSeq(sql, row.accountId);
  const from = Math.max(row.cursorSeq, await retentionAnchorSeq(sql, row.accountId));
  const oldestStoredAt = await oldestStoredAfter(sql, row.accountId, from);
  const deadLetters = await deadLetterCount(sql, row.id);
  return {
    name: row.name,
    enabled: row.enabled,
    state: row.state,
    health: row.health,
    errorKind: row.errorKind,
    errorMessage: row.errorMessage,
    errorSinceMs: row.errorSinceMs,
    lastSuccessMs: row.lastSuccessMs,
    cursorSeq: row.cursorSeq,
    headSeq,
    backlog: Math.max(0, headSeq - from),
    lagMs: oldestStoredAt === undefined ? 0 : Math.max(0, now - oldestStoredAt),
    deliveredCount: row.deliveredCount,
    deadLetters,
    deadLetteredTotal: row.deadLetterCount,
    expiredUndelivered: row.expiredCount,
    filteredCount: row.filteredCount,
    leaseOwner: row.leaseOwner,
    replays: await replaysOfSink(sql, row.id),
  };
}
