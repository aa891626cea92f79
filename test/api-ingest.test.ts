/**
 * The HTTP API over a real listener: ingest, query, export, health and errors, on both engines.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { engines } from './helpers/stores.js';
import { appSuite } from './helpers/suites.js';
import { buildApp } from '../src/api/app.js';
import { resolveConfig } from '../src/config.js';
import { validateEmitted } from '../src/record/schema.js';
import { verifyAccount } from '../src/chain/verify.js';

const TOKEN = 'test-ingest-token-0123456789';
const here = fileURLToPath(new URL('.', import.meta.url));
const seedLines = readFileSync(`${here}/../../test/fixtures/seed-records.jsonl`, 'utf8').trim().split('\n');
const seeds = seedLines.map((l) => JSON.parse(l) as Record<string, unknown>);

for (const engine of engines()) {
  describe(`HTTP API: ${engine}`, () => {
    const s = appSuite(engine, (store) =>
      buildApp({
        store,
        config: resolveConfig({
          AUDITSTREAM_INGEST_TOKEN: TOKEN,
          AUDITSTREAM_MAX_BODY_BYTES: String(512 * 1024),
          AUDITSTREAM_MAX_RECORD_BYTES: String(64 * 1024),
        }),
      }),
    );

    const post = (body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${s.base}/api/v1/audit-logs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
    const get = (path: string) => fetch(`${s.base}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });

    it('stores the seed samples verbatim and serves them back in the seed format', async () => {
      // The seeds reuse one log_id for two different records: all but the repeat go in.
      const firstOfEach = seeds.filter((s, i) => seeds.findIndex((t) => t['log_id'] === s['log_id']) === i);
      const res = await post({ account_id: 'seed-acct', records: firstOfEach });
      assert.equal(res.status, 201);
      const body = (await res.json()) as { accepted: number; log_ids: string[] };
      assert.equal(body.accepted, firstOfEach.length);
      assert.deepEqual(
        body.log_ids,
        firstOfEach.map((s) => s['log_id']),
      );

      const page = (await (await get('/api/v1/audit-logs?account=seed-acct&order=asc&limit=100')).json()) as {
        items: { record: Record<string, unknown>; ingested_by: string; sequence: number }[];
      };
      assert.equal(page.items.length, firstOfEach.length);
      page.items.forEach((item, i) => {
        const check = validateEmitted(item.record);
        assert.ok(check.ok, JSON.stringify(check));
        assert.equal(item.ingested_by, 'token:deployment');
        assert.equal(item.sequence, i + 1);
        // Same values as sent; version (and caller_ip_address when absent) filled in.
        const sent = firstOfEach[i]!;
        for (const [k, v] of Object.entries(sent)) assert.deepEqual(item.record[k], v, k);
        assert.equal(item.record['version'], 1);
      });

      const dup = seeds.find((s, i) => seeds.findIndex((t) => t['log_id'] === s['log_id']) !== i)!;
      const conflict = await post({ account_id: 'seed-acct', records: [dup] });
      assert.equal(conflict.status, 409);
      const err = (await conflict.json()) as { error: { code: string; index: number } };
      assert.equal(err.error.code, 'AS_ERR_LOG_ID_CONFLICT');
      assert.equal(err.error.index, 0);
    });

    it('accepts a retried batch once, and assigns log_ids when absent', async () => {
      const rec = { ...seeds[0]!, log_id: undefined, request_id: undefined };
      delete rec.log_id;
      delete rec.request_id;
      const first = (await (await post({ account_id: 'retry-acct', records: [rec, rec] })).json()) as { log_ids: string[] };
      assert.equal(first.log_ids.length, 2);
      for (const id of first.log_ids) assert.match(id, /^[0-9a-z]{32}$/);
      assert.notEqual(first.log_ids[0], first.log_ids[1]);
      const withIds = first.log_ids.map((log_id) => ({ ...rec, log_id }));
      const again = await post({ account_id: 'retry-acct', records: withIds });
      assert.equal(again.status, 201);
      assert.deepEqual(await again.json(), { accepted: 0, duplicates: 2, log_ids: first.log_ids });
      assert.equal(await s.store.count('retry-acct'), 2);
    });

    it('names the record index and field of invalid input, storing nothing of that batch', async () => {
      const bad = { ...seeds[0]!, level: 'LOUD', log_id: undefined };
      delete bad.log_id;
      const good = { ...seeds[1]! };
      const res = await post({ account_id: 'invalid-acct', records: [good, bad] });
      assert.equal(res.status, 400);
      const body = (await res.json()) as { error: { code: string; index: number; field: string; message: string } };
      assert.equal(body.error.code, 'AS_ERR_INVALID_RECORD');
      assert.equal(body.error.index, 1);
      assert.equal(body.error.field, 'level');
      assert.match(body.error.message, /^record 1: /);
      assert.equal(await s.store.count('invalid-acct'), 0);
    });

    it('refuses bad bodies and credentials with clear 4xx answers', async () => {
      const cases: [Promise<Response>, number, string][] = [
        [post('{"account_id": "x", "records": ['), 400, 'AS_ERR_INVALID_ARGUMENT'],
        [post({ records: [seeds[0]] }), 400, 'AS_ERR_INVALID_ARGUMENT'],
        [post({ account_id: 'a b', records: [seeds[0]] }), 400, 'AS_ERR_INVALID_ARGUMENT'],
        [post({ account_id: 'x', records: [] }), 400, 'AS_ERR_INVALID_ARGUMENT'],
        [post({ account_id: 'x', records: 'nope' }), 400, 'AS_ERR_INVALID_ARGUMENT'],
        [post({ account_id: 'x', records: [seeds[0]], extra: 1 }), 400, 'AS_ERR_INVALID_ARGUMENT'],
        [post([1, 2]), 400, 'AS_ERR_INVALID_ARGUMENT'],
        [post({ account_id: 'x', records: [seeds[0]] }, { authorization: 'Bearer wrong-token-wrong-token' }), 401, 'AS_ERR_UNAUTHENTICATED'],
        [post({ account_id: 'x', records: [seeds[0]] }, { authorization: '' }), 401, 'AS_ERR_UNAUTHENTICATED'],
        [post('account_id=x', { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'AS_ERR_UNSUPPORTED_MEDIA_TYPE'],
        [post({ account_id: 'x', records: [{ ...seeds[0], details: { blob: 'x'.repeat(70 * 1024) } }] }), 413, 'AS_ERR_PAYLOAD_TOO_LARGE'],
        [
          post({ account_id: 'x', records: Array.from({ length: 12 }, () => ({ ...seeds[0], details: { blob: 'x'.repeat(60 * 1024) } })) }),
          413,
          'AS_ERR_PAYLOAD_TOO_LARGE',
        ],
        [
          post({ account_id: 'x', records: [{ ...seeds[0], caller_ip_address: Array.from({ length: 21 }, (_, i) => `10.0.0.${i}`).join(', ') }] }),
          400,
          'AS_ERR_INVALID_RECORD',
        ],
        // caller_ip_address hops that cannot be hops: script, spaces, formulas, overlong, empty.
        ...['<script>', '10.0.0.1, rm -rf /', '=cmd|calc', 'a'.repeat(101), '10.0.0.1,,10.0.0.2', '10.0.0.1; DROP TABLE x'].map(
          (cip): [Promise<Response>, number, string] => [
            post({ account_id: 'x', records: [{ ...seeds[0], caller_ip_address: cip }] }),
            400,
            'AS_ERR_INVALID_RECORD',
          ],
        ),
        [get('/api/v1/nothing-here'), 404, 'AS_ERR_NOT_FOUND'],
        [get('/api/v1/audit-logs'), 400, 'AS_ERR_INVALID_ARGUMENT'],
        [get('/api/v1/audit-logs?account=x&since=yesterday'), 400, 'AS_ERR_INVALID_ARGUMENT'],
        [get('/api/v1/audit-logs?account=x&cursor=zzz'), 400, 'AS_ERR_INVALID_CURSOR'],
        [get('/api/v1/audit-logs?account=x&limit=5000'), 400, 'AS_ERR_INVALID_ARGUMENT'],
      ];
      for (const [pending, status, code] of cases) {
        const res = await pending;
        const text = await res.text();
        assert.equal(res.status, status, text);
        const body = JSON.parse(text) as { error: { code: string; message: string } };
        assert.equal(body.error.code, code, text);
        assert.doesNotMatch(text, /at .*\.js:\d+/, 'no stack trace');
      }
      assert.equal(await s.store.count('x'), 0);
    });

    it('stores concurrent requests durably in one unbroken chain', async () => {
      const results = await Promise.all(
        Array.from({ length: 24 }, (_, i) =>
          post({
            account_id: 'busy-acct',
            records: Array.from({ length: 10 }, () => ({
              ...seeds[2],
              log_id: undefined,
              caller_ip_address: '10.1.2.3, 10.4.5.6',
              user_email: `u${i}@example.com`,
            })),
          }),
        ),
      );
      for (const r of results) assert.equal(r.status, 201);
      assert.equal(await s.store.count('busy-acct'), 240);
      const report = await verifyAccount(s.store, 'busy-acct', { trustedKeys: new Map() });
      assert.equal(report.ok, true, report.break?.reason);
    });

    it('filters, paginates and exports through the API', async () => {
      const p1 = (await (await get('/api/v1/audit-logs?account=busy-acct&limit=100&user_email=u3%40example.com')).json()) as {
        items: unknown[];
        next_cursor: string | null;
      };
      assert.equal(p1.items.length, 10);
      assert.equal(p1.next_cursor, null);
      const a = (await (await get('/api/v1/audit-logs?account=busy-acct&limit=150')).json()) as { items: { sequence: number }[]; next_cursor: string };
      const b = (await (await get(`/api/v1/audit-logs?account=busy-acct&limit=150&cursor=${encodeURIComponent(a.next_cursor)}`)).json()) as {
        items: { sequence: number }[];
        next_cursor: string | null;
        prev_cursor: string | null;
      };
      assert.equal(a.items.length + b.items.length, 240);
      assert.equal(b.next_cursor, null);
      assert.ok(b.prev_cursor);

      const jsonl = await get('/api/v1/audit-logs/export?account=busy-acct&format=jsonl');
      assert.equal(jsonl.headers.get('content-type'), 'application/x-ndjson');
      const lines = (await jsonl.text()).trim().split('\n');
      assert.equal(lines.length, 240);
      assert.deepEqual(
        lines.map((l) => (JSON.parse(l) as { sequence: number }).sequence),
        Array.from({ length: 240 }, (_, i) => i + 1),
      );

      const csv = await (await get('/api/v1/audit-logs/export?account=busy-acct&format=csv&limit=3')).text();
      const rows = csv.trim().split('\r\n');
      assert.equal(rows.length, 4);
      assert.match(rows[0]!, /^account_id,sequence,stored_at,ingested_by,emit_time,level,/);
      // caller_ip_address and details contain commas and quotes: they must be quoted.
      assert.match(rows[1]!, /,"10\.1\.2\.3, 10\.4\.5\.6",/);
      assert.match(rows[1]!, /,"{""target_users"":/);

      const json = (await (await get('/api/v1/audit-logs/export?account=busy-acct&format=json&limit=5')).json()) as unknown[];
      assert.equal(json.length, 5);
    });

    it("serves one record's stored JSON byte for byte, and refuses unknown and malformed log_ids", async () => {
      // Sent raw with escapes (\u00e9, \/, \u2028) that the stored text spells differently: the
      // route must answer the stored bytes, not the request's text and not a re-encoding.
      const base = { ...seeds[0]!, log_id: undefined, request_id: undefined, details: { marker: 'X' } };
      const raw = JSON.stringify({ account_id: 'exact-acct', records: [base] }).replace(
        '{"marker":"X"}',
        '{"note":"caf\\u00e9 \\/path \\u2028 \\"q\\" \\ud83d\\ude00","n":1.50,"e":1E3}',
      );
      assert.match(raw, /\\u00e9/);
      const res = await post(raw);
      assert.equal(res.status, 201, await res.clone().text());
      const [logId] = ((await res.json()) as { log_ids: string[] }).log_ids;
      const [row] = await s.store.readChain('exact-acct', 1, 1);
      assert.equal(row!.columns.logId, logId);
      const got = await get(`/api/v1/audit-logs/records/${logId!}?account=exact-acct`);
      assert.equal(got.status, 200);
      assert.match(got.headers.get('content-type') ?? '', /^application\/json/);
      const bytes = Buffer.from(await got.arrayBuffer());
      assert.ok(bytes.equals(Buffer.from(row!.recordJson, 'utf8')), `${bytes.toString('utf8')}\n!==\n${row!.recordJson}`);
      // What "stored" means: the stored text holds the characters, not the request's escapes.
      const text = bytes.toString('utf8');
      assert.ok(text.includes('café /path \u2028 \\"q\\" 😀'), text);
      assert.ok(text.includes('"n":1.5,"e":1000'), text);
      // The query API gives the parsed record; it agrees with the stored text.
      const page = (await (await get('/api/v1/audit-logs?account=exact-acct')).json()) as { items: { record: unknown }[] };
      assert.deepEqual(page.items[0]!.record, JSON.parse(text));

      const unknown = await get(`/api/v1/audit-logs/records/${'0'.repeat(32)}?account=exact-acct`);
      assert.equal(unknown.status, 404);
      assert.equal(((await unknown.json()) as { error: { code: string } }).error.code, 'AS_ERR_NOT_FOUND');
      // Another account's record is not found through this one.
      assert.equal((await get(`/api/v1/audit-logs/records/${logId!}?account=other-acct`)).status, 404);
      for (const bad of ['short', 'A'.repeat(32), `${'a'.repeat(32)}x`, '%2e%2e', 'é'.repeat(32)]) {
        const r = await get(`/api/v1/audit-logs/records/${encodeURIComponent(bad)}?account=exact-acct`);
        assert.equal(r.status, 400, bad);
        assert.equal(((await r.json()) as { error: { code: string; field: string } }).error.field, 'log_id', bad);
      }
      const stray = await get(`/api/v1/audit-logs/records/${logId!}?account=exact-acct&limit=1`);
      assert.equal(stray.status, 400);
      assert.equal((await get(`/api/v1/audit-logs/records/${logId!}`)).status, 400, 'the ingest token must name the account');
    });

    it('answers health, readiness and metrics', async () => {
      assert.deepEqual(await (await fetch(`${s.base}/healthz`)).json(), { status: 'ok' });
      assert.deepEqual(await (await fetch(`${s.base}/readyz`)).json(), { status: 'ready', store: engine });
      const metrics = await (await fetch(`${s.base}/metrics`)).text();
      assert.match(metrics, /auditstream_ingested_records_total \d+/);
      assert.match(metrics, /auditstream_http_requests_total\{route="\/api\/v1\/audit-logs",method="POST",status="201"\}/);
    });
  });
}
