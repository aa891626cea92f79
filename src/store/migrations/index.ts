/**
 * Every schema migration, both dialects side by side, in the order they apply. Each engine runs
 * the ones it has not recorded in `schema_migrations`. Existing migrations never change; a
 * feature adds a file here.
 */
import { m0001 } from './0001_audit_core.js';
import { m0002 } from './0002_control_plane.js';
import { m0003 } from './0003_delivery.js';
import { m0004 } from './0004_operation_resource.js';
import { m0005 } from './0005_login_failures.js';
import { m0006 } from './0006_api_key_ingest_policies.js';
import { m0007 } from './0007_sink_filtered_count.js';
import { m0008 } from './0008_sink_planned_batch.js';
import { m0009 } from './0009_sqlite_filter_table.js';

export interface Migration {
  id: string;
  sqlite: string;
  postgres: string;
}

/**
 * Told before and after each migration applied to a database that holds records (one may take
 * minutes: 0009 copies every record's filter columns on SQLite), so a person waiting on a
 * server that does not answer yet sees why. `ms` is set once it is applied.
 */
export interface MigrationEvent {
  id: string;
  /** Records in the database (on PostgreSQL the planner's estimate; 0, and no event, before its first ANALYZE). */
  records: number;
  ms?: number;
}
export type OnMigration = (event: MigrationEvent) => void;

/** The line a command run by hand prints before and after a migration. */
export function migrationLine(e: MigrationEvent): string {
  return e.ms === undefined
    ? `auditstream: applying migration ${e.id} to ${e.records.toLocaleString('en-US')} records...\n`
    : `auditstream: migration ${e.id} applied in ${(e.ms / 1000).toFixed(1)} s\n`;
}

export const MIGRATIONS: readonly Migration[] = [m0001, m0002, m0003, m0004, m0005, m0006, m0007, m0008, m0009];

/**
 * Applies, in order, the migrations of `engine` that `done` lacks, each with `apply` (its SQL and
 * its schema_migrations row, in the caller's transaction), telling `onMigration` before and after
 * each when the database holds records. `records` is asked once, and only then.
 */
export async function applyPending(
  engine: 'sqlite' | 'postgres',
  done: ReadonlySet<string>,
  apply: (id: string, sql: string) => unknown,
  records: () => number | Promise<number>,
  onMigration?: OnMigration,
): Promise<void> {
  let held: number | undefined;
  for (const m of MIGRATIONS) {
    const sql = m[engine];
    if (done.has(m.id) || !sql) continue;
    if (onMigration && held === undefined) held = done.has(MIGRATIONS[0]!.id) ? await records() : 0;
    const tell = held ? onMigration : undefined;
    tell?.({ id: m.id, records: held! });
    const started = Date.now();
    await apply(m.id, sql);
    tell?.({ id: m.id, records: held!, ms: Date.now() - started });
  }
}
