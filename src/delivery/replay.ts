/**
 * Replay on the worker's side (the rows: src/delivery/sql/replay-row.ts): when live delivery is
 * caught up, a sink's worker sends one batch of its oldest unfinished replay at a time — a stored
 * seq range, or the sink's dead letters — through the same verdict loop as live records, and
 * records the progress apart from the cursor, fenced by the lease.
 */
import type { SinkAdapter } from './adapter.js';
import type { AuditStore, ChainBody } from '../store/store.js';
import type { Lease } from './lease.js';
import { takeBatch } from './batch-plan.js';
import { deliverBatch, type VerdictLoopHost } from './verdict-loop.js';
import type { ReplayRow } from './sql/replay-row.js';
import { nextReplay } from './sql/next-replay.js';
import { commitReplay } from './sql/commit-replay.js';
import { deadLetterBodies } from './sql/dead-letter-bodies.js';
import { insertDeadLetters } from './sql/insert-dead-letters.js';

/** What a replay step needs of the worker beyond the verdict loop's needs. */
export interface ReplayHost extends VerdictLoopHost {
  readonly store: AuditStore;
  readonly accountId: string;
  readonly lease: Lease;
  /** Records read from the store per page. */
  readonly pageSize: number;
  /** The sink's filter; a range replay skips what it refuses, as live delivery does. */
  readonly accepts?: ((recordJson: string) => boolean) | undefined;
}

/** Sends one batch of the sink's oldest unfinished replay; false when there is nothing to replay. */
export async function replayStep(host: ReplayHost, adapter: SinkAdapter): Promise<boolean> {
  const replay = await nextReplay(host.store.sql, host.sinkId);
  if (!replay) return false;
  const read = await replayRecords(host, replay);
  const accepts = replay.mode === 'range' ? host.accepts : undefined;
  const records = accepts ? read.filter((r) => accepts(r.recordJson)) : read;
  if (records.length === 0 && read.length > 0) {
    // The whole page is filtered out: move past it without a send.
    await host.store.transaction((tx) => commitReplay(tx, host.lease, replay, read[read.length - 1]!.seq + 1, 0, []));
    return true;
  }
  // Within the rate's one-second share too, as live batches are: a larger batch would be sent as a burst.
  const pending = takeBatch(adapter, host.accountId, records, host.rate, Date.now());
  // Past the filtered records that follow the batch too, when the batch took every accepted one.
  const lastTaken = pending.length === records.length && read.length > 0 ? read[read.length - 1]!.seq : pending[pending.length - 1]?.seq;
  const nextSeq = pending.length > 0 ? lastTaken! + 1 : replay.toSeq + 1;
  await deliverBatch(host, adapter, pending, (delivered, dead) =>
    host.store.transaction(async (tx) => {
      const deadSeqs = new Set(dead.map((d) => d.seq));
      const redelivered = replay.mode === 'dead_letters' ? pending.map((p) => p.seq).filter((s) => !deadSeqs.has(s)) : [];
      await commitReplay(tx, host.lease, replay, nextSeq, delivered, redelivered);
      await insertDeadLetters(tx, host.sinkId, dead);
    }),
  );
  if (pending.length === 0) {
    // Nothing left in range (e.g. purged by retention): close the replay.
    await host.store.transaction((tx) => commitReplay(tx, host.lease, replay, nextSeq, 0, []));
  }
  return true;
}

/** The next page of the replay's records, from its `nextSeq` on. */
async function replayRecords(host: ReplayHost, replay: ReplayRow): Promise<ChainBody[]> {
  if (replay.mode === 'range') {
    const page = await host.store.readChainBodies(host.accountId, replay.nextSeq, Math.min(host.pageSize, replay.toSeq - replay.nextSeq + 1));
    return page.filter((r) => r.seq <= replay.toSeq);
  }
  return deadLetterBodies(host.store.sql, host.accountId, host.sinkId, replay.nextSeq, replay.toSeq, host.pageSize);
}
