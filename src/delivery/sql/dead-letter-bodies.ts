/**
 * The stored records behind a sink's dead letters, for a dead-letter replay: one read joining the
 * dead-letter table with the chain, in seq order. Dead letters whose record retention already
 * purged have no body and are left out.
 */
import type { ChainBody, Sql } from '../../store/store.js';

/** Up to `limit` bodies of the sink's dead letters with `fromSeq <= seq <= toSeq`. */
export async function deadLetterBodies(sql: Sql, accountId: string, sinkId: string, fromSeq: number, toSeq: number, limit: number): Promise<ChainBody[]> {
  const rows = await sql.all<{ seq: number; log_id: string; stored_at: number; record_json: string }>(
    `SELECT r.seq, r.log_id, r.stored_at, r.record_json
       FROM audit_log_sink_dead_letters d JOIN audit_records r ON r.account_id = ? AND r.seq = d.seq
      WHERE d.sink_id = ? AND d.seq >= ? AND d.seq <= ?
      ORDER BY d.seq LIMIT ?`,
    [accountId, sinkId, fromSeq, toSeq, limit],
  );
  return rows.map((r) => ({ seq: Number(r.seq), logId: r.log_id, storedAt: Number(r.stored_at), recordJson: r.record_json }));
}
