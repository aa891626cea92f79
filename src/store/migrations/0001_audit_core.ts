/** The audit log itself: records, chain heads, retention anchors, checkpoints, append-only guards. */
import type { Migration } from './index.js';

export const m0001: Migration = {
  id: '0001_audit_core',
  sqlite: `
CREATE TABLE audit_records (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  account_id   TEXT    NOT NULL,
  seq          INTEGER NOT NULL,
  log_id       TEXT    NOT NULL,
  stored_at    INTEGER NOT NULL,
  emit_ms      INTEGER NOT NULL,
  operation    TEXT    NOT NULL,
  user_email   TEXT    NOT NULL,
  principal_id TEXT    NOT NULL,
  status       TEXT    NOT NULL,
  namespace    TEXT,
  ingested_by  TEXT,
  prev_hash    TEXT    NOT NULL,
  hash         TEXT    NOT NULL,
  record_json  TEXT    NOT NULL
);
CREATE UNIQUE INDEX audit_records_chain ON audit_records (account_id, seq);
CREATE UNIQUE INDEX audit_records_log_id ON audit_records (account_id, log_id);
CREATE INDEX audit_records_account ON audit_records (account_id, id);
CREATE INDEX audit_records_operation ON audit_records (account_id, operation, id);
CREATE INDEX audit_records_user_email ON audit_records (account_id, user_email, id);
CREATE INDEX audit_records_principal ON audit_records (account_id, principal_id, id);
CREATE INDEX audit_records_status ON audit_records (account_id, status, id);
CREATE INDEX audit_records_namespace ON audit_records (account_id, namespace, id) WHERE namespace IS NOT NULL;
CREATE INDEX audit_records_emit ON audit_records (account_id, emit_ms, id);
CREATE INDEX audit_records_stored_at ON audit_records (stored_at);

CREATE TABLE chain_heads (
  account_id TEXT PRIMARY KEY,
  seq        INTEGER NOT NULL,
  hash       TEXT    NOT NULL
);
CREATE TABLE retention_anchors (
  account_id TEXT PRIMARY KEY,
  seq        INTEGER NOT NULL,
  hash       TEXT    NOT NULL
);
CREATE TABLE checkpoints (
  account_id TEXT    NOT NULL,
  seq        INTEGER NOT NULL,
  hash       TEXT    NOT NULL,
  created_at INTEGER NOT NULL,
  key_id     TEXT    NOT NULL,
  signature  TEXT    NOT NULL,
  PRIMARY KEY (account_id, seq, key_id)
);

-- Guard rails for append-only: no UPDATE ever, DELETE only while retention holds a permit
-- inside its own transaction. (Not a security boundary: whoever can write the file can drop
-- triggers. The hash chain and signed checkpoints are what catch that.)
CREATE TABLE purge_permit (holder TEXT NOT NULL);
CREATE TRIGGER audit_records_no_update BEFORE UPDATE ON audit_records
BEGIN SELECT RAISE(ABORT, 'audit_records is append-only'); END;
CREATE TRIGGER audit_records_no_delete BEFORE DELETE ON audit_records
WHEN NOT EXISTS (SELECT 1 FROM purge_permit)
BEGIN SELECT RAISE(ABORT, 'audit_records: only retention may delete'); END;
`,
  postgres: `
CREATE TABLE audit_records (
  id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account_id   TEXT   NOT NULL,
  seq          BIGINT NOT NULL,
  log_id       TEXT   NOT NULL,
  stored_at    BIGINT NOT NULL,
  emit_ms      BIGINT NOT NULL,
  operation    TEXT   NOT NULL,
  user_email   TEXT   NOT NULL,
  principal_id TEXT   NOT NULL,
  status       TEXT   NOT NULL,
  namespace    TEXT,
  ingested_by  TEXT,
  prev_hash    TEXT   NOT NULL,
  hash         TEXT   NOT NULL,
  record_json  TEXT   NOT NULL
);
CREATE UNIQUE INDEX audit_records_chain ON audit_records (account_id, seq);
CREATE UNIQUE INDEX audit_records_log_id ON audit_records (account_id, log_id);
CREATE INDEX audit_records_account ON audit_records (account_id, id);
CREATE INDEX audit_records_operation ON audit_records (account_id, operation, id);
CREATE INDEX audit_records_user_email ON audit_records (account_id, user_email, id);
CREATE INDEX audit_records_principal ON audit_records (account_id, principal_id, id);
CREATE INDEX audit_records_status ON audit_records (account_id, status, id);
CREATE INDEX audit_records_namespace ON audit_records (account_id, namespace, id) WHERE namespace IS NOT NULL;
CREATE INDEX audit_records_emit ON audit_records (account_id, emit_ms, id);
CREATE INDEX audit_records_stored_at ON audit_records (stored_at);

CREATE TABLE chain_heads (
  account_id TEXT PRIMARY KEY,
  seq        BIGINT NOT NULL,
  hash       TEXT   NOT NULL
);
CREATE TABLE retention_anchors (
  account_id TEXT PRIMARY KEY,
  seq        BIGINT NOT NULL,
  hash       TEXT   NOT NULL
);
CREATE TABLE checkpoints (
  account_id TEXT   NOT NULL,
  seq        BIGINT NOT NULL,
  hash       TEXT   NOT NULL,
  created_at BIGINT NOT NULL,
  key_id     TEXT   NOT NULL,
  signature  TEXT   NOT NULL,
  PRIMARY KEY (account_id, seq, key_id)
);

-- Guard rails for append-only: no UPDATE ever, DELETE only when retention has set
-- auditstream.purge for its own transaction. (The chain and checkpoints catch whoever drops this.)
CREATE FUNCTION audit_records_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('auditstream.purge', true) = 'on' THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'audit_records is append-only (% refused)', TG_OP;
END $$;
CREATE TRIGGER audit_records_append_only BEFORE UPDATE OR DELETE ON audit_records
FOR EACH ROW EXECUTE FUNCTION audit_records_guard();
`,
};
