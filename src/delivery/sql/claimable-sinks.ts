/** Sinks a process could claim now (active, enabled, no live lease), and deleted sinks whose last holder is gone. */
import type { Sql } from '../../store/store.js';

export async function claimableSinks(sql: Sql, now = Date.now()): Promise<{ id: string; accountId: string; state: string }[]> {
  const rows = await sql.all<{ id: string; account_id: string; state: string }>(
    `SELECT id, account_id, state FROM audit_log_sinks
     WHERE (state = 'active' AND enabled = 1 OR state = 'deleting') AND (lease_owner IS NULL OR lease_expires_ms < ?)
     ORDER BY id`,
    [now],
  );
  return rows.map((r) => ({ id: r.id, accountId: r.account_id, state: r.state }));
}
