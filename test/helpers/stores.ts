/**
 * Runs a suite against every store engine: SQLite in a temp file and the real PostgreSQL on
 * 127.0.0.1:5432 (database `test`) in a fresh schema per store. AUDITSTREAM_TEST_STORES=sqlite
 * (or postgres) narrows the set; TEST_DATABASE_URL points at another PostgreSQL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import pg from 'pg';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import type { AuditStore } from '../../src/store/store.js';

export const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface StoreFixture {
  engine: 'sqlite' | 'postgres';
  /** The DATABASE_URL a server or CLI process would use for this same database. */
  databaseUrl: string;
  /** Opens one more store on the same database (a second "process"). */
  open(): Promise<AuditStore>;
  /** Runs SQL with a raw connection, the way an attacker with database access would. */
  raw(sql: string): Promise<void>;
  /** SQL that lifts the append-only guard (tamper tests simulate an attacker who does this). */
  dropGuards: string;
  /** Removes the database. */
  destroy(): Promise<void>;
}

export function engines(): ('sqlite' | 'postgres')[] {
  const only = process.env.AUDITSTREAM_TEST_STORES;
  const all: ('sqlite' | 'postgres')[] = ['sqlite', 'postgres'];
  return only ? all.filter((e) => only.split(',').includes(e)) : all;
}

export async function createFixture(engine: 'sqlite' | 'postgres'): Promise<StoreFixture> {
  if (engine === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'auditstream-test-'));
    const path = join(dir, 'audit.db');
    return {
      engine,
      databaseUrl: path,
      open: () => SqliteStore.open(path),
      raw: async (sql) => {
        const db = new Database(path);
        try {
          db.exec(sql);
        } finally {
          db.close();
        }
      },
      dropGuards: 'DROP TRIGGER IF EXISTS audit_records_no_update; DROP TRIGGER IF EXISTS audit_records_no_delete;',
      destroy: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const raw = async (sql: string) => {
    const c = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  return {
    engine,
    databaseUrl: `${PG_URL}?schema=${schema}`,
    open: () => PostgresStore.open(PG_URL, { schema }),
    raw,
    dropGuards: 'DROP TRIGGER IF EXISTS audit_records_append_only ON audit_records;',
    destroy: async () => raw(`DROP SCHEMA IF EXISTS ${schema} CASCADE`),
  };
}
