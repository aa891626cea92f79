/**
 * Per-sink filters on every kind, both engines: random records (operation, status, category)
 * through sinks whose filters are random too; each sink receives exactly the records its filter
 * passes, in order; the cursor reaches the head (filtered records advance it without a send) and
 * the status counts what was filtered; a replay skips filtered records too; a filter change is
 * picked up by the running worker.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { createFixture, engines, type StoreFixture } from './helpers/stores.js';
import { makeRecord } from './helpers/records.js';
import { FakeDestination, until } from './helpers/fake-sink.js';
import type { AuditStore } from '../src/store/store.js';
import type { AuditRecord } from '../src/record/record.js';
import { DeliveryEngine } from '../src/delivery/engine.js';
import type { SinkFilter, SinkAdapter } from '../src/delivery/adapter.js';
import type { SinkRow } from '../src/delivery/sql/sink-row.js';
import { recordFilter } from '../src/delivery/filter.js';
import { configureSecretBox, SecretBox } from '../src/sinks/secret-box.js';
import { createSink, replaySink, sinkStatus, updateSink } from '../src/control/sinks-service.js';
import type { AuditLogSinkSpec } from '../src/sinks/spec.js';

const OPS: [string, AuditRecord['category']][] = [
  ['UpdateNamespace', 'LOG_CATEGORY_ADMIN'],
  ['DeleteUser', 'LOG_CATEGORY_ADMIN'],
  ['CreateAPIKey', 'LOG_CATEGORY_ADMIN'],
  ['UserLogin', 'LOG_CATEGORY_ADMIN'],
  ['VerifyAuditLogSink', 'LOG_CATEGORY_SYSTEM'],
];
const pick = <T>(xs: readonly T[]): T => xs[randomInt(xs.length)]!;

function randomRecord(): AuditRecord {
  const [operation, category] = pick(OPS);
  return makeRecord({ operation, category, status: pick(['OK', 'ERROR'] as const) });
}

/** A random filter that can match something (validation refuses one that cannot). */
function randomFilter(): SinkFilter {
  for (;;) {
    const f: SinkFilter = {};
    if (randomInt(2)) f.includeOperations = OPS.filter(() => randomInt(2)).map(([o]) => o);
    if (randomInt(2)) f.excludeOperations = OPS.filter(() => randomInt(3) === 0).map(([o]) => o);
    if (randomInt(2)) f.status = pick(['OK', 'ERROR'] as const);
    if (randomInt(2)) f.categories = [pick(['LOG_CATEGORY_ADMIN', 'LOG_CATEGORY_SYSTEM'] as const)];
    if (f.includeOperations?.length === 0) delete f.includeOperations;
    if (f.excludeOperations?.length === 0) delete f.excludeOperations;
    const candidates = OPS.filter(
      ([o, c]) => (!f.includeOperations || f.includeOperations.includes(o)) && !f.excludeOperations?.includes(o) && (!f.categories || f.categories.includes(c)),
    );
    if (candidates.length > 0 && Object.keys(f).length > 0) return f;
  }
}

const destinationOf: Record<string, (name: string) => Partial<AuditLogSinkSpec>> = {
  kinesis: (name) => ({ kinesisSink: { roleName: 'writer', destinationUri: `arn:aws:kinesis:us-east-1:111122223333:stream/${name}`, region: 'us-east-1' } }),
  pubsub: (name) => ({
    pubSubSink: { serviceAccountId: 'audit-writer@my-project-1.iam.gserviceaccount.com', topicName: `t-${name}`, gcpProjectId: 'my-project-1' },
  }),
  webhook: (name) => ({ webhookSink: { url: `https://receiver.example.com/${name}`, format: 'json', headers: [] } }),
};

