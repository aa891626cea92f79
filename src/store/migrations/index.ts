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

export const MIGRATIONS: readonly Migration[] = [m0001, m0002, m0003, m0004, m0005, m0006, m0007, m0008, m0009];
