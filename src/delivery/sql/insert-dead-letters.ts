/**
 * Files records a sink's destination refused for good (or that are over its size limit) in the
 * sink's dead-letter table, where they are counted, listed and replayable. A record dead-lettered
 * again (a dead-letter replay refused once more) keeps one row with the latest reason.
 */
import type { StoreTx } from '../../store/store.js';
import type { DeadLetter } from '../cursor.js';

/** Reasons are cut to 1,000 characters: a destination's message must not bloat the table. */
export async function insertDeadLetters(tx: StoreTx, sinkId: string, dead: readonly DeadLetter[], now = Date.now()): Promise<void> {
  for (const d of dead) {
    await tx.run(
      `INSERT INTO audit_log_sink_dead_letters (sink_id, seq, log_id, reason, created_ms) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (sink_id, seq) DO UPDATE SET reason = excluded.reason, created_ms = excluded.created_ms`,
      [sinkId, d.seq, d.logId, d.reason.slice(0, 1000), now],
    );
  }
}
