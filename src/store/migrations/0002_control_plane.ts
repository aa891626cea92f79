/**
 * The control plane's state: accounts, users (and invitations), namespaces, API keys, the async
 * operations that make mutations idempotent, and browser sessions. The SQL is the same on both
 * engines. Times are epoch milliseconds; specs the API does not query by are JSON text.
 */
import type { Migration } from './index.js';

const sql = `
CREATE TABLE accounts (
  id               TEXT PRIMARY KEY,
  name             TEXT   NOT NULL,
  spec_json        TEXT   NOT NULL,
  resource_version TEXT   NOT NULL,
  created_ms       BIGINT NOT NULL,
  modified_ms      BIGINT NOT NULL
);

CREATE TABLE users (
  id                    TEXT PRIMARY KEY,
  account_id            TEXT   NOT NULL,
  email                 TEXT   NOT NULL,
  role                  TEXT   NOT NULL,
  namespace_access_json TEXT   NOT NULL,
  password_hash         TEXT,
  invite_token_hash     TEXT,
  invite_created_ms     BIGINT,
  invite_expires_ms     BIGINT,
  resource_version      TEXT   NOT NULL,
  async_operation_id    TEXT   NOT NULL,
  created_ms            BIGINT NOT NULL,
  modified_ms           BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_account_email ON users (account_id, email);
CREATE INDEX users_email ON users (email);
CREATE UNIQUE INDEX users_invite_token ON users (invite_token_hash);

CREATE TABLE namespaces (
  namespace          TEXT PRIMARY KEY,
  account_id         TEXT   NOT NULL,
  spec_json          TEXT   NOT NULL,
  tags_json          TEXT   NOT NULL,
  active_region      TEXT   NOT NULL,
  resource_version   TEXT   NOT NULL,
  async_operation_id TEXT   NOT NULL,
  created_ms         BIGINT NOT NULL,
  modified_ms        BIGINT NOT NULL
);
CREATE INDEX namespaces_account ON namespaces (account_id, namespace);

CREATE TABLE api_keys (
  id                 TEXT PRIMARY KEY,
  account_id         TEXT    NOT NULL,
  owner_id           TEXT    NOT NULL,
  owner_type         TEXT    NOT NULL,
  display_name       TEXT    NOT NULL,
  description        TEXT    NOT NULL,
  expiry_ms          BIGINT,
  disabled           INTEGER NOT NULL,
  secret_hash        TEXT    NOT NULL,
  resource_version   TEXT    NOT NULL,
  async_operation_id TEXT    NOT NULL,
  created_ms         BIGINT  NOT NULL,
  modified_ms        BIGINT  NOT NULL
);
CREATE INDEX api_keys_account ON api_keys (account_id, id);
CREATE INDEX api_keys_owner ON api_keys (owner_id);

-- One row per mutation, keyed by the caller's async_operation_id (or a generated one): a retry
-- with the same id gets the stored response and changes nothing.
CREATE TABLE async_operations (
  account_id     TEXT   NOT NULL,
  id             TEXT   NOT NULL,
  operation_type TEXT   NOT NULL,
  fingerprint    TEXT   NOT NULL,
  state          TEXT   NOT NULL,
  failure_reason TEXT   NOT NULL,
  response_json  TEXT   NOT NULL,
  started_ms     BIGINT NOT NULL,
  finished_ms    BIGINT,
  PRIMARY KEY (account_id, id)
);

CREATE TABLE sessions (
  token_hash   TEXT PRIMARY KEY,
  user_id      TEXT   NOT NULL,
  account_id   TEXT   NOT NULL,
  csrf_token   TEXT   NOT NULL,
  created_ms   BIGINT NOT NULL,
  last_seen_ms BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
`;

export const m0002: Migration = { id: '0002_control_plane', sqlite: sql, postgres: sql };
