import type { StoreTx } from '../../store/store.js';
import type { Lease } from '../lease.js';
import { LeaseLostError } from '../cursor.js';
import type { ReplayRow } from './replay-row.js';

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
