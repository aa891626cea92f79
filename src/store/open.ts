/**
 * Opens the store `DATABASE_URL` names: `postgres://...` (or `postgresql://`) for PostgreSQL,
 * `sqlite:PATH` or a bare file path for SQLite. A `schema` query parameter on a PostgreSQL URL
 * picks the schema (default `public`); it is taken off before the URL reaches the driver.
 */
import { AuditError } from '../errors.js';
import { DEFAULT_DATABASE_URL } from '../config.js';
import type { AuditStore } from './store.js';
import type { OnMigration } from './migrations/index.js';

export type StoreLocation = { engine: 'sqlite'; path: string } | { engine: 'postgres'; url: string; schema?: string };

export function parseDatabaseUrl(url: string): StoreLocation {
  if (/^postgres(ql)?:\/\//i.test(url)) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new AuditError('AS_ERR_INVALID_ARGUMENT', 'DATABASE_URL is not a valid postgres:// URL');
    }
    const schema = parsed.searchParams.get('schema') ?? undefined;
    parsed.searchParams.delete('schema');
    return schema ? { engine: 'postgres', url: parsed.toString(), schema } : { engine: 'postgres', url: parsed.toString() };
  }
  const path = url.startsWith('sqlite:') ? url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '') : url;
  if (path === '' || /^[a-z][a-z0-9+.-]*:\/\//i.test(path)) {
    throw new AuditError('AS_ERR_INVALID_ARGUMENT', `DATABASE_URL "${url}" is neither postgres://... nor a SQLite file path`);
  }
  return { engine: 'sqlite', path };
}

/**
 * `onMigration` hears of each migration applied to a database with records: commands print
 * `migrationLine`, the server logs it.
 */
export async function openStore(url: string = DEFAULT_DATABASE_URL, onMigration?: OnMigration): Promise<AuditStore> {
  const loc = parseDatabaseUrl(url);
  // Only the engine in use loads its driver: a CLI command on SQLite never loads `pg`, and the
  // reverse.
  const told = onMigration ? { onMigration } : {};
  if (loc.engine === 'sqlite') return (await import('./sqlite/sqlite-store.js')).SqliteStore.open(loc.path, told);
  return (await import('./postgres/postgres-store.js')).PostgresStore.open(loc.url, { ...(loc.schema ? { schema: loc.schema } : {}), ...told });
}