for (const engineName of engines()) {
  describe(`sink filters: ${engineName}`, () => {
    let fx: StoreFixture;
    let store: AuditStore;
    let engine: DeliveryEngine;
    const dests = new Map<string, FakeDestination>();
    const dest = (name: string) => {
      if (!dests.has(name)) dests.set(name, new FakeDestination());
      return dests.get(name)!;
    };
    before(async () => {
      configureSecretBox(new SecretBox(randomBytes(32)));
      fx = await createFixture(engineName);
      store = await fx.open();
      // The engine's path is the same for every kind; the fake destination stands for the network.
      engine = new DeliveryEngine({
        store,
        flushIntervalMs: 20,
        idlePollMs: 100,
        scanIntervalMs: 100,
        leaseTtlMs: 5000,
        pageSize: 17,
        backoff: { baseMs: 20, maxMs: 100 },
        createAdapter: (row: SinkRow): SinkAdapter => dest(row.name).adapter(),
      });
      engine.start();
    });
    after(async () => {
      await engine?.stop(2000);
      await store?.close();
      await fx?.destroy();
    });

    const appendRandom = async (account: string, n: number) => {
      const records = Array.from({ length: n }, randomRecord);
      const res = await store.append({ accountId: account, records, ingestedBy: null });
      engine.notify(account);
      return records.map((r, i) => ({ seq: res.sequences[i]!, json: JSON.stringify(r), record: r }));
    };

    for (const kind of Object.keys(destinationOf)) {
      it(`${kind}: exactly the records the filter passes, in order; the cursor reaches the head; status counts the filtered`, async () => {
        const account = `acct-${kind}`;
        const sinks = Array.from({ length: 3 }, (_, i) => ({ name: `${kind}-f${i}`, filter: randomFilter() }));
        for (const s of sinks)
          await store.transaction((tx) =>
            createSink(tx, account, { name: s.name, enabled: true, filter: s.filter, ...destinationOf[kind]!(s.name) } as AuditLogSinkSpec),
          );
        engine.sinksChanged(account);
        const stored = await appendRandom(account, 120);
        for (const s of sinks) {
          const passes = recordFilter(s.filter)!;
          // Independent of the engine's predicate: the filter's meaning spelled out.
          const expected = stored.filter(
            ({ record: r }) =>
              (!s.filter.includeOperations || s.filter.includeOperations.includes(r.operation)) &&
              !s.filter.excludeOperations?.includes(r.operation) &&
              (!s.filter.status || r.status === s.filter.status) &&
              (!s.filter.categories || s.filter.categories.includes(r.category)),
          );
          assert.deepEqual(
            stored.filter((x) => passes(x.json)).map((x) => x.seq),
            expected.map((x) => x.seq),
          );
          await until(async () => (await sinkStatus(store.sql, account, s.name)).backlog === 0, `${s.name} caught up`, 15_000);
          const st = await sinkStatus(store.sql, account, s.name);
          assert.deepEqual(
            dest(s.name).seqs(),
            expected.map((x) => x.seq),
            `${s.name} ${JSON.stringify(s.filter)}`,
          );
          assert.equal(st.cursorSeq, st.headSeq);
          assert.equal(st.filteredCount, stored.length - expected.length);
          assert.equal(st.deliveredCount, expected.length);
        }
      });
    }

    it('a replay skips filtered records; a filter change reaches the running worker', async () => {
      const account = 'acct-replay';
      const filter: SinkFilter = { status: 'ERROR' };
      const stored = await appendRandom(account, 40);
      await store.transaction((tx) =>
        createSink(tx, account, { name: 'errs', enabled: true, filter, ...destinationOf['webhook']!('errs') } as AuditLogSinkSpec),
      );
      engine.sinksChanged(account);
      await store.transaction((tx) => replaySink(tx, account, 'errs', 0, Date.now() + 1));
      engine.sinksChanged(account);
      const errors = stored.filter((x) => x.record.status === 'ERROR').map((x) => x.seq);
      await until(async () => (await sinkStatus(store.sql, account, 'errs')).replays.every((r) => r.state === 'done'), 'replay done', 15_000);
      assert.deepEqual(dest('errs').seqs(), errors);
      // Now only OK records.
      await store.transaction((tx) =>
        updateSink(tx, account, { name: 'errs', enabled: true, filter: { status: 'OK' }, ...destinationOf['webhook']!('errs') } as AuditLogSinkSpec, ''),
      );
      engine.sinksChanged(account);
      const more = await appendRandom(account, 30);
      await until(async () => (await sinkStatus(store.sql, account, 'errs')).backlog === 0, 'caught up', 15_000);
      await until(() => dest('errs').seqs().length >= errors.length + more.filter((x) => x.record.status === 'OK').length, 'delivered');
      assert.deepEqual(
        dest('errs').seqs().slice(errors.length),
        more.filter((x) => x.record.status === 'OK').map((x) => x.seq),
      );
    });
  });
}
