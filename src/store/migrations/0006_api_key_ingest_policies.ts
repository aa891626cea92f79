/**
 * Per-API-key ingest policies: which operations and categories a key may write through
 * `POST /api/v1/audit-logs`. No row means the default (any operation but the control plane's
 * own, any category). `operations` / `categories` are JSON arrays, NULL for the default.
 */
import type { Migration } from './index.js';

const sql = `
CREATE TABLE api_key_ingest_policies (
  account_id TEXT   NOT NULL,
  key_id     TEXT   NOT NULL,
  operations TEXT,
  categories TEXT,
  updated_ms BIGINT NOT NULL,
  PRIMARY KEY (account_id, key_id)
);
`;

export const m0006: Migration = { id: '0006_api_key_ingest_policies', sqlite: sql, postgres: sql };
