/**
 * SQLite keeps the indexes of the five filters (operation, user_email, principal_id, status,
 * namespace) on a narrow side table filled in bulk after the records commit, not on
 * `audit_records`, whose every insert paid for five scattered index entries: with them a commit
 * dirtied a page per tenant and value, and the driver alone inserted 3.3x fewer rows a second.
 * Queries read the side table up to its mark and the records past it directly
 * (src/store/query.ts, src/store/sqlite/filter-table.ts; docs/decisions/0025-sqlite-filter-table.md).
 * PostgreSQL keeps its indexes: a side table filled the same way made its inserts no faster
 * (bench/index-cost.ts).
 */
import type { Migration } from './index.js';

export const m0009: Migration = {
  id: '0009_sqlite_filter_table',
  sqlite: `
CREATE TABLE audit_filter (
  id           INTEGER PRIMARY KEY,
  account_id   TEXT NOT NULL,
  operation    TEXT NOT NULL,
  user_email   TEXT NOT NULL,
  principal_id TEXT NOT NULL,
  status       TEXT NOT NULL,
  namespace    TEXT
);
INSERT INTO audit_filter SELECT id, account_id, operation, user_email, principal_id, status, namespace FROM audit_records;
-- The newest id copied so far: every record up to it is in audit_filter (retention may since have
-- deleted some from both), none after it.
CREATE TABLE audit_filter_mark (id INTEGER NOT NULL);
INSERT INTO audit_filter_mark (id) SELECT coalesce(max(id), 0) FROM audit_records;
CREATE INDEX audit_filter_operation ON audit_filter (account_id, operation, id);
CREATE INDEX audit_filter_user_email ON audit_filter (account_id, user_email, id);
CREATE INDEX audit_filter_principal ON audit_filter (account_id, principal_id, id);
CREATE INDEX audit_filter_status ON audit_filter (account_id, status, id);
CREATE INDEX audit_filter_namespace ON audit_filter (account_id, namespace, id) WHERE namespace IS NOT NULL;
DROP INDEX audit_records_operation;
DROP INDEX audit_records_user_email;
DROP INDEX audit_records_principal;
DROP INDEX audit_records_status;
DROP INDEX audit_records_namespace;
-- Retention's deletes reach the side table too.
CREATE TRIGGER audit_records_purge_filter AFTER DELETE ON audit_records
BEGIN DELETE FROM audit_filter WHERE id = old.id; END;
`,
  postgres: '',
};
