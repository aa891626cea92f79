/**
 * The read side of the `AuditStore` contract: the same SQL on both engines, so it lives once here
 * (Kysely keeps shared dialect behaviour in a base class the same way). Engines extend it and
 * supply `sql`, a read path that sees committed data only.
 */
import { RECORD_COLUMNS, runPagedQuery, toStoredRecord, type RecordRow } from './query.js';
import type { ChainBody, ChainHead, Checkpoint, Page, PageRequest, QueryFilter, RetentionAnchor, Sql, StoredRecord } from './store.js';

export abstract class StoreReads {
  abstract readonly sql: Sql;
  abstract readonly engine: 'sqlite' | 'postgres';

  query(filter: QueryFilter, page: PageRequest = {}): Promise<Page> {
    return runPagedQuery(filter, page, (text, params) => this.sql.all<RecordRow>(text, params), this.engine);
  }

  async readChain(accountId: string, fromSeq: number, limit: number): Promise<StoredRecord[]> {
    const rows = await this.sql.all<RecordRow>(`SELECT ${RECORD_COLUMNS} FROM audit_records WHERE account_id = ? AND seq >= ? ORDER BY seq LIMIT ?`, [
      accountId,
      fromSeq,
      limit,
    ]);
    return rows.map(toStoredRecord);
  }

  async recordByLogId(accountId: string, logId: string): Promise<StoredRecord | undefined> {
    const row = await this.sql.get<RecordRow>(`SELECT ${RECORD_COLUMNS} FROM audit_records WHERE account_id = ? AND log_id = ?`, [accountId, logId]);
    return row && toStoredRecord(row);
  }

  async readChainBodies(accountId: string, fromSeq: number, limit: number): Promise<ChainBody[]> {
    const rows = await this.sql.all<{ seq: number; log_id: string; stored_at: number; record_json: string }>(
      'SELECT seq, log_id, stored_at, record_json FROM audit_records WHERE account_id = ? AND seq >= ? ORDER BY seq LIMIT ?',
      [accountId, fromSeq, limit],
    );
    return rows.map((r) => ({ seq: Number(r.seq), logId: r.log_id, storedAt: Number(r.stored_at), recordJson: r.record_json }));
  }

  async chainAccounts(): Promise<string[]> {
    // Anchors and checkpoints name accounts too: an account whose records and head were deleted
    // must still be listed, so that verifying it finds the break.
    const rows = await this.sql.all<{ account_id: string }>(
      `SELECT account_id FROM chain_heads UNION SELECT DISTINCT account_id FROM audit_records
       UNION SELECT account_id FROM retention_anchors UNION SELECT DISTINCT account_id FROM checkpoints ORDER BY 1`,
    );
    return rows.map((r) => r.account_id);
  }

  async chainHead(accountId: string): Promise<ChainHead | undefined> {
    const r = await this.sql.get<{ seq: number; hash: string }>('SELECT seq, hash FROM chain_heads WHERE account_id = ?', [accountId]);
    return r && { accountId, seq: Number(r.seq), hash: r.hash };
  }

  async retentionAnchor(accountId: string): Promise<RetentionAnchor | undefined> {
    const r = await this.sql.get<{ seq: number; hash: string }>('SELECT seq, hash FROM retention_anchors WHERE account_id = ?', [accountId]);
    return r && { accountId, seq: Number(r.seq), hash: r.hash };
  }

  async checkpoints(accountId: string): Promise<Checkpoint[]> {
    const rows = await this.sql.all<{ seq: number; hash: string; created_at: number; key_id: string; signature: string }>(
      'SELECT seq, hash, created_at, key_id, signature FROM checkpoints WHERE account_id = ? ORDER BY seq',
      [accountId],
    );
    return rows.map((r) => ({ accountId, seq: Number(r.seq), hash: r.hash, createdAt: Number(r.created_at), keyId: r.key_id, signature: r.signature }));
  }

  async count(accountId?: string): Promise<number> {
    const r = accountId
      ? await this.sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM audit_records WHERE account_id = ?', [accountId])
      : await this.sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM audit_records');
    return Number(r?.n ?? 0);
  }
}
