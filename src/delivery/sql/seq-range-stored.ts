/**
 * The seq range of an account's records stored in [fromMs, toMs): what a range replay covers.
 * Undefined when none is (still) stored there.
 */
import type { Sql } from '../../store/store.js';

export async function seqRangeStored(sql: Sql, accountId: string, fromMs: number, toMs: number): Promise<{ lo: number; hi: number } | undefined> {
  const r = await sql.get<{ lo: number | null; hi: number | null }>(
    'SELECT MIN(seq) AS lo, MAX(seq) AS hi FROM audit_records WHERE account_id = ? AND stored_at >= ? AND stored_at < ?',
    [accountId, fromMs, toMs],
  );
  return r?.lo == null || r.hi == null ? undefined : { lo: Number(r.lo), hi: Number(r.hi) };
}
