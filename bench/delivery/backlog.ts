/** Backlogs for the throughput and memory runs: records appended to a store before the engine starts. */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { AuditStore } from '../../src/store/store.js';
import { createSink } from '../../src/control/sinks-service.js';
import { makeRecord } from '../../test/helpers/records.js';
import type { SinkKind } from './results.js';
import { kinesisSpec, pubsubSpec, sleep } from './util.js';

/** Appends `n` fresh records to `accountId` (`batch` per append, `concurrency` in flight); returns the first 1,000 as JSON. */
export async function appendBacklog(store: AuditStore, accountId: string, n: number, batch = 1000, concurrency = 4): Promise<string[]> {
  const json: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const k = Math.min(batch, n - next);
      next += k;
      const records = Array.from({ length: k }, () => makeRecord());
      if (json.length < 1000) for (const r of records) if (json.length < 1000) json.push(JSON.stringify(r));
      await store.append({ accountId, records, ingestedBy: null });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return json;
}

/** The stored JSON of an account's records, in chain order: exactly what the engine sends. */
async function storedJson(store: AuditStore, accountId: string): Promise<string[]> {
  const out: string[] = [];
  for (let from = 1; ;) {
    const page = await store.readChain(accountId, from, 5000);
    for (const r of page) out.push(r.recordJson);
    if (page.length < 5000) return out;
    from = page.at(-1)!.seq + 1;
  }
}

/** A fresh SQLite store in `dir` holding one sink (account `name`, destination `name`) with a backlog of `n` records. */
export async function backlogStore(
  dir: string,
  kind: SinkKind,
  name: string,
  n: number,
  mk: (name: string) => Promise<void>,
): Promise<{ store: AuditStore; json: string[]; dispose: () => Promise<void> }> {
  const dbPath = join(dir, `${name}.db`);
  const store = await SqliteStore.open(dbPath);
  await mk(name);
  await store.transaction((tx) => createSink(tx, name, kind === 'kinesis' ? kinesisSpec(name) : pubsubSpec(name)));
  await appendBacklog(store, name, n);
  const json = await storedJson(store, name);
  if (json.length !== n) throw new Error(`backlog ${name}: ${json.length} records stored, ${n} expected`);
  // A real backlog is older than the flush interval (1 s): a last partial batch goes at once.
  await sleep(1100);
  return {
    store,
    json,
    dispose: async () => {
      await store.close();
      for (const suffix of ['', '-wal', '-shm']) rmSync(dbPath + suffix, { force: true });
    },
  };
}
