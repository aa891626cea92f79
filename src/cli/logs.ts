/** `auditstream logs`: query or export the store directly (an operator tool: no API involved). */
import type { Config } from '../config.js';
import { AuditError } from '../errors.js';
import { openCommandStore } from './store.js';
import { parseFilter } from '../store/filters.js';
import { envelope, exportChunks, iterateRecords, type ExportFormat } from '../store/export.js';
import type { Io } from './main.js';

function optInt(v: unknown, name: string): number | undefined {
  if (v === undefined) return undefined;
  const s = String(v);
  if (!/^\d+$/.test(s)) throw new AuditError('AS_ERR_INVALID_ARGUMENT', `--${name} must be a whole number, got "${s}"`);
  return Number(s);
}

export async function logsCommand(config: Readonly<Config>, opts: Record<string, unknown>, io: Io): Promise<void> {
  const s = (k: string) => (opts[k] === undefined ? undefined : String(opts[k]));
  const filter = parseFilter({
    account: s('account'),
    since: s('since'),
    until: s('until'),
    operation: s('operation'),
    user_email: s('userEmail'),
    principal_id: s('principalId'),
    status: s('status'),
    namespace: s('namespace'),
  });
  const format = (s('format') ?? 'json') as ExportFormat;
  const limit = optInt(opts['limit'], 'limit');
  const order = s('order') ?? 'desc';
  if (order !== 'asc' && order !== 'desc') throw new AuditError('AS_ERR_INVALID_ARGUMENT', '--order must be asc or desc');

  const store = await openCommandStore(config, io);
  try {
    if (opts['all']) {
      if (opts['cursor']) throw new AuditError('AS_ERR_INVALID_ARGUMENT', '--all exports from the start; it takes no --cursor');
      let n = 0;
      let lastReport = Date.now();
      async function* counted() {
        for await (const r of iterateRecords(store, filter, 1000, limit ?? Infinity)) {
          n++;
          if (Date.now() - lastReport > 2000) {
            io.err(`exported ${n} records...\n`);
            lastReport = Date.now();
          }
          yield r;
        }
      }
      for await (const chunk of exportChunks(counted(), format)) await io.out(chunk);
      io.err(`exported ${n} records\n`);
      return;
    }
    const page = await store.query(filter, { order, ...(limit !== undefined ? { limit } : {}), ...(opts['cursor'] ? { cursor: String(opts['cursor']) } : {}) });
    if (format === 'json') {
      await io.out(
        JSON.stringify({ items: page.items.map(envelope), next_cursor: page.nextCursor ?? null, prev_cursor: page.prevCursor ?? null }, null, 2) + '\n',
      );
    } else {
      async function* items() {
        yield* page.items;
      }
      for await (const chunk of exportChunks(items(), format)) await io.out(chunk);
      // Cursors are for the person at the terminal, not part of the data on stdout.
      if (page.nextCursor) io.err(`next page: --cursor ${page.nextCursor}\n`);
      if (page.prevCursor) io.err(`previous page: --cursor ${page.prevCursor}\n`);
    }
  } finally {
    await store.close();
  }
}
