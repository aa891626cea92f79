/**
 * SQLite's filter indexes live on the side table `audit_filter`, filled in bulk after records
 * commit (src/store/sqlite/filter-table.ts). A filtered page must be exact however far the fill
 * has got: here the side table is cut back to none, some and all of the records (the states a
 * lagging fill leaves), and every page of each filter, in both orders and back, must equal a full
 * scan. Retention's deletes must reach the side table; fills must copy each record once.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { FilterFill } from '../src/store/sqlite/filter-table.js';
import { planPage } from '../src/store/query.js';
import { createFixture, type StoreFixture } from './helpers/stores.js';
import { makeRecord } from './helpers/records.js';
import { assertEveryPage, matchesFilter } from './helpers/pages.js';
import { runCli, startServe, stopServe, type ServeHandle } from './helpers/cli.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyAccount } from '../src/chain/verify.js';
import { generateKeyPairSync } from 'node:crypto';
import { checkpointAll, keyIdOf, type Signer } from '../src/chain/checkpoint.js';
import { retentionRound } from '../src/retention/jobs.js';
import { createLogger } from '../src/log.js';
import { DAY_MS } from './helpers/retention.js';
import { openStore } from '../src/store/open.js';
import type { MigrationEvent } from '../src/store/migrations/index.js';
import type { AuditStore, QueryFilter, StoredRecord } from '../src/store/store.js';

/** Records stored, rows in the side table and its mark, read from the file on a connection of its own. */
function sideTableState(path: string): { records: number; side: number; mark: number } {
  const d = new Database(path);
  try {
    return d
      .prepare(
        'SELECT (SELECT count(*) FROM audit_records) AS records, (SELECT count(*) FROM audit_filter) AS side, (SELECT id FROM audit_filter_mark) AS mark',
      )
      .get() as { records: number; side: number; mark: number };
  } finally {
    d.close();
  }
}

/** The state once the side table holds every record, or when `ms` have gone by. */
async function filledWithin(path: string, ms: number): Promise<{ records: number; side: number; mark: number }> {
  const deadline = Date.now() + ms;
  let r = sideTableState(path);
  while (r.side < r.records && Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 100));
    r = sideTableState(path);
  }
  return r;
}

/** Opens and closes the store at `url`, and returns what it told of migrations meanwhile. */
async function migrationEventsOf(url: string): Promise<MigrationEvent[]> {
  const events: MigrationEvent[] = [];
  await (await openStore(url, (e) => events.push(e))).close();
  return events;
}

/** Exactly one migration told: before, with the records held, and after, with its time. */
function assertToldOnce(events: readonly MigrationEvent[], id: string, records: number): void {
  assert.equal(events.length, 2, JSON.stringify(events));
  assert.deepEqual({ ...events[0] }, { id, records });
  assert.equal(events[1]!.id, id);
  assert.equal(typeof events[1]!.ms, 'number');
}

const OPS = ['UpdateUser', 'CreateNamespace', 'UserLogin', 'DeleteUser'];
const ACCT = 'acct-filter';

