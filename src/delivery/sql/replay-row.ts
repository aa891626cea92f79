/**
 * The `audit_log_sink_replays` row: re-deliver part of an account's stored chain to one sink,
 * tracked apart from the sink's cursor. `range` replays a stored-time window (resolved to a seq
 * range when created); `dead_letters` retries the sink's dead-lettered records (each one that now
 * goes through leaves the dead-letter table). Progress writes are fenced by the sink's lease token.
 * The statements on it are the files beside this one.
 */

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

export interface RawReplay {
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

export const REPLAY_COLUMNS = 'id, sink_id, mode, from_ms, to_ms, from_seq, to_seq, next_seq, delivered_count, state, created_ms, finished_ms';

export function toReplay(r: RawReplay): ReplayRow {
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
