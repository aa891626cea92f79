/**
 * The retention hold-back (docs/decisions/0015-backlog-versus-retention.md): retention never purges a record
 * an enabled sink has not delivered, up to a hard cap (default 2 × retention); past the cap the
 * record goes and every sink that had not delivered it counts it as "expired undelivered".
 *
 * Plugged into `AuditStore.purgeExpired` as a `RetentionHold`, so the check and the count run in
 * the purge's own transaction (a cursor moving meanwhile can neither lose nor double a count).
 */
import type { RetentionHold, Sql } from '../store/store.js';
import { minLiveCursor } from './sql/min-live-cursor.js';
import { countExpired } from './sql/count-expired.js';

/**
 * @param hardCutoffMs records stored before this go even if undelivered (retention job:
 *   `now - 2 × retention`).
 */
export function sinkRetentionHold(hardCutoffMs: number): RetentionHold {
  return {
    hardCutoffMs,
    async keepFrom(sql: Sql, accountId: string): Promise<number | undefined> {
      const cursor = await minLiveCursor(sql, accountId);
      return cursor === undefined ? undefined : cursor + 1;
    },
    async purged(sql: Sql, accountId: string, fromSeq: number, toSeq: number): Promise<void> {
      // Records (fromSeq..toSeq) are gone; those past a sink's cursor were never delivered to it.
      await countExpired(sql, accountId, fromSeq, toSeq);
    },
  };
}
