/**
 * Failed logins, for the login rate limit (docs/decisions/0008: per email and per IP). In the database
 * rather than in memory so that every auditstream process behind one load balancer counts the
 * same failures. Rows older than the window are removed as new failures arrive.
 */
import type { Migration } from './index.js';

const sql = `
CREATE TABLE login_failures (
  rate_key TEXT   NOT NULL,
  at_ms    BIGINT NOT NULL
);
CREATE INDEX login_failures_key ON login_failures (rate_key, at_ms);
CREATE INDEX login_failures_at ON login_failures (at_ms);
`;

export const m0005: Migration = { id: '0005_login_failures', sqlite: sql, postgres: sql };
