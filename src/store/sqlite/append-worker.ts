/**
 * The SQLite store's group commits, run in a worker thread (see appender.ts) on a write
 * connection of its own: the chain code (canonical JSON, hashes, stored text), the inserts and
 * the commit's fsync no longer run on the event loop that serves requests.
 *
 * Messages in: `{ id, batches, now }` (one group commit) and `'close'`. Out: `{ id, outcomes }`
 * or `{ id, thrown }` (nothing committed), and `'closed'`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { appendBatches } from '../chain-append.js';
import type { AppendBatch } from '../store.js';
import { openWriter, sqliteChainOps } from './sqlite-store.js';
import { toWire, type FlushRequest } from './appender.js';
import { FILL_EVERY_MS, FilterFill } from './filter-table.js';

const { path, autocheckpoint } = workerData as { path: string; autocheckpoint: number };
const port = parentPort!;
const w = openWriter(path);
w.pragma(`wal_autocheckpoint = ${autocheckpoint}`);
const ops = sqliteChainOps(w);
const filters = new FilterFill(w);
// Records other writers add (control-plane transactions, other processes) get filled too.
const ticker = setInterval(() => filters.tick(), FILL_EVERY_MS);
ticker.unref();

async function commit(batches: AppendBatch[], now: number) {
  w.exec('BEGIN IMMEDIATE');
  try {
    const outcomes = await appendBatches(ops, batches, now);
    w.exec('COMMIT');
    return outcomes;
  } catch (err) {
    if (w.inTransaction) w.exec('ROLLBACK');
    throw err;
  }
}

port.on('message', (msg: FlushRequest | 'close') => {
  if (msg === 'close') {
    clearInterval(ticker);
    w.close();
    port.postMessage('closed');
    port.close();
    return;
  }
  commit(msg.batches, msg.now).then(
    (outcomes) => {
      port.postMessage({ id: msg.id, outcomes: outcomes.map((o) => (o.ok ? o : { ok: false, error: toWire(o.error) })) });
      // After the acknowledgement: the commit is durable, its callers need not wait for a fill.
      filters.appended(msg.batches.reduce((n, b) => n + b.records.length, 0));
    },
    (err: unknown) => port.postMessage({ id: msg.id, thrown: toWire(err) }),
  );
});
