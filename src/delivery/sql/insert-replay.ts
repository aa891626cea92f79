/** Stores a new replay (created by replaySink / replayDeadLetters with the control-plane change that asked for it). */
import type { StoreTx } from '../../store/store.js';
import { REPLAY_COLUMNS, type ReplayRow } from './replay-row.js';

export async function insertReplay(tx: StoreTx, r: ReplayRow): Promise<void> {
  await tx.run(`INSERT INTO audit_log_sink_replays (${REPLAY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, [
    r.id,
    r.sinkId,
    r.mode,
    r.fromMs,
    r.toMs,
    r.fromSeq,
    r.toSeq,
    r.nextSeq,
    r.deliveredCount,
    r.state,
    r.createdMs,
    r.finishedMs,
  ]);
}