describe('filter side table (SQLite)', () => {
  let fx: StoreFixture;
  let path: string;
  let store: AuditStore;
  let all: StoredRecord[];
  before(async () => {
    fx = await createFixture('sqlite');
    path = fx.databaseUrl;
    // No append worker and no fill timer: they would fill the side table while the test sets it.
    store = await SqliteStore.open(path, { appendInWorker: false, fillOnTimer: false });
    for (let i = 0; i < 12; i++) {
      const records = Array.from({ length: 50 }, (_, k) => {
        const n = i * 50 + k;
        return makeRecord({
          operation: OPS[n % OPS.length]!,
          status: n % 9 === 0 ? 'ERROR' : 'OK',
          details: n % 3 === 0 ? { namespace: `ns-${n % 2}`, search_attribute_update: {} } : { search_attribute_update: {} },
        });
      });
      await store.append({ accountId: ACCT, records, ingestedBy: null });
      await store.append({ accountId: 'acct-filter-other', records: [makeRecord({ operation: 'UpdateUser' })], ingestedBy: null });
    }
    all = [];
    let page = await store.query({ accountId: ACCT }, { limit: 1000, order: 'asc' });
    all.push(...page.items);
    while (page.nextCursor) {
      page = await store.query({ accountId: ACCT }, { limit: 1000, order: 'asc', cursor: page.nextCursor });
      all.push(...page.items);
    }
    assert.equal(all.length, 600);
  });
  after(async () => {
    await store.close();
    await fx.destroy();
  });

  /** Leaves the side table holding exactly the records with id <= `upTo` (a fill that lags). */
  function cutSideTable(upTo: number): void {
    const d = new Database(path);
    try {
      d.exec('DELETE FROM audit_filter');
      d.prepare('INSERT INTO audit_filter SELECT id, account_id, operation, user_email, principal_id, status, namespace FROM audit_records WHERE id <= ?').run(
        upTo,
      );
      d.prepare('UPDATE audit_filter_mark SET id = ?').run(upTo);
    } finally {
      d.close();
    }
  }

  const filters: [string, QueryFilter][] = [
    ['operation', { accountId: ACCT, operation: 'UpdateUser' }],
    ['status=ERROR', { accountId: ACCT, status: 'ERROR' }],
    ['user_email', { accountId: ACCT, userEmail: 'user3@example.com' }],
    ['principal_id', { accountId: ACCT, principalId: 'p-2' }],
    ['namespace', { accountId: ACCT, namespace: 'ns-1' }],
    ['operation + status', { accountId: ACCT, operation: 'CreateNamespace', status: 'ERROR' }],
    ['a value no record has', { accountId: ACCT, operation: 'NoSuchOperation' }],
  ];
  for (const share of [0, 0.37, 0.8, 1]) {
    it(`side table holding ${share * 100} % of the records: every filtered page equals a full scan`, async () => {
      const upTo = share === 0 ? 0 : share === 1 ? all[all.length - 1]!.id : all[Math.floor(all.length * share)]!.id;
      cutSideTable(upTo);
      for (const [name, f] of filters) {
        const expectedAsc = all.filter((r) => matchesFilter(f, r)).map((r) => r.id);
        if (name !== 'a value no record has') assert.ok(expectedAsc.length > 0, `${name}: the fixture has matches`);
        await assertEveryPage(store, f, expectedAsc, name);
      }
    });
  }

  it('a fill copies each record once, and only records past the newest it holds', () => {
    cutSideTable(all[100]!.id);
    const d = new Database(path);
    try {
      const fill = new FilterFill(d);
      fill.fill();
      fill.fill();
      const side = d.prepare('SELECT count(*) AS n, count(DISTINCT id) AS d FROM audit_filter').get() as { n: number; d: number };
      const records = d.prepare('SELECT count(*) AS n FROM audit_records').get() as { n: number };
      assert.equal(side.n, records.n);
      assert.equal(side.d, records.n);
      const differ = d
        .prepare(
          `SELECT count(*) AS n FROM audit_records r JOIN audit_filter f USING (id)
           WHERE r.account_id IS NOT f.account_id OR r.operation IS NOT f.operation OR r.user_email IS NOT f.user_email
              OR r.principal_id IS NOT f.principal_id OR r.status IS NOT f.status OR r.namespace IS NOT f.namespace`,
        )
        .get() as { n: number };
      assert.equal(differ.n, 0);
    } finally {
      d.close();
    }
  });

  it('a mark moved back is filled again from there, overwriting the copies it finds', () => {
    const d = new Database(path);
    try {
      const fill = new FilterFill(d);
      fill.fillAll();
      const victim = all[5]!.id;
      d.prepare("UPDATE audit_filter SET operation = 'Harmless' WHERE id = ?").run(victim);
      d.exec('UPDATE audit_filter_mark SET id = 0');
      fill.fillAll();
      const copy = d.prepare('SELECT operation FROM audit_filter WHERE id = ?').get(victim) as { operation: string };
      assert.equal(copy.operation, all[5]!.columns.operation);
      const side = d.prepare('SELECT count(*) AS n FROM audit_filter').get() as { n: number };
      const records = d.prepare('SELECT count(*) AS n FROM audit_records').get() as { n: number };
      assert.equal(side.n, records.n);
    } finally {
      d.close();
    }
  });

  it("retention's deletes remove the records' filter rows, the newest filled one included, and fills go on", async () => {
    const d = new Database(path);
    try {
      new FilterFill(d).fill();
      // The oldest record, and the newest one filled (another account's record sits below it).
      const newest = (d.prepare('SELECT max(id) AS m FROM audit_records').get() as { m: number }).m;
      d.exec("INSERT INTO purge_permit (holder) VALUES ('test')");
      d.prepare('DELETE FROM audit_records WHERE id IN (?, ?)').run(all[0]!.id, newest);
      d.exec('DELETE FROM purge_permit');
      const left = d.prepare('SELECT count(*) AS n FROM audit_filter WHERE id IN (?, ?)').get(all[0]!.id, newest) as { n: number };
      assert.equal(left.n, 0);
    } finally {
      d.close();
    }
    all = all.filter((r) => r.id !== all[0]!.id);
    // New records after that: a fill copies them alone (no record twice), and pages stay exact.
    await store.append({ accountId: ACCT, records: [makeRecord({ operation: 'UpdateUser' })], ingestedBy: null });
    const d2 = new Database(path);
    try {
      new FilterFill(d2).fill();
      const dup = d2.prepare('SELECT count(*) AS n FROM (SELECT id FROM audit_filter GROUP BY id HAVING count(*) > 1)').get() as { n: number };
      assert.equal(dup.n, 0);
      const missing = d2.prepare('SELECT count(*) AS n FROM audit_records WHERE id NOT IN (SELECT id FROM audit_filter)').get() as { n: number };
      assert.equal(missing.n, 0);
    } finally {
      d2.close();
    }
    const page = await store.query({ accountId: ACCT, operation: 'UpdateUser' }, { limit: 1000 });
    const ids = page.items.map((r) => r.id);
    assert.equal(new Set(ids).size, ids.length);
    assert.equal(ids.length, all.filter((r) => r.columns.operation === 'UpdateUser').length + 1);
  });

  it('an edited side-table row cannot show a record to a filter it does not match', async () => {
    const d = new Database(path);
    try {
      new FilterFill(d).fill();
      // Another account's record, relabelled in the side table as this account's DeleteUser.
      const other = d.prepare("SELECT id FROM audit_records WHERE account_id = 'acct-filter-other' LIMIT 1").get() as { id: number };
      d.prepare("UPDATE audit_filter SET account_id = ?, operation = 'DeleteUser' WHERE id = ?").run(ACCT, other.id);
    } finally {
      d.close();
    }
    const page = await store.query({ accountId: ACCT, operation: 'DeleteUser' }, { limit: 1000 });
    assert.ok(page.items.length > 0);
    for (const r of page.items) {
      assert.equal(r.accountId, ACCT);
      assert.equal(r.columns.operation, 'DeleteUser');
    }
  });

  it('a filtered page reads the side index, not the whole account', async () => {
    const plan = planPage({ accountId: ACCT, operation: 'UpdateUser' }, { ascending: false, limit: 100 }, 'sqlite');
    const rows = await store.sql.all<{ detail: string }>(`EXPLAIN QUERY PLAN ${plan.main.sql}`, plan.main.params);
    const text = rows.map((r) => r.detail).join('; ');
    assert.match(text, /audit_filter_operation/, text);
    // The records past the side table come from the account's id index, from its newest id on.
    assert.match(text, /audit_records_account \(account_id=\? AND rowid>\?\)|audit_records_account \(account_id=\? AND id>\?\)/, text);
  });
});

