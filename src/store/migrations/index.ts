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
