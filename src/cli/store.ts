/** The store a command works on: `DATABASE_URL`'s, with migrations announced on the command's stderr. */
import type { Config } from '../config.js';
import { migrationLine } from '../store/migrations/index.js';
import { openStore } from '../store/open.js';
import type { AuditStore } from '../store/store.js';
import type { Io } from './main.js';

export function openCommandStore(config: Readonly<Config>, io: Io): Promise<AuditStore> {
  return openStore(config.databaseUrl, (e) => io.err(migrationLine(e)));
}