describe('filter side table fills (SQLite, append worker running)', () => {
  let fx: StoreFixture;
  let store: AuditStore;
  before(async () => {
    fx = await createFixture('sqlite');
    store = await fx.open();
  });
  after(async () => {
    await store.close();
    await fx.destroy();
  });

  it('records appended and written by transactions reach the side table within a few seconds, with no later append', async () => {
    await store.append({ accountId: 'acct-fill', records: [makeRecord(), makeRecord()], ingestedBy: null });
    await store.transaction(async (tx) => {
      await tx.append({ accountId: 'acct-fill', records: [makeRecord({ operation: 'CreateNamespace' })], ingestedBy: null });
    });
    const r = await filledWithin(fx.databaseUrl, 5000);
    assert.equal(r.records, 3);
    assert.equal(r.side, 3);
  });

  it('without the append worker, the store fills on the same schedule (records of transactions too)', async () => {
    const own = await createFixture('sqlite');
    const alone = await SqliteStore.open(own.databaseUrl, { appendInWorker: false });
    try {
      await alone.transaction(async (tx) => {
        await tx.append({ accountId: 'acct-alone', records: [makeRecord(), makeRecord({ operation: 'CreateNamespace' })], ingestedBy: null });
      });
      const r = await filledWithin(own.databaseUrl, 5000);
      assert.equal(r.records, 2);
      assert.equal(r.side, 2);
    } finally {
      await alone.close();
      await own.destroy();
    }
  });

  it('when the append worker dies, the store takes over the fills (appends and transactions)', async () => {
    const own = await createFixture('sqlite');
    const s = await SqliteStore.open(own.databaseUrl);
    try {
      await s.append({ accountId: 'acct-died', records: [makeRecord()], ingestedBy: null });
      // A crash of the worker thread, from outside: nothing in the store's API stops it.
      const appender = (s as unknown as { appender: { alive: boolean; worker: { terminate(): Promise<number> } } }).appender;
      await appender.worker.terminate();
      for (const end = Date.now() + 5000; appender.alive && Date.now() < end;) await new Promise((r) => setTimeout(r, 20));
      assert.equal(appender.alive, false, 'the store saw the worker stop');
      await s.append({ accountId: 'acct-died', records: [makeRecord()], ingestedBy: null });
      await s.transaction(async (tx) => {
        await tx.append({ accountId: 'acct-died', records: [makeRecord({ operation: 'CreateNamespace' })], ingestedBy: null });
      });
      const r = await filledWithin(own.databaseUrl, 5000);
      assert.equal(r.records, 3);
      assert.equal(r.side, 3);
      const page = await s.query({ accountId: 'acct-died', operation: 'CreateNamespace' }, { limit: 10 });
      assert.equal(page.items.length, 1);
    } finally {
      await s.close();
      await own.destroy();
    }
  });

  it('a large backlog is copied in chunks, each fill at most 20,000 records, and completely', async () => {
    // A database of its own with no store open: no fill runs but the ones below.
    const bulk = await createFixture('sqlite');
    await (await bulk.open()).close();
    const filled = () => sideTableState(bulk.databaseUrl);
    const d = new Database(bulk.databaseUrl);
    try {
      d.pragma('busy_timeout = 10000');
      const before = filled();
      const insert = d.prepare(
        "INSERT INTO audit_records (account_id, seq, log_id, stored_at, emit_ms, operation, user_email, principal_id, status, namespace, ingested_by, prev_hash, hash, record_json) VALUES ('acct-bulk', ?, ?, 0, 0, 'UpdateUser', 'u@example.com', 'p', 'OK', NULL, NULL, '', '', '{}')",
      );
      d.transaction(() => {
        for (let i = 1; i <= 25_000; i++) insert.run(i, `bulk${String(i).padStart(28, '0')}`);
      })();
      const fill = new FilterFill(d);
      fill.fill();
      const once = filled();
      assert.ok(once.side - before.side <= 20_000, `one fill copied ${once.side - before.side}`);
      // Records are left past the mark: the next commit's check fills again, with no wait.
      fill.appended(0);
      const twice = filled();
      assert.ok(twice.side > once.side, 'a second chunk after the next commit');
      fill.fill();
      const done = filled();
      assert.equal(done.side, done.records);
      const max = (d.prepare('SELECT max(id) AS m FROM audit_records').get() as { m: number }).m;
      assert.equal(done.mark, max);
    } finally {
      d.close();
      await bulk.destroy();
    }
  });
});

