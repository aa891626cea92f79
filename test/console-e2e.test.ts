/**
 * The web console in real Chromium (Debian package, playwright-core) against a real
 * `auditstream serve` on SQLite, with Kinesis sinks on moto: security headers and SPA fallback;
 * sign in; Settings → Audit Logs; a Kinesis sink through Manual (the downloaded template passes
 * cfn-lint) and Auto (the quick-create link carries the stack parameters); Verify success and
 * failure with its cause; Disable/Enable; Delete with a confirmation naming the sink, and a delete
 * still in progress (the delivering process died holding the lease); dead letters and their replay;
 * the viewer's filters, paging, detail (the record's exact stored bytes, and their copy), export and
 * live mode; a console mutation appearing in the viewer; a
 * Read-Only user's view; an axe scan (no serious or critical violation) and a screenshot per page.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { runCli, startServe, type ServeHandle, stopServe } from './helpers/cli.js';
import { awsEnvFor, createStream, kinesisClient, MOTO_ACCOUNT, readStream, startMoto, type Moto } from './helpers/moto.js';
import { launchChromium, screenshot, seriousViolations } from './helpers/browser.js';
import { makeTestTls } from './helpers/tls.js';
import { seedRecords } from './helpers/records.js';
import Database from 'better-sqlite3';

const seeds = seedRecords();

const STREAM = 'console-audit';
const STREAM_ARN = `arn:aws:kinesis:us-east-1:${MOTO_ACCOUNT}:stream/${STREAM}`;
const MISSING_ARN = `arn:aws:kinesis:us-east-1:${MOTO_ACCOUNT}:stream/no-such-stream`;
const TEMPLATE_URL = 'https://example-bucket.s3.amazonaws.com/auditstream-kinesis-role.json';
const WAIT = { timeout: 15_000 };

interface Initial {
  account_id: string;
  api_key: string;
  email: string;
  password: string;
}

describe('web console in Chromium against auditstream serve', () => {
  let moto: Moto;
  let dir: string;
  let serve: ServeHandle;
  let initial: Initial;
  let browser: Browser;
  let ctx: BrowserContext;
  let page: Page;

  before(async () => {
    // The browser first: without one, nothing else is started for nothing.
    browser = await launchChromium();
    moto = await startMoto();
    const kinesis = kinesisClient(moto.url);
    await createStream(kinesis, STREAM);
    kinesis.destroy();
    dir = mkdtempSync(join(tmpdir(), 'auditstream-console-'));
    serve = await startServe(
      {
        DATABASE_URL: join(dir, 'audit.db'),
        AUDITSTREAM_DATA_DIR: join(dir, 'data'),
        AUDITSTREAM_FLUSH_INTERVAL_MS: '100',
        ...awsEnvFor(moto.url),
        AUDITSTREAM_AWS_PRINCIPAL_ARN: 'arn:aws:iam::999988887777:role/auditstream',
        AUDITSTREAM_CFN_TEMPLATE_URL: TEMPLATE_URL,
        AUDITSTREAM_GCP_SERVICE_ACCOUNT: 'auditstream@operator-proj.iam.gserviceaccount.com',
      },
      dir,
    );
    initial = JSON.parse(readFileSync(join(dir, 'data', 'initial-admin.json'), 'utf8')) as Initial;
    ctx = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
    // The Auto link opens the AWS console in a new tab: answered locally, nothing leaves the machine.
    await ctx.route('https://console.aws.amazon.com/**', (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<title>aws</title>' }));
    page = await ctx.newPage();
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await stopServe(serve);
    await moto?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${serve.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${initial.api_key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    assert.ok(res.ok, `${method} ${path}: ${res.status} ${text}`);
    return (text ? JSON.parse(text) : {}) as Record<string, unknown>;
  };
  const ingest = async (records: Record<string, unknown>[]) => api('POST', '/api/v1/audit-logs', { records });
  /** Every stored record of the account (API export), oldest first. */
  const allRecords = async (query = '') => {
    const res = await fetch(`${serve.url}/api/v1/audit-logs/export?format=jsonl${query}`, { headers: { authorization: `Bearer ${initial.api_key}` } });
    return (await res.text())
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { sequence: number; record: Record<string, unknown> });
  };
  const checkA11y = async (p: Page, name: string) => {
    const v = await seriousViolations(p);
    assert.deepEqual(
      v.map((x) => `${x.id}: ${x.help} (${x.nodes.map((n) => n.target.join(' ')).join(', ')})`),
      [],
      `${name}: axe found serious or critical violations`,
    );
    await screenshot(p, name);
  };
  const go = (path: string) => page.goto(`${serve.url}${path}`);

  it('serves the console at / with security headers, the SPA fallback, and leaves the API answers alone', async () => {
    const root = await fetch(`${serve.url}/`);
    assert.equal(root.status, 200);
    assert.match(root.headers.get('content-type') ?? '', /text\/html/);
    const csp = root.headers.get('content-security-policy') ?? '';
    assert.match(csp, /script-src 'self'(;|$)/, 'scripts from this origin only');
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(root.headers.get('x-content-type-options'), 'nosniff');
    assert.ok(root.headers.get('referrer-policy'));
    assert.equal(root.headers.get('cache-control'), 'no-store', 'index.html is never cached');
    const html = await root.text();
    assert.doesNotMatch(html.replace(/<script[^>]*src="[^"]+"[^>]*><\/script>/g, ''), /<script/i, 'no inline script');
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    assert.ok(asset, 'the entry script is a hashed asset');
    const js = await fetch(`${serve.url}${asset}`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('cache-control') ?? '', /max-age=31536000.*immutable/);
    assert.match(js.headers.get('content-type') ?? '', /javascript/);
    assert.equal((await fetch(`${serve.url}/assets/index-nothere.js`)).status, 404);

    const deep = await fetch(`${serve.url}/settings/audit-logs/sinks/x?y=1`);
    assert.equal(deep.status, 200, 'console paths fall back to the app');
    assert.equal(await deep.text(), html);
    assert.ok(deep.headers.get('content-security-policy'));
    for (const path of ['/api/v1/nope', '/auth/nope', '/healthz/x']) {
      const r = await fetch(`${serve.url}${path}`);
      assert.equal(r.status, 404, path);
      assert.match(r.headers.get('content-type') ?? '', /application\/json/, `${path} stays a JSON 404`);
    }
    const cloud = await fetch(`${serve.url}/cloud/nope`);
    assert.equal(cloud.status, 404);
    assert.match(cloud.headers.get('content-type') ?? '', /application\/json/);
    const health = await fetch(`${serve.url}/healthz`);
    assert.deepEqual(await health.json(), { status: 'ok' });
    assert.equal(health.headers.get('cache-control'), 'no-store', 'API answers keep no-store');
  });

  it('sign-in page: points to initial-admin.json (never the password), refuses a wrong password, signs in and redirects back', async () => {
    await go('/audit-log?operation=UserLogin');
    await page.waitForURL(/\/sign-in\?redirect=/, WAIT);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor(WAIT);
    const body = await page.locator('body').innerText();
    assert.match(body, /initial-admin\.json/);
    assert.ok(!body.includes(initial.password), 'the password is never shown');
    await checkA11y(page, 'sign-in');
    await page.getByLabel('Email').fill(initial.email);
    await page.getByLabel('Password').fill('wrong-password-123');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'wrong email or password' }).waitFor(WAIT);
    await page.getByLabel('Password').fill(initial.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/audit-log\?operation=UserLogin$/, WAIT);
    await page.getByRole('heading', { name: 'Audit log' }).waitFor(WAIT);
    // No secret in browser storage: the session is an HttpOnly cookie, the CSRF token in memory.
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
    assert.equal(stored, '{}{}');
    const cookies = await ctx.cookies();
    assert.ok(cookies.find((c) => c.name === 'auditstream_session')?.httpOnly);
    // The UserLogin records of both attempts are in the viewer (the filter came from the URL).
    await page.locator('table.log tbody tr').first().waitFor(WAIT);
    const statuses = await page.locator('table.log tbody tr td:nth-child(5)').allInnerTexts();
    assert.deepEqual([...statuses].sort(), ['ERROR', 'OK']);
  });

  it('Settings → Audit Logs → Setup: Kinesis Manual saves the sink and downloads a filled template that passes cfn-lint; Verify says Success', async () => {
    await go('/settings');
    await page.getByRole('link', { name: 'Audit Logs' }).click();
    await page.getByRole('heading', { name: 'Audit Log Integration' }).waitFor(WAIT);
    await checkA11y(page, 'settings-audit-logs-empty');
    await page.getByRole('link', { name: 'Setup' }).click();
    await page.getByRole('heading', { name: 'Audit Log Integration' }).waitFor(WAIT);
    await page.getByLabel('Sink name').fill('manual-kinesis');
    await page.getByLabel('Manual').check();
    await page.getByLabel('Kinesis ARN').fill(STREAM_ARN);
    await page.getByLabel('Role name').fill('auditstream-writer');
    assert.equal(await page.getByLabel('Select an AWS region').inputValue(), 'us-east-1', 'the region is taken from the ARN');
    await checkA11y(page, 'sink-setup-kinesis');
    const downloading = page.waitForEvent('download', WAIT);
    await page.getByRole('button', { name: 'Save and download template' }).click();
    const download = await downloading;
    const file = join(dir, download.suggestedFilename());
    await download.saveAs(file);
    const template = JSON.parse(readFileSync(file, 'utf8')) as { Parameters: Record<string, { Default?: string }> };
    assert.equal(template.Parameters['StreamArn']?.Default, STREAM_ARN);
    assert.equal(template.Parameters['RoleName']?.Default, 'auditstream-writer');
    assert.match(template.Parameters['ExternalId']?.Default ?? '', /\S{8,}/);
    const lint = spawnSync('cfn-lint', [file], { encoding: 'utf8' });
    assert.equal(lint.status, 0, `cfn-lint: ${lint.stdout}${lint.stderr}`);

    await page.waitForURL(/\/settings\/audit-logs\/sinks\/manual-kinesis$/, WAIT);
    await page.getByRole('heading', { name: 'Audit Log Integration: manual-kinesis' }).waitFor(WAIT);
    await page.locator('.heading-row .badge', { hasText: /^On$/ }).waitFor(WAIT);
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.locator('.verify-result').getByText('Success', { exact: true }).waitFor(WAIT);
    await checkA11y(page, 'sink-detail');

    // The console's create left exactly the audit record the API call makes.
    const creates = (await allRecords('&operation=UpdateAccount')).filter(
      (r) => (r.record['details'] as Record<string, unknown>)['sink_name'] === 'manual-kinesis',
    );
    assert.equal(creates.length, 1);
    assert.equal((creates[0]!.record['details'] as Record<string, unknown>)['sink_action'], 'create');
    assert.equal(creates[0]!.record['user_email'], initial.email);
    assert.equal(creates[0]!.record['status'], 'OK');
  });

  it('Auto opens the CloudFormation quick-create link with the stack parameters in a new tab', async () => {
    await go('/settings/audit-logs/setup');
    await page.getByLabel('Sink name').fill('auto-kinesis');
    await page.getByLabel('Auto').check();
    await page.getByLabel('Kinesis ARN').fill(STREAM_ARN);
    await page.getByLabel('Role name').fill('auditstream-auto');
    await page.getByLabel('Select an AWS region').selectOption('us-east-1');
    const opening = ctx.waitForEvent('page', WAIT);
    await page.getByRole('button', { name: 'Save and launch stack' }).click();
    const tab = await opening;
    const url = new URL(tab.url() === 'about:blank' ? await tab.waitForURL(/console\.aws\.amazon\.com/, WAIT).then(() => tab.url()) : tab.url());
    await tab.close();
    assert.equal(url.host, 'console.aws.amazon.com');
    assert.equal(url.searchParams.get('region'), 'us-east-1');
    const q = new URLSearchParams(url.hash.slice(url.hash.indexOf('?') + 1));
    assert.equal(q.get('templateURL'), TEMPLATE_URL);
    assert.equal(q.get('param_StreamArn'), STREAM_ARN);
    assert.equal(q.get('param_RoleName'), 'auditstream-auto');
    assert.match(q.get('param_ExternalId') ?? '', /\S{8,}/);
    assert.equal(q.get('param_AuditstreamPrincipalArn'), 'arn:aws:iam::999988887777:role/auditstream');
    await page.waitForURL(/\/sinks\/auto-kinesis$/, WAIT);
    // Several sinks per account: both are listed.
    await go('/settings/audit-logs');
    await page.getByRole('link', { name: 'manual-kinesis' }).waitFor(WAIT);
    await page.getByRole('link', { name: 'auto-kinesis' }).waitFor(WAIT);
    await checkA11y(page, 'settings-audit-logs');
  });

  it('Verify names the cause when the stream does not exist; Disable shows Paused, Enable shows On', async () => {
    await go('/settings/audit-logs/setup');
    await page.getByLabel('Sink name').fill('broken-kinesis');
    await page.getByLabel('Manual').check();
    await page.getByLabel('Kinesis ARN').fill(MISSING_ARN);
    await page.getByLabel('Role name').fill('auditstream-writer');
    const downloading = page.waitForEvent('download', WAIT);
    await page.getByRole('button', { name: 'Save and download template' }).click();
    await downloading;
    await page.waitForURL(/\/sinks\/broken-kinesis$/, WAIT);
    await page.getByRole('button', { name: 'Verify' }).click();
    const failed = page.locator('.verify-result .field-error');
    await failed.waitFor(WAIT);
    const text = await failed.innerText();
    assert.match(text, /^Failed \(\w+\)/, text);
    assert.match(text, /no-such-stream|not found|ResourceNotFound/i, `the precise cause: ${text}`);

    await page.getByRole('button', { name: 'Disable' }).click();
    await page.locator('.heading-row .badge', { hasText: /^Paused$/ }).waitFor(WAIT);
    await page.getByRole('button', { name: 'Enable' }).click();
    await page.getByRole('button', { name: 'Disable' }).waitFor(WAIT);
    // Delivering the Enable's own record fails (no such stream): the error summary below the title.
    const summary = page.locator('.error-summary');
    await summary.waitFor({ timeout: 30_000 });
    const said = await summary.innerText();
    assert.match(said, /Error:/);
    assert.match(said, /Since \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ/, said);
    assert.match(said, /last success/);
    await page.locator('.heading-row .badge', { hasText: /^Error$/ }).waitFor(WAIT);
    assert.equal(await page.locator('.heading-row .badge', { hasText: /^On$/ }).count(), 0, 'no On badge while failing');
    await checkA11y(page, 'sink-detail-error');
  });

  it('Delete at the bottom asks for a confirmation naming the sink, then removes it', async () => {
    await go('/settings/audit-logs/sinks/broken-kinesis');
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    const dialog = page.getByRole('alertdialog');
    await dialog.waitFor(WAIT);
    assert.match(await dialog.innerText(), /Delete audit log sink broken-kinesis\?/);
    await checkA11y(page, 'sink-delete-confirm');
    await dialog.getByRole('button', { name: 'Delete broken-kinesis' }).click();
    await page.waitForURL(/\/settings\/audit-logs$/, WAIT);
    await page.getByText('Deleted broken-kinesis.').waitFor(WAIT);
    await page.getByRole('link', { name: 'manual-kinesis' }).waitFor(WAIT);
    assert.equal(await page.getByRole('link', { name: 'broken-kinesis' }).count(), 0);
    const sinks = (await api('GET', '/cloud/audit-log-sinks'))['sinks'] as { name: string }[];
    assert.deepEqual(sinks.map((s) => s.name).sort(), ['auto-kinesis', 'manual-kinesis']);
  });

  /** Creates a Kinesis sink through the Cloud API and waits until it exists. */
  const createSink = async (name: string, streamArn: string, enabled: boolean) => {
    await api('POST', '/cloud/audit-log-sinks', {
      spec: { name, enabled, kinesisSink: { destinationUri: streamArn, roleName: 'auditstream-writer', region: 'us-east-1' } },
      async_operation_id: crypto.randomUUID(),
    });
    for (let i = 0; ; i++) {
      const res = await fetch(`${serve.url}/cloud/audit-log-sinks/${name}`, { headers: { authorization: `Bearer ${initial.api_key}` } });
      if (res.ok) return;
      assert.ok(i < 100, `sink ${name} was not created`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  /** Runs SQL on the served database (to fake what a dead process or a refusing destination leaves). */
  const onDb = <T>(fn: (db: Database.Database) => T): T => {
    const db = new Database(join(dir, 'audit.db'));
    db.pragma('busy_timeout = 5000');
    try {
      return fn(db);
    } finally {
      db.close();
    }
  };

  it('Delete of a sink whose delivering process died says it is still in progress, then finishes when the lease ends', async () => {
    await createSink('orphan-kinesis', STREAM_ARN, false);
    await go('/settings/audit-logs/sinks/orphan-kinesis');
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    const dialog = page.getByRole('alertdialog');
    await dialog.waitFor(WAIT);
    // Another process claimed the sink and died: its lease has 10 s left (a delete request waits 2 s).
    const leaseEnds = Date.now() + 10_000;
    onDb((db) =>
      assert.equal(
        db
          .prepare("UPDATE audit_log_sinks SET lease_owner = 'dead-process', lease_expires_ms = ?, fence = fence + 1 WHERE name = 'orphan-kinesis'")
          .run(leaseEnds).changes,
        1,
      ),
    );
    await dialog.getByRole('button', { name: 'Delete orphan-kinesis' }).click();
    await page.getByText(/The delete of orphan-kinesis is still in progress: the process that delivered it must let go first/).waitFor(WAIT);
    const meanwhile = (await api('GET', '/cloud/audit-log-sinks/orphan-kinesis'))['sink'] as { state: string };
    assert.match(meanwhile.state, /DELETING/);
    await checkA11y(page, 'sink-delete-in-progress');
    await page.waitForURL(/\/settings\/audit-logs$/, { timeout: 30_000 });
    await page.getByText('Deleted orphan-kinesis.').waitFor(WAIT);
    assert.ok(Date.now() >= leaseEnds, 'done only after the dead lease ended');
    const sinks = (await api('GET', '/cloud/audit-log-sinks'))['sinks'] as { name: string }[];
    assert.ok(!sinks.some((x) => x.name === 'orphan-kinesis'));
  });

  it('Dead letters are listed with their reason, and Replay dead letters sends them again and clears them', async () => {
    const kinesis = kinesisClient(moto.url);
    try {
      await createStream(kinesis, 'console-dead-letters');
      await createSink('dl-kinesis', `arn:aws:kinesis:us-east-1:${MOTO_ACCOUNT}:stream/console-dead-letters`, true);
      // Wait until everything stored so far is delivered.
      for (let i = 0; ; i++) {
        const st = await api('GET', '/api/v1/audit-log-sinks/dl-kinesis/status');
        if (st['backlog'] === 0 && (st['cursorSeq'] as number) > 3) break;
        assert.ok(i < 150, `dl-kinesis did not catch up: ${JSON.stringify(st)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const count = (records: { logId: string }[], id: string) => records.filter((r) => r.logId === id).length;
      const before = await readStream(kinesis, 'console-dead-letters');
      // Three delivered records that the destination (in this fake) refused for good.
      const stored = (await allRecords()).slice(0, 3);
      const ids = stored.map((r) => r.record['log_id'] as string);
      onDb((db) => {
        const sinkId = (db.prepare("SELECT id FROM audit_log_sinks WHERE name = 'dl-kinesis'").get() as { id: string }).id;
        const insert = db.prepare('INSERT INTO audit_log_sink_dead_letters (sink_id, seq, log_id, reason, created_ms) VALUES (?, ?, ?, ?, ?)');
        for (const r of stored) insert.run(sinkId, r.sequence, r.record['log_id'], 'ValidationException: refused by the destination (faked)', Date.now());
        db.prepare('UPDATE audit_log_sinks SET dead_letter_count = dead_letter_count + 3 WHERE id = ?').run(sinkId);
      });
      await go('/settings/audit-logs/sinks/dl-kinesis');
      const rows = page.getByRole('table', { name: 'Dead letters' }).locator('tbody tr');
      await rows.first().waitFor(WAIT);
      assert.equal(await rows.count(), 3);
      for (const [i, id] of ids.entries()) {
        const cells = await rows.nth(i).locator('td').allInnerTexts();
        assert.equal(cells[0], String(stored[i]!.sequence));
        assert.equal(cells[1], id);
        assert.match(cells[2]!, /refused by the destination \(faked\)/);
      }
      await checkA11y(page, 'sink-dead-letters');
      await page.getByRole('button', { name: 'Replay dead letters' }).click();
      await page.getByText('No dead letters.').waitFor({ timeout: 30_000 });
      // Each dead letter went to the stream once more, and the replay is one audited change.
      const after = await readStream(kinesis, 'console-dead-letters');
      for (const id of ids) assert.equal(count(after, id), count(before, id) + 1, id);
      const replays = (await allRecords('&operation=UpdateAccount')).filter(
        (r) => (r.record['details'] as Record<string, unknown>)['sink_action'] === 'replay-dead-letters',
      );
      assert.deepEqual(
        replays.map((r) => [(r.record['details'] as Record<string, unknown>)['sink_name'], r.record['user_email']]),
        [['dl-kinesis', initial.email]],
      );
    } finally {
      kinesis.destroy();
      await api('DELETE', '/cloud/audit-log-sinks/dl-kinesis?resource_version=').catch(() => {});
    }
  });

  it('Pub/Sub: service account, topic and GCP project; the sink page shows the two gcloud grants with copy buttons', async () => {
    await go('/settings/audit-logs/setup');
    await page.getByLabel('GCP Pub/Sub').check();
    await page.getByLabel('Sink name').fill('pubsub-sink');
    await page.getByLabel('Service account').fill('audit-writer@customer-proj.iam.gserviceaccount.com');
    await page.getByLabel('Topic').fill('audit-topic');
    await page.getByLabel('GCP project').fill('customer-proj');
    await checkA11y(page, 'sink-setup-pubsub');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.waitForURL(/\/sinks\/pubsub-sink$/, WAIT);
    const commands = page.locator('ol.commands li');
    await commands.first().waitFor(WAIT);
    assert.equal(await commands.count(), 2);
    const texts = await page.locator('ol.commands code').allInnerTexts();
    assert.match(texts[0]!, /^gcloud .*audit-writer@customer-proj\.iam\.gserviceaccount\.com.*roles\/iam\.serviceAccountTokenCreator/s);
    assert.match(texts[1]!, /^gcloud pubsub topics add-iam-policy-binding audit-topic.*customer-proj.*roles\/pubsub\.publisher/s);
    await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: serve.url });
    await page.getByRole('button', { name: 'Copy command 2' }).click();
    await page.getByText('Copied').first().waitFor(WAIT);
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), texts[1]);
    await checkA11y(page, 'sink-detail-pubsub');
    await api('DELETE', `/cloud/audit-log-sinks/pubsub-sink?resource_version=`);
  });

  it('viewer: newest first, filters in the URL, keyset paging both ways, a record as JSON, export of the filter', async () => {
    // 60 records from the seeds, each with its own user email.
    await ingest(
      Array.from({ length: 60 }, (_, i) => {
        const r: Record<string, unknown> = { ...seeds[i % seeds.length]!, user_email: `viewer-${i}@example.com` };
        delete r['log_id'];
        return r;
      }),
    );
    const stored = await allRecords();
    await go('/audit-log');
    await page.locator('table.log tbody tr').first().waitFor(WAIT);
    const firstPage = await page.locator('table.log tbody tr td:nth-child(3)').allInnerTexts();
    const newestFirst = [...stored].reverse().map((r) => (r.record['user_email'] as string | undefined) || '—');
    assert.deepEqual(firstPage, newestFirst.slice(0, 25), 'newest first, one page');
    await checkA11y(page, 'viewer');

    await page.getByRole('button', { name: 'Older' }).click();
    await page.waitForURL(/cursor=/, WAIT);
    await page.locator('table.log[aria-busy="false"] tbody tr td:nth-child(3)', { hasText: newestFirst[25]! }).waitFor(WAIT);
    assert.deepEqual(await page.locator('table.log tbody tr td:nth-child(3)').allInnerTexts(), newestFirst.slice(25, 50));
    await page.getByRole('button', { name: 'Newer' }).click();
    await page.locator('table.log[aria-busy="false"] tbody tr td:nth-child(3)', { hasText: newestFirst[0]! }).waitFor(WAIT);
    assert.deepEqual(await page.locator('table.log tbody tr td:nth-child(3)').allInnerTexts(), newestFirst.slice(0, 25));

    // Filter: operation DeleteUser and status OK; the URL holds them.
    await page.getByLabel('Operation').fill('DeleteUser');
    await page.getByLabel('Status').selectOption('OK');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.waitForURL(/operation=DeleteUser.*status=OK|status=OK.*operation=DeleteUser/, WAIT);
    const wanted = [...stored].reverse().filter((r) => r.record['operation'] === 'DeleteUser' && r.record['status'] === 'OK');
    // aria-busy stays true while the previous page is shown in place of the one asked for.
    await page.locator('table.log[aria-busy="false"]').waitFor(WAIT);
    const ops = await page.locator('table.log tbody tr td:nth-child(2)').allInnerTexts();
    assert.equal(ops.length, Math.min(25, wanted.length));
    assert.ok(ops.every((o) => o === 'DeleteUser'));
    // Reload: the filters come back from the URL.
    await page.reload();
    assert.equal(await page.getByLabel('Operation').inputValue(), 'DeleteUser');

    // Detail: the record's JSON exactly as stored (the store's own text, read beside the API), and
    // the copy button copies those bytes.
    const logId = wanted[0]!.record['log_id'] as string;
    await page.getByRole('button', { name: `open record ${logId}` }).click();
    const db = new Database(join(dir, 'audit.db'), { readonly: true });
    const storedText = (
      db.prepare('SELECT record_json FROM audit_records WHERE account_id = ? AND log_id = ?').get(initial.account_id, logId) as { record_json: string }
    ).record_json;
    db.close();
    await page.getByLabel('Record JSON').waitFor(WAIT);
    const json = await page.getByLabel('Record JSON').innerText();
    assert.equal(json, storedText, 'the stored bytes, not a re-serialization');
    assert.deepEqual(JSON.parse(json), wanted[0]!.record);
    await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: serve.url });
    await page.getByRole('button', { name: 'Copy JSON' }).click();
    await page.locator('.detail').getByText('Copied').waitFor(WAIT);
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), storedText);
    await checkA11y(page, 'viewer-detail');

    // Export of the current filter: JSONL and CSV.
    const jsonl = page.waitForEvent('download', WAIT);
    await page.getByRole('link', { name: 'Export JSONL' }).click();
    const jsonlFile = join(dir, 'export.jsonl');
    await (await jsonl).saveAs(jsonlFile);
    const lines = readFileSync(jsonlFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { record: Record<string, unknown> });
    assert.equal(lines.length, wanted.length);
    assert.ok(lines.every((l) => l.record['operation'] === 'DeleteUser' && l.record['status'] === 'OK'));
    const csv = page.waitForEvent('download', WAIT);
    await page.getByRole('link', { name: 'Export CSV' }).click();
    const csvFile = join(dir, 'export.csv');
    await (await csv).saveAs(csvFile);
    assert.equal(readFileSync(csvFile, 'utf8').trim().split('\n').length, wanted.length + 1, 'a header and one line per record');

    // A bad filter is the server's clear error, not a blank page.
    await go('/audit-log?since=yesterday-ish');
    await page.getByRole('alert').filter({ hasText: 'since' }).waitFor(WAIT);
  });

  it('a mutation made in the console shows in the viewer, and live mode shows new records', async () => {
    await go('/settings/audit-logs/sinks/auto-kinesis');
    // Replay a time range: the last hour, up to now.
    const hourAgo = new Date(Date.now() - 3_600_000);
    const local = new Date(hourAgo.getTime() - hourAgo.getTimezoneOffset() * 60_000).toISOString().slice(0, 19);
    await page.getByLabel('Replay from').fill(local);
    await page.getByRole('button', { name: 'Replay', exact: true }).click();
    await page.getByText(/^Replay rpl_\w+: records \d+–\d+/).waitFor(WAIT);
    const replays = (await allRecords('&operation=UpdateAccount')).filter((r) => (r.record['details'] as Record<string, unknown>)['sink_action'] === 'replay');
    assert.equal(replays.length, 1, 'one UpdateAccount record for the replay');
    assert.equal((replays[0]!.record['details'] as Record<string, unknown>)['sink_name'], 'auto-kinesis');
    await page.getByRole('button', { name: 'Disable' }).click();
    await page.locator('.heading-row .badge', { hasText: /^Paused$/ }).waitFor(WAIT);
    await go('/audit-log?operation=UpdateAccount');
    await page.locator('table.log tbody tr').first().waitFor(WAIT);
    await page.locator('table.log tbody tr').first().getByRole('button').click();
    const rec = JSON.parse(await page.getByLabel('Record JSON').innerText()) as { user_email: string; details: Record<string, unknown> };
    assert.equal(rec.user_email, initial.email);
    assert.equal(rec.details['sink_name'], 'auto-kinesis');
    assert.equal(rec.details['sink_enabled'], false);

    await go('/audit-log');
    await page.getByLabel('Live').check();
    await ingest(
      [{ ...seeds[0]!, log_id: undefined, user_email: 'live-record@example.com' }].map((r) => JSON.parse(JSON.stringify(r)) as Record<string, unknown>),
    );
    await page.locator('table.log tbody tr td:nth-child(3)', { hasText: 'live-record@example.com' }).waitFor(WAIT);
    await page.getByText(/1 new record/).waitFor(WAIT);
  });

  /** Invites a user from the console's Users page (signed in as the owner); returns the one-time link. */
  const inviteInConsole = async (email: string, role: string): Promise<string> => {
    await go('/settings/users');
    await page.getByRole('heading', { name: 'Invite a user' }).waitFor(WAIT);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Role').selectOption({ label: role });
    await page.getByRole('button', { name: 'Invite' }).click();
    const link = await page.locator('code.secret').innerText();
    assert.match(link, /\/accept-invite#token=/);
    await page.getByRole('cell', { name: email, exact: true }).waitFor(WAIT);
    return link;
  };
  /** A second browser context that accepts `link`, sets a password and signs in. */
  const acceptAndSignIn = async (link: string, email: string, password: string, shotName?: string) => {
    const other = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const p = await other.newPage();
    await p.goto(link);
    await p.getByRole('heading', { name: 'Accept invitation' }).waitFor(WAIT);
    if (shotName) await checkA11y(p, shotName);
    await p.getByLabel('Password', { exact: true }).fill(password);
    await p.getByLabel('Repeat password').fill(password);
    await p.getByRole('button', { name: 'Set password' }).click();
    await p.getByRole('link', { name: 'Sign in' }).click();
    await p.getByLabel('Email').fill(email);
    await p.getByLabel('Password').fill(password);
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.getByRole('heading', { name: 'Settings' }).waitFor(WAIT);
    return { other, p };
  };

  it('a Read-Only user (invited in the console, accepts the link) sees no audit-log pages and no mutation buttons; the server refuses anyway', async () => {
    const link = await inviteInConsole('reader@example.com', 'Read-Only');
    await checkA11y(page, 'users');
    const invites = (await allRecords('&operation=InviteUsers')).filter((r) => JSON.stringify(r.record['details']).includes('reader@example.com'));
    // The same two calls as through the API (CreateUser, then the one-time link): one record each.
    assert.equal(invites.length, 2, 'one InviteUsers record for CreateUser and one for the invitation link');
    const { other, p } = await acceptAndSignIn(link, 'reader@example.com', 'reader-password-42', 'accept-invite');
    try {
      assert.match(await p.locator('body').innerText(), /Read-Only/);
      assert.equal(await p.getByRole('link', { name: 'Audit Logs' }).count(), 0);
      assert.equal(await p.getByRole('link', { name: 'Audit log' }).count(), 0);
      assert.deepEqual(await p.getByRole('button').allInnerTexts(), ['Sign out'], 'no mutation button');
      await checkA11y(p, 'settings-read-only');
      for (const [path, heading] of [
        ['/settings/users', 'Users'],
        ['/settings/api-keys', 'API keys'],
      ] as const) {
        await p.goto(`${serve.url}${path}`);
        await p.getByRole('heading', { name: heading }).waitFor(WAIT);
        await p.locator('table, p.muted').first().waitFor(WAIT);
        assert.deepEqual(await p.getByRole('button').allInnerTexts(), ['Sign out'], `${path}: no mutation button`);
        await checkA11y(p, `${path.split('/').pop()!}-read-only`);
      }
      await p.goto(`${serve.url}/audit-log`);
      await p.getByRole('heading', { name: 'Not available' }).waitFor(WAIT);
      // The server is the authority: the session's own read is refused.
      const status = await p.evaluate(async () => (await fetch('/api/v1/audit-logs')).status);
      assert.equal(status, 403);
    } finally {
      await other.close();
    }
  });

  it('a Developer sees no audit-log pages, and creates an API key shown once that works', async () => {
    const link = await inviteInConsole('dev@example.com', 'Developer');
    const { other, p } = await acceptAndSignIn(link, 'dev@example.com', 'developer-password-42');
    try {
      assert.equal(await p.getByRole('link', { name: 'Audit log' }).count(), 0);
      assert.equal(await p.getByRole('link', { name: 'Audit Logs' }).count(), 0);
      await p.goto(`${serve.url}/settings/audit-logs`);
      await p.getByRole('heading', { name: 'Not available' }).waitFor(WAIT);
      await p.goto(`${serve.url}/settings/api-keys`);
      await p.getByLabel('Display name').fill('dev laptop');
      await p.getByRole('button', { name: 'Create API key' }).click();
      const secret = await p.locator('code.secret').innerText();
      await checkA11y(p, 'api-keys');
      const who = await fetch(`${serve.url}/cloud/current-identity`, { headers: { authorization: `Bearer ${secret}` } });
      assert.equal(who.status, 200, await who.clone().text());
      assert.match(await who.text(), /dev@example\.com/);
      await p.getByRole('cell', { name: 'dev laptop', exact: true }).waitFor(WAIT);
      const stored = await p.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
      assert.ok(!stored.includes(secret), 'the key is not kept in browser storage');
      const created = (await allRecords('&operation=CreateAPIKey')).filter((r) => r.record['user_email'] === 'dev@example.com');
      assert.equal(created.length, 1, 'one CreateAPIKey record, by the developer');
    } finally {
      await other.close();
    }
  });

  it('Integrity: the last signed checkpoints, Verify now says Intact, and names the first broken link after tampering', async () => {
    await go('/integrity');
    await page.getByText(/No checkpoint yet/).waitFor(WAIT);
    // The operator signs the heads now (the server does so every few minutes).
    const signed = await runCli(['checkpoint'], { DATABASE_URL: join(dir, 'audit.db'), AUDITSTREAM_DATA_DIR: join(dir, 'data') }, dir);
    assert.equal(signed.code, 0, signed.stderr);
    await page.reload();
    await page.locator('table tbody tr').first().waitFor(WAIT);
    const keyId = (await page.locator('table tbody tr td:nth-child(4)').first().innerText()).trim();
    assert.match(keyId, /^[0-9a-f]{16}$/);
    await page.getByRole('button', { name: 'Verify now' }).click();
    const result = page.locator('.verify-result p');
    await result.waitFor(WAIT);
    const said = await result.innerText();
    assert.match(said, /^Intact \d+ records checked \(sequence 1–\d+\), [1-9]\d* signed checkpoints checked/, said);
    await checkA11y(page, 'integrity');

    // Edit one stored record behind the server's back (the append-only guards dropped first).
    let tampered: number;
    const db = new Database(join(dir, 'audit.db'));
    try {
      db.exec('DROP TRIGGER IF EXISTS audit_records_no_update; DROP TRIGGER IF EXISTS audit_records_no_delete;');
      const row = db.prepare(`SELECT seq FROM audit_records WHERE account_id = ? AND record_json LIKE '%"viewer-5@example.com"%'`).get(initial.account_id) as {
        seq: number;
      };
      db.prepare(
        `UPDATE audit_records SET record_json = replace(record_json, '"viewer-5@example.com"', '"someone-else@example.com"') WHERE account_id = ? AND seq = ?`,
      ).run(initial.account_id, row.seq);
      tampered = row.seq;
    } finally {
      db.close();
    }
    await page.getByRole('button', { name: 'Verify now' }).click();
    await page.locator('.verify-result p', { hasText: 'Broken' }).waitFor(WAIT);
    assert.match(await page.locator('.verify-result p').innerText(), new RegExp(`^Broken at sequence ${tampered}: `));

    // The record put back, its copy for filtered searches edited instead: the chain verifies, the
    // search index does not, and the console says which.
    const db2 = new Database(join(dir, 'audit.db'));
    try {
      db2.pragma('busy_timeout = 5000');
      const { id } = db2
        .prepare(
          `UPDATE audit_records SET record_json = replace(record_json, '"someone-else@example.com"', '"viewer-5@example.com"') WHERE account_id = ? AND seq = ? RETURNING id`,
        )
        .get(initial.account_id, tampered) as { id: number };
      const deadline = Date.now() + 10_000;
      while ((db2.prepare('SELECT id FROM audit_filter_mark').get() as { id: number }).id < id && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
      db2.prepare("UPDATE audit_filter SET user_email = 'hidden@example.com' WHERE id = ?").run(id);
    } finally {
      db2.close();
    }
    await page.getByRole('button', { name: 'Verify now' }).click();
    await page.locator('.verify-result p', { hasText: 'Search index differs' }).waitFor(WAIT);
    assert.match(
      await page.locator('.verify-result p').innerText(),
      new RegExp(`^Search index differs at sequence ${tampered}: the search index's copy of this record differs in user_email`),
    );
  });

  it('sign out ends the session: the API answers 401 and the console asks to sign in', async () => {
    await go('/settings');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/sign-in/, WAIT);
    const status = await page.evaluate(async () => (await fetch('/api/v1/audit-logs')).status);
    assert.equal(status, 401);
    await go('/settings/audit-logs');
    await page.waitForURL(/\/sign-in\?redirect=%2Fsettings%2Faudit-logs/, WAIT);
  });
});

describe('web console over TLS', () => {
  it('is served over HTTPS when TLS is configured: headers, HSTS, a Secure session cookie, sign-in in Chromium', async () => {
    const tls = makeTestTls();
    const dir = mkdtempSync(join(tmpdir(), 'auditstream-console-tls-'));
    writeFileSync(join(dir, 'cert.pem'), tls.certPem);
    writeFileSync(join(dir, 'key.pem'), tls.keyPem);
    const serve = await startServe(
      {
        DATABASE_URL: join(dir, 'audit.db'),
        AUDITSTREAM_DATA_DIR: join(dir, 'data'),
        AUDITSTREAM_TLS_CERT: join(dir, 'cert.pem'),
        AUDITSTREAM_TLS_KEY: join(dir, 'key.pem'),
      },
      dir,
    );
    let browser: Browser | undefined;
    try {
      browser = await launchChromium();
      assert.match(serve.url, /^https:\/\//);
      const initial = JSON.parse(readFileSync(join(dir, 'data', 'initial-admin.json'), 'utf8')) as Initial;
      const ctx = await browser.newContext({ ignoreHTTPSErrors: true });
      const page = await ctx.newPage();
      const res = await page.goto(`${serve.url}/settings`);
      const headers = res!.headers();
      assert.match(headers['content-security-policy'] ?? '', /frame-ancestors 'none'/);
      assert.match(headers['strict-transport-security'] ?? '', /max-age=\d+/);
      await page.waitForURL(/\/sign-in/, WAIT);
      await page.getByLabel('Email').fill(initial.email);
      await page.getByLabel('Password').fill(initial.password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'Audit Logs' }).waitFor(WAIT);
      const cookie = (await ctx.cookies()).find((c) => c.name === 'auditstream_session');
      assert.ok(cookie?.secure && cookie.httpOnly, 'the session cookie is Secure and HttpOnly over TLS');
    } finally {
      await browser?.close();
      serve.child.kill('SIGTERM');
      await serve.exited;
      rmSync(dir, { recursive: true, force: true });
      tls.cleanup();
    }
  });
});
