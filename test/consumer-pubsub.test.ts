/**
 * `auditstream consume --pubsub-subscription` end to end: the real `auditstream serve` delivers
 * to a topic on the Pub/Sub emulator (ordering key = account id); the real consumer reads an
 * ordered subscription with streaming pull into a directory, is SIGKILLed mid-run (its unacked
 * messages come again after the ack deadline and are deduped), and in the end its output equals
 * the store record for record and the proof verifies through the last checkpoint. A missing
 * subscription is one line and exit 2.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { PubSub } from '@google-cloud/pubsub';
import { runCli, startServe, type ServeHandle, stopServe, startConsume } from './helpers/cli.js';
import { emulatorClient, startPubSubEmulator, type PubSubEmulator } from './helpers/pubsub-emulator.js';
import { until } from './helpers/fake-sink.js';
import { ingestSeeds } from './helpers/records.js';

const PROJECT = 'consume-e2e';
const SUBSCRIPTION = `projects/${PROJECT}/subscriptions/audit-sub`;

describe('auditstream consume: Pub/Sub on the emulator', () => {
  let emulator: PubSubEmulator;
  let admin: PubSub;
  let dir: string;
  let serve: ServeHandle;
  let dbUrl: string;
  let apiKey: string;
  let accountId: string;
  let pubKey: string;
  let env: Record<string, string>;

  before(async () => {
    emulator = await startPubSubEmulator();
    admin = emulatorClient(emulator, PROJECT);
    const [topic] = await admin.createTopic('audit');
    // A short ack deadline: what a killed consumer held comes again within seconds.
    await topic.createSubscription('audit-sub', { enableMessageOrdering: true, ackDeadlineSeconds: 10 });
    dir = mkdtempSync(join(tmpdir(), 'auditstream-consume-pubsub-'));
    dbUrl = join(dir, 'audit.db');
    env = { PUBSUB_EMULATOR_HOST: emulator.host };
    serve = await startServe(
      {
        ...env,
        DATABASE_URL: dbUrl,
        AUDITSTREAM_DATA_DIR: join(dir, 'data'),
        AUDITSTREAM_FLUSH_INTERVAL_MS: '100',
        AUDITSTREAM_CHECKPOINT_INTERVAL_MS: '1000',
        AUDITSTREAM_GCP_SERVICE_ACCOUNT: 'auditstream@operator-proj.iam.gserviceaccount.com',
      },
      dir,
    );
    const initial = JSON.parse(readFileSync(join(dir, 'data', 'initial-admin.json'), 'utf8')) as { account_id: string; api_key: string };
    apiKey = initial.api_key;
    accountId = initial.account_id;
    const r = await runCli(
      [
        'sinks',
        'create',
        'ps',
        '--pubsub-topic',
        'audit',
        '--pubsub-project',
        PROJECT,
        '--pubsub-service-account',
        'audit-publisher@customer-proj.iam.gserviceaccount.com',
      ],
      {
        AUDITSTREAM_URL: serve.url,
        AUDITSTREAM_API_KEY: apiKey,
      },
    );
    assert.equal(r.code, 0, r.stderr);
    const keys = await runCli(['keys', 'public'], { AUDITSTREAM_DATA_DIR: join(dir, 'data') }, dir);
    assert.equal(keys.code, 0, keys.stderr);
    pubKey = join(dir, 'operator.pub.pem');
    writeFileSync(pubKey, keys.stdout);
  });

  after(async () => {
    await stopServe(serve);
    await admin?.close().catch(() => {});
    await emulator?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const chain = async () => {
    const res = await fetch(`${serve.url}/api/v1/audit-logs/export?format=jsonl`, { headers: { authorization: `Bearer ${apiKey}` } });
    const lines = (await res.text())
      .trim()
      .split('\n')
      .map((line) => line.slice(line.indexOf(',"record":') + ',"record":'.length, -1));
    const from = lines.findIndex((t) => t.includes('"operation":"UpdateAccount"') && t.includes('"sink_action":"create"'));
    return lines.slice(from);
  };
  let n = 0;
  const ingest = async (count: number) => {
    const first = n;
    n += count;
    await ingestSeeds(serve.url, apiKey, count, first, 'ps');
  };
  const settled = () => until(async () => (await chain()).at(-1)!.includes('"operation":"ChainCheckpoint"'), 'a checkpoint after the last record', 15_000, 200);
  const outDir = () => join(dir, 'out');
  const outputLines = () =>
    existsSync(outDir())
      ? readdirSync(outDir())
          .sort()
          .flatMap((f) =>
            gunzipSync(readFileSync(join(outDir(), f)))
              .toString('utf8')
              .split('\n')
              .filter(Boolean),
          )
      : [];
  const start = (extra: string[]) =>
    startConsume(
      ['--pubsub-subscription', SUBSCRIPTION, '--output', outDir(), '--checkpoint-db', join(dir, 'consumer.db'), '--public-key', pubKey, ...extra],
      env,
      dir,
    );

  it('reads the ordered subscription through a SIGKILL: output equals the store record for record, verified through the last checkpoint', async () => {
    const first = start([]);
    await ingest(20);
    await settled();
    await until(() => outputLines().length > 0, 'the first consumer wrote something', 15_000, 50);
    await ingest(20);
    first.child.kill('SIGKILL');
    await first.exited;
    const report = join(dir, 'report.json');
    // Longer than the ack deadline: what the killed consumer held but had not acknowledged comes again.
    const second = start(['--exit-when-idle', '12s', '--json-report', report]);
    for (let i = 0; i < 3; i++) {
      await ingest(15);
      await settled();
    }
    assert.equal(await second.exited, 0, second.stderr());
    const expected = await chain();
    assert.deepEqual(outputLines(), expected, 'every delivered record once, in chain order, byte for byte');
    const last = JSON.parse(expected.at(-1)!) as { operation: string; details: { sequence: number } };
    assert.equal(last.operation, 'ChainCheckpoint');
    const acc = (
      JSON.parse(readFileSync(report, 'utf8')) as { accounts: { account: string; status: string; verified_through_sequence: number; problems: string[] }[] }
    ).accounts;
    assert.deepEqual(
      acc.map((a) => [a.account, a.status, a.verified_through_sequence, a.problems]),
      [[accountId, 'verified', last.details.sequence, []]],
    );
  });

  it('a missing subscription is one line and exit 2', async () => {
    const r = await runCli(['consume', '--pubsub-subscription', `projects/${PROJECT}/subscriptions/nope`, '--checkpoint-db', join(dir, 'x.db')], env, dir);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /subscription projects\/consume-e2e\/subscriptions\/nope does not exist/);
  });
});
