/**
 * Delivery state (src/delivery): audit log sinks with their durable cursor, lease and health;
 * dead letters; replays; and each account's ExternalId for the AWS trust policy. The SQL is the
 * same on both engines (INTEGER 0/1 for booleans, BIGINT epoch milliseconds and sequences).
 *
 * Invariants (enforced by src/delivery, stated here because the columns exist for them):
 * - `cursor_seq` is the last seq of the account's chain the destination acknowledged; it only
 *   moves forward, and only in a statement that also matches the holder's `fence`.
 * - `fence` grows by one on every lease claim and on delete, so a process whose lease was taken
 *   over or whose sink was deleted can neither move the cursor nor start another send.
 * - A row in state `deleting` is never claimed; it is removed once its last holder let go.
 */
import type { Migration } from './index.js';

const sql = `
CREATE TABLE audit_log_sinks (
  id                TEXT PRIMARY KEY,
  account_id        TEXT    NOT NULL,
  name              TEXT    NOT NULL,
  kind              TEXT    NOT NULL,
  spec_json         TEXT    NOT NULL,
  enabled           INTEGER NOT NULL,
  state             TEXT    NOT NULL,
  resource_version  TEXT    NOT NULL,
  created_ms        BIGINT  NOT NULL,
  modified_ms       BIGINT  NOT NULL,
  cursor_seq        BIGINT  NOT NULL,
  lease_owner       TEXT,
  lease_expires_ms  BIGINT,
  fence             BIGINT  NOT NULL,
  health            TEXT    NOT NULL,
  error_kind        TEXT,
  error_message     TEXT,
  error_since_ms    BIGINT,
  last_success_ms   BIGINT,
  delivered_count   BIGINT  NOT NULL,
  dead_letter_count BIGINT  NOT NULL,
  expired_count     BIGINT  NOT NULL
);
CREATE UNIQUE INDEX audit_log_sinks_name ON audit_log_sinks (account_id, name);

CREATE TABLE audit_log_sink_dead_letters (
  sink_id    TEXT   NOT NULL,
  seq        BIGINT NOT NULL,
  log_id     TEXT   NOT NULL,
  reason     TEXT   NOT NULL,
  created_ms BIGINT NOT NULL,
  PRIMARY KEY (sink_id, seq)
);

CREATE TABLE audit_log_sink_replays (
  id              TEXT PRIMARY KEY,
  sink_id         TEXT   NOT NULL,
  mode            TEXT   NOT NULL,
  from_ms         BIGINT NOT NULL,
  to_ms           BIGINT NOT NULL,
  from_seq        BIGINT NOT NULL,
  to_seq          BIGINT NOT NULL,
  next_seq        BIGINT NOT NULL,
  delivered_count BIGINT NOT NULL,
  state           TEXT   NOT NULL,
  created_ms      BIGINT NOT NULL,
  finished_ms     BIGINT
);
CREATE INDEX audit_log_sink_replays_sink ON audit_log_sink_replays (sink_id, state, created_ms);

CREATE TABLE account_external_ids (
  account_id  TEXT PRIMARY KEY,
  external_id TEXT   NOT NULL,
  created_ms  BIGINT NOT NULL
);
CREATE UNIQUE INDEX account_external_ids_value ON account_external_ids (external_id);
`;

export const m0003: Migration = { id: '0003_delivery', sqlite: sql, postgres: sql };
