/**
 * The `auditstream` executable end to end: serve → ingest → SIGTERM / SIGKILL → logs → verify,
 * on both engines; usage errors and exit codes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFixture, engines, type StoreFixture } from './helpers/stores.js';
import { runCli, startServe } from './helpers/cli.js';
import { seedRecords } from './helpers/records.js';

const TOKEN = 'cli-test-token-0123456789';
const seeds = seedRecords();

function freshRecords(n: number, tag: string) {
  return Array.from({ length: n }, (_, i) => {
    const r: Record<string, unknown> = { ...seeds[i % 5]!, user_email: `${tag}${i}@example.com` };
    delete r['log_id'];
    return r;
  });
}

async function ingest(url: string, account: string, records: unknown[]) {
  const res = await fetch(`${url}/api/v1/audit-logs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ account_id: account, records }),
  });
  assert.equal(res.status, 201, await res.clone().text());
  return (await res.json()) as { log_ids: string[] };
}

describe('cli usage', () => {
  it('prints help for every command and exits 0', async () => {
    for (const cmd of [[], ['serve'], ['logs'], ['verify'], ['checkpoint']]) {
      const r = await runCli([...cmd, '--help']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Usage: auditstream/);
    }
    const serve = await runCli(['serve', '--help']);
    assert.match(serve.stdout, /--http-port <port>[^-]*AUDITSTREAM_HTTP_PORT/);
    assert.match(serve.stdout, /--database-url <url>[^-]*DATABASE_URL/);
  });

  it('exits 2 with one actionable line on usage errors', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'auditstream-cli-'));
    try {
      const db = join(dir, 'x.db');
      const cases: [string[], Record<string, string>, RegExp][] = [
        [['nonsense'], {}, /unknown command/],
        [['logs', '--format', 'xml'], { DATABASE_URL: db }, /Allowed choices are json, jsonl, csv/],
        [['logs', '--since', 'last tuesday'], { DATABASE_URL: db }, /since must be RFC 3339/],
        [['logs', '--limit', 'ten'], { DATABASE_URL: db }, /--limit must be a whole number/],
        [['logs', '--status', 'MAYBE'], { DATABASE_URL: db }, /status must be OK or ERROR/],
        [['serve'], { AUDITSTREAM_HTTP_PORT: 'eighty' }, /AUDITSTREAM_HTTP_PORT must be a whole number/],
        [['serve', '--retention-days', '0'], {}, /--retention-days must be a whole number from 1/],
        [['logs'], { DATABASE_URL: 'mysql://nope' }, /neither postgres/],
      ];
      for (const [args, env, pattern] of cases) {
        const r = await runCli(args, env, dir);
        assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, pattern);
        assert.equal(r.stdout, '');
        assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

for (const engine of engines()) {
  describe(`cli end to end: ${engine}`, () => {
    let fx: StoreFixture;
    let dir: string;
    let env: Record<string, string>;
    before(async () => {
      fx = await createFixture(engine);
      // Migrate once so concurrent first starts in tests are not what is being tested here.
      await (await fx.open()).close();
      dir = mkdtempSync(join(tmpdir(), 'auditstream-cli-'));
      env = { DATABASE_URL: fx.databaseUrl, AUDITSTREAM_INGEST_TOKEN: TOKEN, AUDITSTREAM_DATA_DIR: join(dir, 'data') };
    });
    after(async () => {
      await fx.destroy();
      rmSync(dir, { recursive: true, force: true });
    });

    it('serves, drains on SIGTERM, and keeps every acknowledged record after SIGKILL', async () => {
      const s1 = await startServe(env, dir);
      await ingest(s1.url, 'acme', freshRecords(20, 'a'));
      s1.child.kill('SIGTERM');
      assert.equal(await s1.exited, 0);
      assert.ok(s1.lines.some((l) => l.includes('shutdown complete')));
      // First start generated the signing key with owner-only permissions.
      assert.equal(statSync(join(dir, 'data', 'signing-key.pem')).mode & 0o777, 0o600);

      const s2 = await startServe(env, dir);
      const acked = await ingest(s2.url, 'acme', freshRecords(30, 'b'));
      s2.child.kill('SIGKILL');
      await s2.exited;

      const r = await runCli(['logs', '--account', 'acme', '--all', '--format', 'jsonl'], env, dir);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { sequence: number; record: { log_id: string; operation: string } });
      // 20 + the checkpoint signed at the graceful stop (seq 21) + 30; the SIGKILL signed nothing.
      assert.equal(lines.length, 51);
      assert.equal(lines[20]!.record.operation, 'ChainCheckpoint');
      const stored = new Set(lines.map((l) => l.record.log_id));
      for (const id of acked.log_ids) assert.ok(stored.has(id), `acknowledged ${id} survived SIGKILL`);
      assert.deepEqual(
        lines.map((l) => l.sequence),
        Array.from({ length: 51 }, (_, i) => i + 1),
      );
      assert.match(r.stderr, /exported 51 records/);
    });

    it('queries with filters, pages with cursors, and exports csv', async () => {
      const page = await runCli(['logs', '--account', 'acme', '--limit', '20', '--user-email', 'b3@example.com'], env, dir);
      assert.equal(page.code, 0, page.stderr);
      const body = JSON.parse(page.stdout) as { items: { record: { user_email: string } }[]; next_cursor: string | null };
      assert.equal(body.items.length, 1);
      assert.equal(body.items[0]!.record.user_email, 'b3@example.com');

      const p1 = await runCli(['logs', '--account', 'acme', '--limit', '30', '--format', 'jsonl'], env, dir);
      const cursor = /next page: --cursor (\S+)/.exec(p1.stderr)?.[1];
      assert.ok(cursor, p1.stderr);
      const p2 = await runCli(['logs', '--account', 'acme', '--limit', '30', '--format', 'jsonl', '--cursor', cursor], env, dir);
      const seqs = [...p1.stdout.trim().split('\n'), ...p2.stdout.trim().split('\n')].map((l) => (JSON.parse(l) as { sequence: number }).sequence);
      assert.deepEqual(
        seqs,
        Array.from({ length: 51 }, (_, i) => 51 - i),
      );

      const csv = await runCli(['logs', '--account', 'acme', '--all', '--format', 'csv', '--operation', 'DeleteUser'], env, dir);
      const rows = csv.stdout.trim().split('\r\n');
      assert.ok(rows.length > 1);
      assert.ok(rows.slice(1).every((row) => row.includes(',"DeleteUser",')));
    });

    it('verifies, then names the first broken link after tampering and exits 1', async () => {
      const ok = await runCli(['verify'], env, dir);
      assert.equal(ok.code, 0, ok.stderr);
      // The checkpoint signed at the graceful stop, and its ChainCheckpoint record (21).
      assert.match(ok.stderr, /ok {6}acme: 51 records \(seq 1\.\.51\), 2 checkpoints/);

      const cp = await runCli(['checkpoint'], env, dir);
      assert.equal(cp.code, 0, cp.stderr);
      const kept = join(dir, 'kept.jsonl');
      writeFileSync(kept, cp.stdout);
      // serve's first start also made the `default` account: one checkpoint line per account.
      const kept_ = cp.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { accountId: string; seq: number });
      assert.equal(kept_.find((c) => c.accountId === 'acme')?.seq, 51);
      assert.ok(kept_.some((c) => c.accountId === 'default'));

      await fx.raw(
        `${fx.dropGuards} UPDATE audit_records SET record_json = replace(record_json, 'b7@example.com', 'nobody@example.com') WHERE account_id = 'acme'`,
      );
      const broken = await runCli(['verify', '--account', 'acme', '--checkpoints', kept], env, dir);
      assert.equal(broken.code, 1);
      assert.match(broken.stderr, /chain of acme is broken at seq 29: hash does not match/);

      const json = await runCli(['verify', '--json'], env, dir);
      assert.equal(json.code, 1);
      const reports = JSON.parse(json.stdout) as { accountId: string; ok: boolean; break?: { seq: number } }[];
      const acme = reports.find((r) => r.accountId === 'acme')!;
      assert.equal(acme.ok, false);
      assert.equal(acme.break!.seq, 29);
      assert.equal(reports.find((r) => r.accountId === 'default')?.ok, true, 'the other account still verifies');
    });
  });
}
