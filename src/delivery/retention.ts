/**
 * The retention hold-back (docs/decisions/0015-backlog-versus-retention.md): retention never purges a record
 * an enabled sink has not delivered, up to a hard cap (default 2 × retention); past the cap the
 * record goes and every sink that had not delivered it counts it as "expired undelivered".
 *
 * Plugged into `AuditStore.purgeExpired` as a `RetentionHold`, so the check and the count run in
 * the purge's own transaction (a cursor moving meanwhile can neither lose nor double a count).
 */
import type { RetentionHold, Sql } from '../store/store.js';

/**
 * @param hardCutoffMs records stored before this go even if undelivered (retention job:
 *   `now - 2 × retention`).
 */
export function sinkRetentionHold(hardCutoffMs: number): RetentionHold {
  return {
    hardCutoffMs,
    async keepFrom(sql: Sql, accountId: string): Promise<number | undefined> {
      const r = await sql.get<{ c: number | null }>(
        "SELECT MIN(cursor_seq) AS c FROM audit_log_sinks WHERE account_id = ? AND enabled = 1 AND state = 'active'",
        [accountId],
      );
      return r?.c === null || r?.c === undefined ? undefined : Number(r.c) + 1;
    },
    async purged(sql: Sql, accountId: string, fromSeq: number, toSeq: number): Promise<void> {
      // Records (fromSeq..toSeq) are gone; those past a sink's cursor were never delivered to it.
      await sql.run(
        `UPDATE audit_log_sinks SET expired_count = expired_count + (? - CASE WHEN cursor_seq > ? THEN cursor_seq ELSE ? END)
         WHERE account_id = ? AND state = 'active' AND cursor_seq < ?`,
        [toSeq, fromSeq - 1, fromSeq - 1, accountId, toSeq],
      );
    },
  };
}
