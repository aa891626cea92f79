/**
 * Replay rows: re-deliver part of an account's stored chain to one sink, tracked apart from the
 * sink's cursor. `range` replays a stored-time window (resolved to a seq range when created);
 * `dead_letters` retries the sink's dead-lettered records (each one that now goes through leaves
 * the dead-letter table). Progress writes are fenced by the sink's lease token.
 */
import type { Sql, StoreTx } from '../../store/store.js';
import type { Lease } from '../lease.js';
import { LeaseLostError } from '../cursor.js';

export type ReplayMode = 'range' | 'dead_letters';
export type ReplayState = 'pending' | 'running' | 'done';

export interface ReplayRow {
  id: string;
  sinkId: string;
  mode: ReplayMode;
  fromMs: number;
  toMs: number;
  fromSeq: number;
  toSeq: number;
  /** Next seq to deliver: progress is (nextSeq - fromSeq) / (toSeq - fromSeq + 1) for ranges. */
  nextSeq: number;
  deliveredCount: number;
  state: ReplayState;
  createdMs: number;
  finishedMs: number | null;
}

interface RawReplay {
  id: string;
  sink_id: string;
  mode: string;
  from_ms: number;
  to_ms: number;
  from_seq: number;
  to_seq: number;
  next_seq: number;
  delivered_count: number;
  state: string;
  created_ms: number;
  finished_ms: number | null;
}

const COLS = 'id, sink_id, mode, from_ms, to_ms, from_seq, to_seq, next_seq, delivered_count, state, created_ms, finished_ms';

function toReplay(r: RawReplay): ReplayRow {
  return {
    id: r.id,
    sinkId: r.sink_id,
    mode: r.mode as ReplayMode,
    fromMs: Number(r.from_ms),
    toMs: Number(r.to_ms),
    fromSeq: Number(r.from_seq),
    toSeq: Number(r.to_seq),
    nextSeq: Number(r.next_seq),
    deliveredCount: Number(r.delivered_count),
    state: r.state as ReplayState,
    createdMs: Number(r.created_ms),
    finishedMs: r.finished_ms === null ? null : Number(r.finished_ms),
  };
}

export async function insertReplay(tx: StoreTx, r: ReplayRow): Promise<void> {
  await tx.run(`INSERT INTO audit_log_sink_replays (${COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, [
    r.id, r.sinkId, r.mode, r.fromMs, r.toMs, r.fromSeq, r.toSeq, r.nextSeq, r.deliveredCount, r.state, r.createdMs, r.finishedMs,
  ]);
}

/** The replay a sink's worker should work on next (oldest unfinished). */
export async function nextReplay(sql: Sql, sinkId: string): Promise<ReplayRow | undefined> {
  const r = await sql.get<RawReplay>(
    `SELECT ${COLS} FROM audit_log_sink_replays WHERE sink_id = ? AND state <> 'done' ORDER BY created_ms, id LIMIT 1`,
    [sinkId],
  );
  return r && toReplay(r);
}

export async function replaysOfSink(sql: Sql, sinkId: string, limit = 20): Promise<ReplayRow[]> {
  const rows = await sql.all<RawReplay>(`SELECT ${COLS} FROM audit_log_sink_replays WHERE sink_id = ? ORDER BY created_ms DESC, id LIMIT ?`, [sinkId, limit]);
  return rows.map(toReplay);
}

/**
 * Records replay progress after an acknowledged batch: `nextSeq` moves past it, the replay is
 * `done` once past `toSeq`. For dead-letter replays, the delivered records leave the dead-letter
 * table. Fenced by the sink's lease token.
 */
export async function commitReplay(
  tx: StoreTx,
  lease: Lease,
  replay: ReplayRow,
  nextSeq: number,
  delivered: number,
  redeliveredDeadLetters: number[],
  now = Date.now(),
): Promise<void> {
  const done = nextSeq > replay.toSeq;
  const { changes } = await tx.run(
    `UPDATE audit_log_sink_replays SET next_seq = ?, delivered_count = delivered_count + ?, state = ?, finished_ms = ?
     WHERE id = ? AND EXISTS (SELECT 1 FROM audit_log_sinks s WHERE s.id = ? AND s.fence = ? AND s.lease_owner = ? AND s.state = 'active')`,
    [nextSeq, delivered, done ? 'done' : 'running', done ? now : null, replay.id, lease.sinkId, lease.token, lease.owner],
  );
  if (changes !== 1) throw new LeaseLostError(lease.sinkId);
  for (const seq of redeliveredDeadLetters) {
    await tx.run('DELETE FROM audit_log_sink_dead_letters WHERE sink_id = ? AND seq = ?', [lease.sinkId, seq]);
  }
}

/** Dead-lettered seqs of a sink from `fromSeq` on, in order. */
export async function deadLetterSeqs(sql: Sql, sinkId: string, fromSeq: number, toSeq: number, limit: number): Promise<number[]> {
  const rows = await sql.all<{ seq: number }>(
    'SELECT seq FROM audit_log_sink_dead_letters WHERE sink_id = ? AND seq >= ? AND seq <= ? ORDER BY seq LIMIT ?',
    [sinkId, fromSeq, toSeq, limit],
  );
  return rows.map((r) => Number(r.seq));
}
