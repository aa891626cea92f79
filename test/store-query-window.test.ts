/**
 * Time-window pages against a brute-force answer, on both engines. SQLite answers a window two
 * ways (the account's rows next to the cursor when they fill the page, else the window's ids from
 * the emit-time index): windows here land on each, paged both ways, with and without another
 * filter, and must give exactly the records a full scan gives, in order. Late arrivals (records
 * stored last with old emit times) put the row next to the cursor inside an old window, or outside
 * a recent one, so the choice of plan is exercised both ways.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createFixture, engines, type StoreFixture } from './helpers/stores.js';
import { makeRecord } from './helpers/records.js';
import { assertEveryPage, matchesFilter } from './helpers/pages.js';
import type { AuditStore, QueryFilter, StoredRecord } from '../src/store/store.js';

const BASE = Date.parse('2026-03-01T00:00:00Z');
const COUNT = 1500;
/** Stored after the others, emitted at seconds 30..59. */
const LATE = 30;

for (const engine of engines()) {
  describe(`time-window pages: ${engine}`, () => {
    let fx: StoreFixture;
    let store: AuditStore;
    let all: StoredRecord[];
    const acct = 'acct-window';
    before(async () => {
      fx = await createFixture(engine);
      store = await fx.open();
      // One record a second; every third an UpdateUser; another account interleaved.
      const records = Array.from({ length: COUNT }, (_, i) =>
        makeRecord({ emit_time: new Date(BASE + i * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'), operation: i % 3 === 0 ? 'UpdateUser' : 'UpdateNamespace' }),
      );
      for (let i = 0; i < COUNT; i += 250) {
        await store.append({ accountId: acct, records: records.slice(i, i + 250), ingestedBy: null });
        await store.append({ accountId: 'acct-window-other', records: [makeRecord({ emit_time: records[i]!.emit_time })], ingestedBy: null });
      }
      const late = Array.from({ length: LATE }, (_, i) =>
        makeRecord({ emit_time: new Date(BASE + (30 + i) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'), operation: 'UpdateUser' }),
      );
      await store.append({ accountId: acct, records: late, ingestedBy: null });
      all = [];
      let page = await store.query({ accountId: acct }, { limit: 1000, order: 'asc' });
      all.push(...page.items);
      while (page.nextCursor) {
        page = await store.query({ accountId: acct }, { limit: 1000, order: 'asc', cursor: page.nextCursor });
        all.push(...page.items);
      }
      assert.equal(all.length, COUNT + LATE);
    });
    after(async () => {
      await store.close();
      await fx.destroy();
    });

    const at = (s: number) => BASE + s * 1000;
    const windows: [string, QueryFilter][] = [
      ['open-ended, holding the newest records', { accountId: acct, sinceMs: at(200) }],
      ['open-ended, after every record', { accountId: acct, sinceMs: at(COUNT + 10) }],
      ['an old window (the newest rows do not fill a page)', { accountId: acct, sinceMs: at(20), untilMs: at(260) }],
      ['a recent window', { accountId: acct, sinceMs: at(1300), untilMs: at(1490) }],
      ['open-ended with an operation', { accountId: acct, sinceMs: at(100), operation: 'UpdateUser' }],
      ['old window with an operation', { accountId: acct, sinceMs: at(10), untilMs: at(400), operation: 'UpdateUser' }],
    ];
    for (const [name, f] of windows) {
      it(`${name}: every page, both orders and back, equals a full scan`, async () => {
        const expectedAsc = all.filter((r) => matchesFilter(f, r)).map((r) => r.id);
        await assertEveryPage(store, f, expectedAsc, name);
      });
    }
  });
}
