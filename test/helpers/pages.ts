/** Walking a query's pages against a brute-force answer (tests of pagination over filters). */
import assert from 'node:assert/strict';
import type { AuditStore, QueryFilter, StoredRecord } from '../../src/store/store.js';

/** Whether a stored record matches a filter: the full scan pages are compared with. */
export function matchesFilter(f: QueryFilter, r: StoredRecord): boolean {
  return (
    (f.accountId === undefined || r.accountId === f.accountId) &&
    (f.sinceMs === undefined || r.columns.emitMs >= f.sinceMs) &&
    (f.untilMs === undefined || r.columns.emitMs < f.untilMs) &&
    (f.operation === undefined || r.columns.operation === f.operation) &&
    (f.userEmail === undefined || r.columns.userEmail === f.userEmail) &&
    (f.principalId === undefined || r.columns.principalId === f.principalId) &&
    (f.status === undefined || r.columns.status === f.status) &&
    (f.namespace === undefined || r.columns.namespace === f.namespace)
  );
}

/**
 * Every page of `f`, newest and oldest first, 7 and 100 a page, must give exactly `expectedAsc`
 * (ids in ascending order) in page order; and from the last page, the previous-page cursor must
 * give the page before it.
 */
export async function assertEveryPage(store: AuditStore, f: QueryFilter, expectedAsc: number[], label: string): Promise<void> {
  for (const order of ['desc', 'asc'] as const) {
    const expected = order === 'asc' ? expectedAsc : [...expectedAsc].reverse();
    for (const limit of [7, 100]) {
      const walked: number[][] = [];
      let page = await store.query(f, { limit, order });
      walked.push(page.items.map((r) => r.id));
      while (page.nextCursor) {
        page = await store.query(f, { limit, order, cursor: page.nextCursor });
        walked.push(page.items.map((r) => r.id));
      }
      assert.deepEqual(walked.flat(), expected, `${label}, ${order} by ${limit}`);
      if (walked.length > 1 && page.prevCursor) {
        const back = await store.query(f, { limit, order, cursor: page.prevCursor });
        assert.deepEqual(
          back.items.map((r) => r.id),
          walked[walked.length - 2],
          `${label}, ${order} by ${limit}, back`,
        );
      }
    }
  }
}
