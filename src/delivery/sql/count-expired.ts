/**
 * Records (fromSeq..toSeq) of an account were purged: each active sink whose cursor had not passed
 * them counts the ones past its cursor as expired undelivered.
 */
import type { Sql } from '../../store/store.js';

export async function countExpired(sql: Sql, accountId: string, fromSeq: number, toSeq: number): Promise<void> {
  await sql.run(
    `UPDATE audit_log_sinks SET expired_count = expired_count + (? - CASE WHEN cursor_seq > ? THEN cursor_seq ELSE ? END)
     WHERE account_id = ? AND state = 'active' AND cursor_seq < ?`,
    [toSeq, fromSeq - 1, fromSeq - 1, accountId, toSeq],
  );
}
