/**
 * Background jobs of `serve`: retention (purge records stored more than N days ago, in bounded
 * batches) and chain checkpoints (sign every account's head every few minutes). Each runs on
 * its own timer, never overlaps itself, and stops cleanly on shutdown.
 */
import type { Logger } from '../log.js';
import type { AuditStore } from '../store/store.js';
import { checkpointAll, type Signer } from '../chain/checkpoint.js';
import { retentionAttestor } from '../chain/purge.js';
import type { ApiMetrics } from '../api/metrics.js';
import { sinkRetentionHold } from '../delivery/retention.js';

export interface Job {
  /** Runs one round now (also used by tests and on shutdown). */
  runOnce(): Promise<void>;
  stop(): Promise<void>;
}

/** Repeats `round` every `intervalMs`; a round never overlaps the previous one. */
export function every(intervalMs: number, name: string, logger: Logger, round: () => Promise<void>): Job {
  let running: Promise<void> | undefined;
  let stopped = false;
  const runOnce = async () => {
    while (running) await running;
    running = round()
      .catch((err: unknown) => logger.error({ err, job: name }, `${name} round failed; retrying next interval`))
      .finally(() => {
        running = undefined;
      });
    await running;
  };
  const timer = setInterval(() => {
    if (!stopped && !running) void runOnce();
  }, intervalMs);
  timer.unref();
  return {
    runOnce,
    async stop() {
      stopped = true;
      clearInterval(timer);
      while (running) await running;
    },
  };
}

/**
 * One retention round. Each account's purge is capped by the newest checkpoint `signer` signed at
 * least `retentionDays` ago and leaves a `RetentionPurge` record signed by `signer` (see
 * src/chain/purge.ts), so records go at most one checkpoint interval after they expire.
 */
export function retentionRound(store: AuditStore, signer: Signer, retentionDays: number, batchSize: number, logger: Logger, metrics?: ApiMetrics) {
  return async () => {
    const now = Date.now();
    const cutoff = now - retentionDays * 86_400_000;
    const attestor = retentionAttestor(signer, retentionDays, now);
    // Records an enabled sink has not delivered stay until twice the retention (docs/decisions/0015);
    // past that they go and count as expired undelivered.
    const hold = sinkRetentionHold(now - 2 * retentionDays * 86_400_000);
    let total = 0;
    // Bounded batches, each its own transaction, so appends are never blocked for long.
    for (;;) {
      const n = await store.purgeExpired({ cutoffMs: cutoff, batchSize, attestor, hold });
      total += n;
      metrics?.retentionPurged.inc(n);
      if (n < batchSize) break;
    }
    if (total > 0) logger.info({ purged: total, cutoff: new Date(cutoff).toISOString() }, 'retention purged expired records');
  };
}

export function checkpointRound(store: AuditStore, signer: Signer, logger: Logger, metrics?: ApiMetrics, onCommit?: (accountId: string) => void) {
  return async () => {
    const made = await checkpointAll(store, signer);
    for (const cp of made) onCommit?.(cp.accountId);
    metrics?.checkpointsSigned.inc(made.length);
    metrics?.lastCheckpointTime.set(Date.now() / 1000);
    if (made.length > 0) logger.debug({ accounts: made.length }, 'signed chain checkpoints');
  };
}