describe('verify compares the filter side table with the records (SQLite)', () => {
  const VERIFY_ACCT = 'acct-copies';
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const signer: Signer = { keyId: keyIdOf(publicKey), privateKey, publicKey };
  const trustedKeys = new Map([[signer.keyId, publicKey]]);
  let fx: StoreFixture;
  let store: AuditStore;
  let ids: Map<number, number>;
  before(async () => {
    fx = await createFixture('sqlite');
    store = await SqliteStore.open(fx.databaseUrl, { appendInWorker: false, fillOnTimer: false });
    const records = Array.from({ length: 40 }, (_, n) =>
      makeRecord({
        operation: OPS[n % OPS.length]!,
        status: n % 5 === 0 ? 'ERROR' : 'OK',
        details: n % 2 === 0 ? { namespace: `ns-${n % 3}`, search_attribute_update: {} } : { search_attribute_update: {} },
      }),
    );
    await store.append({ accountId: VERIFY_ACCT, records, ingestedBy: null });
    await store.append({ accountId: 'acct-copies-other', records: [makeRecord()], ingestedBy: null });
    const d = new Database(fx.databaseUrl);
    try {
      ids = new Map(
        (d.prepare('SELECT seq, id FROM audit_records WHERE account_id = ?').all(VERIFY_ACCT) as { seq: number; id: number }[]).map((r) => [r.seq, r.id]),
      );
    } finally {
      d.close();
    }
  });
  after(async () => {
    await store.close();
    await fx.destroy();
  });

  /** Runs one statement on the database file, as whoever can write it could. */
  function raw(sql: string, ...params: unknown[]): void {
    const d = new Database(fx.databaseUrl);
    try {
      d.prepare(sql).run(...params);
    } finally {
      d.close();
    }
  }
  /** Copies every record into the side table afresh, then applies `edit` to it. */
  function rebuildThen(edit: string, ...params: unknown[]): void {
    raw('DELETE FROM audit_filter');
    raw('UPDATE audit_filter_mark SET id = 0');
    const d = new Database(fx.databaseUrl);
    try {
      new FilterFill(d).fillAll();
    } finally {
      d.close();
    }
    if (edit) raw(edit, ...params);
  }
  // Pages of 16: the edits land on both sides of each page edge.
  const verify = () => verifyAccount(store, VERIFY_ACCT, { trustedKeys, pageSize: 16 });

  it('a side table that holds exact copies verifies, filled or not', async () => {
    rebuildThen('');
    assert.equal((await verify()).ok, true);
    rebuildThen('UPDATE audit_filter_mark SET id = ?', ids.get(20)!);
    raw('DELETE FROM audit_filter WHERE id > ?', ids.get(20)!);
    assert.equal((await verify()).ok, true, 'records past the mark have no copy yet, rightly');
  });

  // Every column a filter reads, each edited, and the row deleted, at the first and last record
  // and both sides of each page edge: verify names that record and what differs.
  const edits: [string, string, RegExp][] = [
    ['deleted', 'DELETE FROM audit_filter WHERE id = ?', /copy of this record is missing/],
    ['account_id', "UPDATE audit_filter SET account_id = 'acct-copies-other' WHERE id = ?", /differs in account_id,/],
    ['operation', "UPDATE audit_filter SET operation = 'Harmless' WHERE id = ?", /differs in operation,/],
    ['user_email', "UPDATE audit_filter SET user_email = 'someone@else.example' WHERE id = ?", /differs in user_email,/],
    ['principal_id', "UPDATE audit_filter SET principal_id = 'p-other' WHERE id = ?", /differs in principal_id,/],
    ['status', "UPDATE audit_filter SET status = CASE status WHEN 'OK' THEN 'ERROR' ELSE 'OK' END WHERE id = ?", /differs in status,/],
    ['namespace', "UPDATE audit_filter SET namespace = CASE WHEN namespace IS NULL THEN 'ns-x' ELSE NULL END WHERE id = ?", /differs in namespace,/],
  ];
  for (const [what, sql, reason] of edits) {
    it(`an edited copy (${what}) is reported at its record`, async () => {
      for (const seq of [1, 16, 17, 32, 33, 40]) {
        rebuildThen(sql, ids.get(seq)!);
        const report = await verify();
        assert.equal(report.ok, false, `${what} at seq ${seq}`);
        assert.equal(report.break!.seq, seq, report.break!.reason);
        assert.match(report.break!.reason, reason);
        assert.match(report.break!.reason, /the records and their chain verify/);
        assert.equal(report.break!.kind, 'search-index');
      }
    });
  }

  it('a bad copy never hides a break of the chain: the break is reported', async () => {
    rebuildThen("UPDATE audit_filter SET operation = 'Harmless' WHERE id = ?", ids.get(2)!);
    raw('DROP TRIGGER IF EXISTS audit_records_no_update');
    raw('UPDATE audit_records SET record_json = replace(record_json, \'"status":"OK"\', \'"status":"ERROR"\') WHERE id = ?', ids.get(30)!);
    try {
      const report = await verify();
      assert.equal(report.break?.seq, 30, report.break?.reason);
      assert.match(report.break!.reason, /hash does not match/);
      assert.equal(report.break!.kind, 'chain');
    } finally {
      raw('UPDATE audit_records SET record_json = replace(record_json, \'"status":"ERROR"\', \'"status":"OK"\') WHERE id = ?', ids.get(30)!);
    }
    rebuildThen('');
    assert.equal((await verify()).ok, true, 'the chain is whole again');
  });

  it('auditstream verify exits 1 and names the record', async () => {
    rebuildThen("UPDATE audit_filter SET operation = 'Harmless' WHERE id = ?", ids.get(7)!);
    const res = await runCli(['verify', '--account', VERIFY_ACCT], { DATABASE_URL: fx.databaseUrl });
    assert.equal(res.code, 1, res.stderr);
    assert.match(res.stderr, /INDEX {3}acct-copies: at seq 7: the search index's copy of this record differs in operation/);
    assert.match(res.stderr, /auditstream: the search index of acct-copies differs from its records at seq 7/);
    assert.doesNotMatch(res.stderr, /chain of acct-copies is broken/);
    const json = await runCli(['verify', '--account', VERIFY_ACCT, '--json'], { DATABASE_URL: fx.databaseUrl });
    assert.equal(json.code, 1, json.stderr);
    const [report] = JSON.parse(json.stdout) as { ok: boolean; break: { seq: number; kind: string } }[];
    assert.deepEqual([report!.ok, report!.break.seq, report!.break.kind], [false, 7, 'search-index']);
    rebuildThen('');
    const ok = await runCli(['verify', '--account', VERIFY_ACCT], { DATABASE_URL: fx.databaseUrl });
    assert.equal(ok.code, 0, ok.stderr);
  });

  it('after a real retention purge (its trigger removes the copies), the filled side table verifies', async () => {
    // Everything so far was stored and checkpointed two days ago; retention is one day.
    await checkpointAll(store, signer, Date.now() - 2 * DAY_MS);
    raw('DROP TRIGGER IF EXISTS audit_records_no_update');
    raw(`UPDATE audit_records SET stored_at = stored_at - ${2 * DAY_MS}`);
    await store.append({ accountId: VERIFY_ACCT, records: [makeRecord(), makeRecord()], ingestedBy: null });
    rebuildThen('');
    await retentionRound(store, signer, 1, 16, createLogger('silent'))();
    assert.ok((await store.retentionAnchor(VERIFY_ACCT))!.seq >= 40, 'the old records were purged');
    const report = await verify();
    assert.equal(report.ok, true, report.break?.reason);
    assert.ok(report.checked >= 2);
  });
});

describe('edited side-table rows never hide a record from a filter (SQLite)', () => {
  it('copies relabelled to match, and rows above the mark, leave every page walk whole', async () => {
    const fx = await createFixture('sqlite');
    const store = await SqliteStore.open(fx.databaseUrl, { appendInWorker: false, fillOnTimer: false });
    try {
      const records = Array.from({ length: 60 }, (_, n) => makeRecord({ operation: n % 2 ? 'UpdateUser' : 'DeleteUser' }));
      await store.append({ accountId: 'acct-edit', records, ingestedBy: null });
      const d = new Database(fx.databaseUrl);
      let expectedAsc: number[];
      try {
        new FilterFill(d).fillAll();
        const ids = d.prepare("SELECT id, operation FROM audit_records WHERE account_id = 'acct-edit' ORDER BY id").all() as {
          id: number;
          operation: string;
        }[];
        expectedAsc = ids.filter((r) => r.operation === 'DeleteUser').map((r) => r.id);
        // Half the UpdateUser copies now claim DeleteUser: runs of them longer than a page.
        const relabel = d.prepare("UPDATE audit_filter SET operation = 'DeleteUser' WHERE id = ?");
        for (const r of ids.filter((r) => r.operation === 'UpdateUser').slice(0, 15)) relabel.run(r.id);
        // And rows above the mark, as a rebuild that moved it back leaves them.
        const fake = d.prepare(
          "INSERT INTO audit_filter (id, account_id, operation, user_email, principal_id, status) VALUES (?, 'acct-edit', 'DeleteUser', 'x', 'x', 'OK')",
        );
        for (let i = 0; i < 11; i++) fake.run(1_000_000_000 + i);
      } finally {
        d.close();
      }
      const f: QueryFilter = { accountId: 'acct-edit', operation: 'DeleteUser' };
      for (const order of ['desc', 'asc'] as const) {
        for (const limit of [3, 7, 100]) {
          const walked: number[] = [];
          let page = await store.query(f, { limit, order });
          walked.push(...page.items.map((r) => r.id));
          while (page.nextCursor) {
            page = await store.query(f, { limit, order, cursor: page.nextCursor });
            walked.push(...page.items.map((r) => r.id));
          }
          assert.deepEqual(walked, order === 'asc' ? expectedAsc : [...expectedAsc].reverse(), `${order} by ${limit}`);
        }
      }
    } finally {
      await store.close();
      await fx.destroy();
    }
  });
});

describe('a moved-back mark rebuilds the side table (SQLite)', () => {
  it('every copy is made again, past the first chunk too, and every filtered page is whole', async () => {
    // A database of its own with no store open: no fill runs but the ones below.
    const bulk = await createFixture('sqlite');
    await (await bulk.open()).close();
    const d = new Database(bulk.databaseUrl);
    try {
      const insert = d.prepare(
        "INSERT INTO audit_records (account_id, seq, log_id, stored_at, emit_ms, operation, user_email, principal_id, status, namespace, ingested_by, prev_hash, hash, record_json) VALUES ('acct-bulk', ?, ?, 0, 0, ?, 'u@example.com', 'p', 'OK', NULL, NULL, '', '', '{}')",
      );
      d.transaction(() => {
        for (let i = 1; i <= 45_000; i++) insert.run(i, `bulk${String(i).padStart(28, '0')}`, i % 2 ? 'UpdateUser' : 'DeleteUser');
      })();
      const fill = new FilterFill(d);
      fill.fillAll();
      // Copies missing and edited well past the first chunk, then the mark moved back to rebuild.
      d.exec("DELETE FROM audit_filter WHERE id BETWEEN 30000 AND 30100; UPDATE audit_filter SET operation = 'Harmless' WHERE id BETWEEN 41000 AND 41010");
      d.exec('UPDATE audit_filter_mark SET id = 0');
      fill.fillAll();
      const differ = d
        .prepare(
          `SELECT count(*) AS n FROM audit_records r LEFT JOIN audit_filter f USING (id)
           WHERE f.id IS NULL OR r.operation IS NOT f.operation`,
        )
        .get() as { n: number };
      assert.equal(differ.n, 0);
      const side = d.prepare("SELECT count(*) AS n FROM audit_filter WHERE account_id = 'acct-bulk' AND operation = 'UpdateUser'").get() as { n: number };
      assert.equal(side.n, 22_500);
    } finally {
      d.close();
      await bulk.destroy();
    }
  });
});

describe('migration 0009 on a database with records (SQLite)', () => {
  /** A database as a version before 0009 left it: records, the five indexes on audit_records, no side table. */
  async function before0009(records: number): Promise<StoreFixture> {
    const fx = await createFixture('sqlite');
    const s = await fx.open();
    await s.append({
      accountId: 'acct-old',
      records: Array.from({ length: records }, (_, n) => makeRecord({ operation: OPS[n % OPS.length]! })),
      ingestedBy: null,
    });
    await s.close();
    const d = new Database(fx.databaseUrl);
    try {
      d.exec(`DROP TRIGGER audit_records_purge_filter; DROP TABLE audit_filter; DROP TABLE audit_filter_mark;
        CREATE INDEX audit_records_operation ON audit_records (account_id, operation, id);
        CREATE INDEX audit_records_user_email ON audit_records (account_id, user_email, id);
        CREATE INDEX audit_records_principal ON audit_records (account_id, principal_id, id);
        CREATE INDEX audit_records_status ON audit_records (account_id, status, id);
        CREATE INDEX audit_records_namespace ON audit_records (account_id, namespace, id) WHERE namespace IS NOT NULL;
        DELETE FROM schema_migrations WHERE id = '0009_sqlite_filter_table';`);
    } finally {
      d.close();
    }
    return fx;
  }

  it('tells before and after, with the records it copies, and fills the side table', async () => {
    const fx = await before0009(30);
    try {
      assertToldOnce(await migrationEventsOf(fx.databaseUrl), '0009_sqlite_filter_table', 30);
      const d = new Database(fx.databaseUrl);
      try {
        assert.equal((d.prepare('SELECT count(*) AS n FROM audit_filter').get() as { n: number }).n, 30);
      } finally {
        d.close();
      }
      // Opened again: nothing left to apply, nothing told.
      assert.deepEqual(await migrationEventsOf(fx.databaseUrl), []);
    } finally {
      await fx.destroy();
    }
  });

  it('the server logs both, before it listens', async () => {
    const fx = await before0009(5);
    const dir = mkdtempSync(join(tmpdir(), 'auditstream-migrate-'));
    let serve: ServeHandle | undefined;
    try {
      serve = await startServe({ DATABASE_URL: fx.databaseUrl, AUDITSTREAM_DATA_DIR: join(dir, 'data') }, dir);
      const logged = serve.lines.map((l) => JSON.parse(l) as { msg?: string; migration?: string; records?: number; ms?: number });
      const at = (msg: string) => logged.findIndex((e) => e.msg === msg && e.migration === '0009_sqlite_filter_table');
      assert.ok(at('applying migration') >= 0, serve.lines.join('\n'));
      assert.equal(logged[at('applying migration')]!.records, 5);
      assert.ok(at('migration applied') > at('applying migration'));
      assert.equal(typeof logged[at('migration applied')]!.ms, 'number');
      assert.ok(at('migration applied') < logged.findIndex((e) => e.msg === 'auditstream listening'));
    } finally {
      await stopServe(serve);
      rmSync(dir, { recursive: true, force: true });
      await fx.destroy();
    }
  });

  it('a command run by hand prints both lines on stderr; a new database prints none', async () => {
    const fx = await before0009(12);
    try {
      const res = await runCli(['verify'], { DATABASE_URL: fx.databaseUrl });
      assert.equal(res.code, 0, res.stderr);
      assert.match(res.stderr, /auditstream: applying migration 0009_sqlite_filter_table to 12 records\.\.\.\n/);
      assert.match(res.stderr, /auditstream: migration 0009_sqlite_filter_table applied in \d+\.\d s\n/);
      const fresh = await createFixture('sqlite');
      try {
        const empty = await runCli(['verify'], { DATABASE_URL: fresh.databaseUrl });
        assert.doesNotMatch(empty.stderr, /migration/);
      } finally {
        await fresh.destroy();
      }
    } finally {
      await fx.destroy();
    }
  });
});

describe('a migration applied to a PostgreSQL database with records', () => {
  it("tells before and after, with the planner's estimate of the records", async () => {
    const fx = await createFixture('postgres');
    try {
      const s = await fx.open();
      await s.append({ accountId: 'acct-pg-old', records: Array.from({ length: 30 }, () => makeRecord()), ingestedBy: null });
      await s.close();
      // The database as it was before 0008 (the last migration PostgreSQL applies), analyzed as
      // autovacuum would have: the estimate the announcement reads is the planner's.
      await fx.raw(`ANALYZE audit_records;
        ALTER TABLE audit_log_sinks DROP COLUMN batch_first_seq, DROP COLUMN batch_last_seq;
        DELETE FROM schema_migrations WHERE id = '0008_sink_planned_batch';`);
      assertToldOnce(await migrationEventsOf(fx.databaseUrl), '0008_sink_planned_batch', 30);
      // Applied for real: a second open has nothing to apply or tell, and the columns are back.
      assert.deepEqual(await migrationEventsOf(fx.databaseUrl), []);
      const s2 = await fx.open();
      try {
        const cols = await s2.sql.all<{ n: number }>(
          "SELECT count(*)::int AS n FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'audit_log_sinks' AND column_name LIKE 'batch_%_seq'",
        );
        assert.equal(cols[0]!.n, 2);
      } finally {
        await s2.close();
      }
    } finally {
      await fx.destroy();
    }
  });
});
