/**
 * Audit log sinks end to end, as an operator runs them: the real `auditstream serve` process
 * (SQLite; AWS_ENDPOINT_URL pointing at moto_server with dummy credentials; PUBSUB_EMULATOR_HOST
 * pointing at the Pub/Sub emulator), managed with the `auditstream sinks` CLI through the API
 * (AUDITSTREAM_URL, AUDITSTREAM_API_KEY = the owner key serve's first start wrote to
 * initial-admin.json). Records made by control-plane calls (CreateNamespace over `/cloud/...`)
 * and by ingest (POST /api/v1/audit-logs with the owner key) are read back from the Kinesis
 * stream (AWS SDK) and from a Pub/Sub subscription with message ordering (official client): in
 * chain order, each byte-equal to the record `auditstream logs` shows. The sink RPCs answer over
 * gRPC too (plaintext listener, raw grpc-js client). Then: status, pause and resume from the
 * cursor, replay, delete (nothing more arrives), and the CLI's errors.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { Message, PubSub, Subscription } from '@google-cloud/pubsub';
import { runCli, startServe, type CliResult, type ServeHandle, stopServe } from './helpers/cli.js';
import { awsEnvFor, createStream, kinesisClient, MOTO_ACCOUNT, startMoto, type Moto } from './helpers/moto.js';
import { createOrderedTopic, emulatorClient, startPubSubEmulator, type PubSubEmulator } from './helpers/pubsub-emulator.js';
import { until } from './helpers/fake-sink.js';
import * as grpc from '@grpc/grpc-js';
import { findCloudMethod } from '../src/api/cloud/proto.js';
import { KPL_MAGIC } from '../src/sinks/kinesis/aggregate.js';
import { deaggregate } from './helpers/kpl.js';
import { ingestSeeds } from './helpers/records.js';

const STREAM = 'e2e-audit';
const STREAM_ARN = `arn:aws:kinesis:us-east-1:${MOTO_ACCOUNT}:stream/${STREAM}`;
const PROJECT = 'auditstream-e2e';
const TOPIC = 'audit-e2e';
const SERVICE_ACCOUNT = 'audit-publisher@customer-proj.iam.gserviceaccount.com';
/** "Within a few seconds": the flush interval is 100 ms here. */
const ARRIVAL_MS = 5000;

/** Every record in the stream as the bytes' text, in stream order. */
async function readStreamText(client: KinesisClient): Promise<string[]> {
  const shards = await client.send(new ListShardsCommand({ StreamName: STREAM }));
  const out: string[] = [];
  for (const s of shards.Shards ?? []) {
    let it = (await client.send(new GetShardIteratorCommand({ StreamName: STREAM, ShardId: s.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }))).ShardIterator;
    for (;;) {
      const page = await client.send(new GetRecordsCommand({ ShardIterator: it!, Limit: 10_000 }));
      for (const r of page.Records ?? []) out.push(Buffer.from(r.Data!).toString('utf8'));
      if (!page.Records?.length || !page.NextShardIterator) break;
      it = page.NextShardIterator;
    }
  }
  return out;
}

const logIdOf = (text: string) => (JSON.parse(text) as { log_id: string }).log_id;
const isVerify = (text: string) => (JSON.parse(text) as { operation: string }).operation === 'VerifyAuditLogSink';

/** A chain line as `auditstream logs --format jsonl` prints it: the record text is embedded verbatim. */
interface ChainLine {
  sequence: number;
  text: string;
  logId: string;
}

/** One line of stderr, nothing on stdout, no stack trace: what a person can act on. */
function oneLineError(r: CliResult, code: 1 | 2, pattern: RegExp, label: string): void {
  assert.equal(r.code, code, `${label}: exit ${r.code}, stderr ${r.stderr}`);
  assert.equal(r.stdout, '', `${label}: stdout`);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, `${label}: one line: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\n\s+at /, `${label}: no stack trace`);
  assert.match(r.stderr, pattern, label);
}

describe('sinks end to end: serve + the sinks CLI, Kinesis on moto and Pub/Sub on the emulator', () => {
  let moto: Moto;
  let emulator: PubSubEmulator;
  let admin: PubSub;
  let kinesis: KinesisClient;
  let sub: Subscription;
  /** Messages received on the ordered subscription, in delivery order. */
  const received: Message[] = [];
  let dir: string;
  let serve: ServeHandle;
  let env: Record<string, string>;
  let cliEnv: Record<string, string>;
  let accountId: string;
  let apiKey: string;

  before(async () => {
    [moto, emulator] = await Promise.all([startMoto(), startPubSubEmulator()]);
    kinesis = kinesisClient(moto.url);
    admin = emulatorClient(emulator, PROJECT);
    await createStream(kinesis, STREAM);
    sub = await createOrderedTopic(admin, TOPIC, `${TOPIC}-sub`);
    sub.on('message', (m: Message) => {
      received.push(m);
      m.ack();
    });
    dir = mkdtempSync(join(tmpdir(), 'auditstream-sinks-e2e-'));
    env = {
      DATABASE_URL: join(dir, 'audit.db'),
      AUDITSTREAM_DATA_DIR: join(dir, 'data'),
      AUDITSTREAM_FLUSH_INTERVAL_MS: '100',
      ...awsEnvFor(moto.url),
      PUBSUB_EMULATOR_HOST: emulator.host,
      AUDITSTREAM_AWS_PRINCIPAL_ARN: 'arn:aws:iam::999988887777:role/auditstream',
      AUDITSTREAM_CFN_TEMPLATE_URL: 'https://example-bucket.s3.amazonaws.com/auditstream-kinesis-role.json',
      AUDITSTREAM_GCP_SERVICE_ACCOUNT: 'auditstream@operator-proj.iam.gserviceaccount.com',
    };
    serve = await startServe(env, dir);
    const initial = JSON.parse(readFileSync(join(dir, 'data', 'initial-admin.json'), 'utf8')) as { account_id: string; api_key: string };
    accountId = initial.account_id;
    apiKey = initial.api_key;
    cliEnv = { AUDITSTREAM_URL: serve.url, AUDITSTREAM_API_KEY: apiKey };
  });

  after(async () => {
    await stopServe(serve);
    sub?.removeAllListeners('message');
    await sub?.close().catch(() => {});
    await admin?.close().catch(() => {});
    kinesis?.destroy();
    await Promise.all([moto?.stop(), emulator?.stop()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const sinks = (...args: string[]) => runCli(['sinks', ...args], cliEnv, dir);
  const json = <T>(r: CliResult, label: string): T => {
    assert.equal(r.code, 0, `${label}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };
  const parseLines = (stdout: string): ChainLine[] =>
    stdout
      .trim()
      .split('\n')
      .map((line) => {
        const text = line.slice(line.indexOf(',"record":') + ',"record":'.length, -1);
        return { sequence: (JSON.parse(line) as { sequence: number }).sequence, text, logId: logIdOf(text) };
      });
  /** The account's chain as `auditstream logs --all --format jsonl` shows it (straight from the database), oldest first. */
  const chainFromCli = async (): Promise<ChainLine[]> => {
    const r = await runCli(['logs', '--account', accountId, '--all', '--format', 'jsonl'], { DATABASE_URL: env['DATABASE_URL']! }, dir);
    assert.equal(r.code, 0, r.stderr);
    return parseLines(r.stdout);
  };
  /**
   * The same through the API's export (the same envelope, the record text embedded verbatim):
   * a CLI process costs about a second here, so most checks read this, and one test asserts the
   * two agree byte for byte.
   */
  const chain = async (): Promise<ChainLine[]> => {
    const res = await fetch(`${serve.url}/api/v1/audit-logs/export?format=jsonl`, { headers: { authorization: `Bearer ${apiKey}` } });
    assert.equal(res.status, 200);
    return parseLines(await res.text());
  };
  const kinesisLive = async () => (await readStreamText(kinesis)).filter((t) => !isVerify(t));
  const pubsubLive = () => received.map((m) => m.data.toString('utf8')).filter((t) => !isVerify(t));
  /** Control-plane call over the Ops API's HTTP mapping, as the owner. */
  let namespaces = 0;
  const createNamespace = async () => {
    const res = await fetch(`${serve.url}/cloud/namespaces`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ spec: { name: `e2e-ns-${++namespaces}`, regions: ['aws-us-east-1'], retention_days: 7, api_key_auth: { enabled: true } } }),
    });
    assert.equal(res.status, 200, await res.clone().text());
  };
  const ingest = (n: number) => ingestSeeds(serve.url, apiKey, n, 0, 'e2e');
  /** Both destinations hold exactly these chain records (verify probes aside), in order, byte for byte. */
  const bothHold = async (kin: ChainLine[], ps: ChainLine[]) => {
    await until(async () => (await kinesisLive()).length >= kin.length && pubsubLive().length >= ps.length, 'both destinations caught up', ARRIVAL_MS, 100);
    assert.deepEqual(
      await kinesisLive(),
      kin.map((l) => l.text),
      'Kinesis: every record in chain order, byte-equal to `auditstream logs`',
    );
    assert.deepEqual(
      pubsubLive(),
      ps.map((l) => l.text),
      'Pub/Sub: every record in chain order, byte-equal to `auditstream logs`',
    );
  };
  let kinFrom = 0;
  let psFrom = 0;

  it('creates a Kinesis and a Pub/Sub sink with the CLI; verify says Success and each test record is read back', async () => {
    const kin = json<{ name: string; health: string; spec: { enabled: boolean; kinesisSink: { destinationUri: string } } }>(
      await sinks('create', 'kin', '--kinesis-stream-arn', STREAM_ARN, '--kinesis-role-name', 'auditstream-writer', '--kinesis-region', 'us-east-1'),
      'create kin',
    );
    assert.equal(kin.name, 'kin');
    assert.equal(kin.spec.enabled, true);
    assert.equal(kin.spec.kinesisSink.destinationUri, STREAM_ARN);
    const ps = json<{ name: string; spec: { pubSubSink: { topicName: string } } }>(
      await sinks('create', 'ps', '--pubsub-topic', TOPIC, '--pubsub-project', PROJECT, '--pubsub-service-account', SERVICE_ACCOUNT),
      'create ps',
    );
    assert.equal(ps.spec.pubSubSink.topicName, TOPIC);
    const list = json<{ name: string }[]>(await sinks('list'), 'list');
    assert.deepEqual(
      list.map((s) => s.name),
      ['kin', 'ps'],
    );

    const lines = await chain();
    const created = lines.filter((l) => /"operation":"UpdateAccount"/.test(l.text) && /"sink_action":"create"/.test(l.text));
    assert.deepEqual(
      created.map((l) => (JSON.parse(l.text) as { details: { sink_name: string } }).details.sink_name),
      ['kin', 'ps'],
    );
    kinFrom = created[0]!.sequence;
    psFrom = created[1]!.sequence;

    const [vk, vp] = await Promise.all([sinks('verify', 'kin'), sinks('verify', 'ps')]);
    const k = json<{ status: string; log_id: string }>(vk, 'verify kin');
    const p = json<{ status: string; log_id: string }>(vp, 'verify ps');
    assert.equal(k.status, 'Success');
    assert.equal(p.status, 'Success');
    await until(
      async () => (await readStreamText(kinesis)).some((t) => logIdOf(t) === k.log_id) && received.some((m) => m.attributes['log_id'] === p.log_id),
      'the verify records',
      ARRIVAL_MS,
      100,
    );
    const probe = JSON.parse((await readStreamText(kinesis)).find((t) => logIdOf(t) === k.log_id)!) as Record<string, unknown>;
    assert.equal(probe['operation'], 'VerifyAuditLogSink');
    assert.equal(probe['category'], 'LOG_CATEGORY_SYSTEM');
    const pm = received.find((m) => m.attributes['log_id'] === p.log_id)!;
    assert.equal((JSON.parse(pm.data.toString('utf8')) as { operation: string }).operation, 'VerifyAuditLogSink');
    assert.equal(pm.orderingKey, accountId);
    // Each probe went to its own destination only, and never into the chain.
    assert.ok(!(await readStreamText(kinesis)).some((t) => logIdOf(t) === p.log_id));
    assert.ok(!received.some((m) => m.attributes['log_id'] === k.log_id));
    const ids = new Set((await chain()).map((l) => l.logId));
    assert.ok(!ids.has(k.log_id) && !ids.has(p.log_id));
  });

  it('control-plane calls and ingested records arrive in both, in chain order, byte-equal to `auditstream logs`, within seconds; status shows ok and backlog 0', async () => {
    await createNamespace();
    await ingest(5);
    await createNamespace();
    const lines = await chainFromCli();
    assert.deepEqual(await chain(), lines, 'the API export shows what `auditstream logs` shows');
    await bothHold(
      lines.filter((l) => l.sequence >= kinFrom),
      lines.filter((l) => l.sequence >= psFrom),
    );
    // Pub/Sub attributes and ordering key, for consumers that dedupe and order.
    for (const m of received.filter((x) => !isVerify(x.data.toString('utf8')))) {
      const line = lines.find((l) => l.logId === m.attributes['log_id'])!;
      assert.deepEqual({ ...m.attributes }, { log_id: line.logId, account_id: accountId, sequence: String(line.sequence) });
      assert.equal(m.orderingKey, accountId);
    }
    for (const name of ['kin', 'ps']) {
      let st: { health: string; backlog: number; enabled: boolean; lastSuccessMs: number | null } | undefined;
      await until(
        async () => {
          st = json<typeof st>(await sinks('status', name), `status ${name}`);
          return st!.backlog === 0;
        },
        `${name} backlog 0`,
        ARRIVAL_MS,
        200,
      );
      assert.equal(st!.health, 'ok');
      assert.equal(st!.enabled, true);
      assert.ok(st!.lastSuccessMs !== null);
      const got = json<{ health: string; lastSucceededTime?: string }>(await sinks('get', name), `get ${name}`);
      assert.equal(got.health, 'HEALTH_OK');
      assert.ok(got.lastSucceededTime, 'last_succeeded_time');
    }
  });

  it('the sink RPCs over gRPC: list with health, and Validate refused FAILED_PRECONDITION naming the cause', async () => {
    const listening = serve.lines.map((l) => JSON.parse(l) as { msg?: string; grpc?: string }).find((l) => l.msg === 'auditstream listening')!;
    const client = new grpc.Client(listening.grpc!, grpc.credentials.createInsecure());
    const call = (rpc: string, req: Record<string, unknown>) => {
      const m = findCloudMethod(rpc)!;
      const meta = new grpc.Metadata();
      meta.set('authorization', `Bearer ${apiKey}`);
      return new Promise<Record<string, unknown>>((resolve, reject) => {
        client.makeUnaryRequest(
          `/temporal.api.cloud.cloudservice.v1.CloudService/${rpc}`,
          (r: Record<string, unknown>) => Buffer.from(m.requestType.encode(m.requestType.fromObject(r)).finish()),
          (b: Buffer) => m.responseType.toObject(m.responseType.decode(b), { enums: String, longs: String, defaults: true }) as Record<string, unknown>,
          req,
          meta,
          (err, value) => (err ? reject(err) : resolve(value!)),
        );
      });
    };
    try {
      const list = await call('GetAccountAuditLogSinks', {});
      const got = (list['sinks'] as { name: string; health: string; state: string }[]).map((x) => [x.name, x.health, x.state]);
      assert.deepEqual(got, [
        ['kin', 'HEALTH_OK', 'RESOURCE_STATE_ACTIVE'],
        ['ps', 'HEALTH_OK', 'RESOURCE_STATE_ACTIVE'],
      ]);
      const missing = `arn:aws:kinesis:us-east-1:${MOTO_ACCOUNT}:stream/no-such-stream`;
      await assert.rejects(
        call('ValidateAccountAuditLogSink', {
          spec: { name: 'probe', enabled: true, kinesisSink: { roleName: 'w', destinationUri: missing, region: 'us-east-1' } },
        }),
        (err: grpc.ServiceError) => err.code === grpc.status.FAILED_PRECONDITION && /verification failed \(destination_not_found\)/.test(err.details),
      );
    } finally {
      client.close();
    }
  });

  it('update --disable pauses (nothing arrives); --enable resumes from the cursor (everything arrives, once, in order)', async () => {
    const [dk, dp] = await Promise.all([sinks('update', 'kin', '--disable'), sinks('update', 'ps', '--disable')]);
    assert.equal(json<{ spec: { enabled?: boolean } }>(dk, 'disable kin').spec.enabled ?? false, false);
    assert.equal(json<{ spec: { enabled?: boolean } }>(dp, 'disable ps').spec.enabled ?? false, false);
    const kinBefore = (await kinesisLive()).length;
    const psBefore = pubsubLive().length;
    await ingest(3);
    await createNamespace();
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal((await kinesisLive()).length, kinBefore, 'Kinesis: nothing while paused');
    assert.equal(pubsubLive().length, psBefore, 'Pub/Sub: nothing while paused');
    const st = json<{ enabled: boolean; backlog: number }>(await sinks('status', 'kin'), 'status while paused');
    assert.equal(st.enabled, false);
    // Its own pause record and the four that followed (the other sink's pause record may have
    // committed first, and been delivered, since the two updates run side by side).
    assert.ok(st.backlog >= 5, `backlog ${st.backlog}: its pause record and what followed`);

    await Promise.all([sinks('update', 'kin', '--enable'), sinks('update', 'ps', '--enable')]).then((rs) =>
      rs.forEach((r) => assert.equal(r.code, 0, r.stderr)),
    );
    const lines = await chain();
    await bothHold(
      lines.filter((l) => l.sequence >= kinFrom),
      lines.filter((l) => l.sequence >= psFrom),
    );
  });

  it('replay --since 1h re-delivers the stored records to each sink, after the live ones', async () => {
    const before = await chain();
    const kinCount = (await kinesisLive()).length;
    const psCount = pubsubLive().length;
    const texts = (all: ChainLine[], r: { from_seq: number; to_seq: number }) =>
      all.filter((l) => l.sequence >= r.from_seq && l.sequence <= r.to_seq).map((l) => l.text);

    const rk = json<{ replay_id: string; from_seq: number; to_seq: number }>(await sinks('replay', 'kin', '--since', '1h'), 'replay kin');
    assert.match(rk.replay_id, /^rpl_/);
    assert.equal(rk.from_seq, 1, 'everything stored in the last hour');
    assert.equal(rk.to_seq, before.at(-1)!.sequence);
    const afterKin = await chain();
    const kinReplayRecord = afterKin.at(-1)!; // the replay's own UpdateAccount record: live
    assert.match(kinReplayRecord.text, /"sink_action":"replay"/);
    // Live records first (a replay runs once live delivery is caught up), then the window, in order.
    const expectKin = [kinReplayRecord.text, ...texts(afterKin, rk)];
    await until(async () => (await kinesisLive()).length >= kinCount + expectKin.length, 'kin replay delivered', 10_000, 200);
    assert.deepEqual((await kinesisLive()).slice(kinCount), expectKin);
    const st = json<{ replays: { id: string; state: string; deliveredCount: number }[] }>(await sinks('status', 'kin'), 'status after replay');
    assert.equal(st.replays.find((r) => r.id === rk.replay_id)?.state, 'done');

    const rp = json<{ replay_id: string; from_seq: number; to_seq: number }>(await sinks('replay', 'ps', '--since', '1h'), 'replay ps');
    const afterPs = await chain();
    const psReplayRecord = afterPs.at(-1)!;
    const expectPs = [kinReplayRecord.text, psReplayRecord.text, ...texts(afterPs, rp)];
    await until(() => pubsubLive().length >= psCount + expectPs.length, 'ps replay delivered', 10_000, 200);
    assert.deepEqual(pubsubLive().slice(psCount), expectPs);
    // ...and the Kinesis sink got the Pub/Sub replay's record live.
    await until(async () => (await kinesisLive()).length >= kinCount + expectKin.length + 1, 'kin live', ARRIVAL_MS, 100);
    assert.deepEqual((await kinesisLive()).slice(kinCount), [...expectKin, psReplayRecord.text]);
  });

  it('delete: once it returns nothing more reaches either destination; its own record is in the chain', async () => {
    for (const name of ['kin', 'ps']) {
      const r = await sinks('delete', name);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`deleted ${name}`));
    }
    const kinCount = (await readStreamText(kinesis)).length;
    const psCount = received.length;
    await createNamespace();
    await ingest(2);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal((await readStreamText(kinesis)).length, kinCount, 'Kinesis: nothing after the delete');
    assert.equal(received.length, psCount, 'Pub/Sub: nothing after the delete');
    assert.deepEqual(json<unknown[]>(await sinks('list'), 'list'), []);
    const deletes = (await chain()).filter((l) => /"sink_action":"delete"/.test(l.text));
    assert.deepEqual(
      deletes.map((l) => (JSON.parse(l.text) as { details: { sink_name: string } }).details.sink_name),
      ['kin', 'ps'],
    );
  });

  it('delete of a sink whose delivering process died: --no-wait reports it in progress; delete waits for the lease, with progress, then succeeds', async () => {
    const c = await sinks(
      'create',
      'orphan',
      '--kinesis-stream-arn',
      STREAM_ARN,
      '--kinesis-role-name',
      'auditstream-writer',
      '--kinesis-region',
      'us-east-1',
      '--disabled',
    );
    assert.equal(c.code, 0, c.stderr);
    // Another process claimed it and died: its lease has 7 s left (a delete request waits 2 s).
    const db = new Database(join(dir, 'audit.db'));
    db.pragma('busy_timeout = 5000');
    const leaseEnds = Date.now() + 7000;
    assert.equal(
      db.prepare("UPDATE audit_log_sinks SET lease_owner = 'dead-process', lease_expires_ms = ?, fence = fence + 1 WHERE name = 'orphan'").run(leaseEnds)
        .changes,
      1,
    );
    db.close();
    const quick = await sinks('delete', 'orphan', '--no-wait');
    assert.equal(quick.code, 0, quick.stderr);
    assert.match(
      quick.stderr,
      /deleting orphan: committed, still in progress \(operation [0-9a-f-]{36}; GET \/cloud\/operations\/[0-9a-f-]{36} shows when it is done\)/,
    );
    assert.match(json<{ state: string }>(await sinks('get', 'orphan'), 'get while deleting').state, /RESOURCE_STATE_DELETING/);
    // The dead holder's lease is renewed just before the waiting delete, so a slow machine (each
    // CLI run starts a Node process) cannot let it expire before that delete even arrives.
    const leaseEnds2 = Date.now() + 12_000;
    const db2 = new Database(join(dir, 'audit.db'));
    db2.pragma('busy_timeout = 5000');
    assert.equal(db2.prepare("UPDATE audit_log_sinks SET lease_expires_ms = ? WHERE name = 'orphan'").run(leaseEnds2).changes, 1);
    db2.close();
    const full = await sinks('delete', 'orphan');
    assert.equal(full.code, 0, full.stderr);
    assert.match(full.stderr, /waiting for the process that delivered it to let go/);
    assert.match(full.stderr, /deleted orphan/);
    assert.ok(Date.now() >= leaseEnds2, 'done only after the dead lease expired');
    const gone = await sinks('get', 'orphan');
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /404 audit log sink orphan not found/);
  });

  it('--kinesis-aggregate: records arrive KPL-aggregated (aws-kinesis-agg reads them, in chain order); --no-kinesis-aggregate turns it off; each change audited', async () => {
    const stream = 'e2e-agg';
    const arn = `arn:aws:kinesis:us-east-1:${MOTO_ACCOUNT}:stream/${stream}`;
    await createStream(kinesis, stream);
    const raw = async () => {
      const shards = await kinesis.send(new ListShardsCommand({ StreamName: stream }));
      let it = (
        await kinesis.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: shards.Shards![0]!.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }))
      ).ShardIterator;
      const out: Buffer[] = [];
      for (;;) {
        const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: it!, Limit: 10_000 }));
        for (const r of page.Records ?? []) out.push(Buffer.from(r.Data!));
        if (!page.Records?.length || !page.NextShardIterator) break;
        it = page.NextShardIterator;
      }
      return out;
    };
    const created = json<{ spec: { enabled: boolean } }>(
      await sinks(
        'create',
        'agg',
        '--kinesis-stream-arn',
        arn,
        '--kinesis-role-name',
        'auditstream-writer',
        '--kinesis-region',
        'us-east-1',
        '--kinesis-aggregate',
      ),
      'create agg',
    );
    assert.equal(created.spec.enabled, true, 'enabled once aggregation is set');
    const ext = await fetch(`${serve.url}/api/v1/audit-log-sinks/agg/extensions`, { headers: { authorization: `Bearer ${apiKey}` } });
    assert.equal(((await ext.json()) as { kinesis_aggregate: boolean }).kinesis_aggregate, true);
    await ingest(6);
    // From the sink's own create record on (a new sink starts at the head), its changes included.
    const all = await chain();
    const from = all.find((l) => /"sink_name":"agg"/.test(l.text) && /"sink_action":"create"/.test(l.text))!.sequence;
    const expected = all.filter((l) => l.sequence >= from).map((l) => l.logId);
    await until(async () => (await raw()).flatMap((d) => deaggregate(d)).length >= expected.length, 'aggregated records', ARRIVAL_MS, 100);
    const blobs = await raw();
    assert.ok(
      blobs.every((b) => b.subarray(0, 4).equals(KPL_MAGIC)),
      'every Kinesis record is an aggregated record',
    );
    assert.ok(blobs.length < expected.length, `${expected.length} records in ${blobs.length} Kinesis records`);
    assert.deepEqual(
      blobs.flatMap((b) => deaggregate(b)).map((d) => logIdOf(d.toString('utf8'))),
      expected,
      'chain order',
    );

    const off = await sinks('update', 'agg', '--no-kinesis-aggregate');
    assert.equal(off.code, 0, off.stderr);
    const before = (await raw()).length;
    await ingest(2);
    await until(async () => (await raw()).length >= before + 2, 'plain records', ARRIVAL_MS, 100);
    const plain = (await raw()).slice(before);
    assert.ok(
      plain.every((b) => b[0] === 0x7b),
      'one plain JSON record per audit record again',
    );
    const actions = (await chain())
      .filter((l) => /"sink_name":"agg"/.test(l.text))
      .map((l) => (JSON.parse(l.text) as { details: { sink_action: string; sink_kinesis_aggregate?: boolean } }).details);
    assert.deepEqual(
      actions.map((d) => [d.sink_action, d.sink_kinesis_aggregate]),
      [
        ['create', undefined],
        ['update-extensions', true],
        ['update', undefined],
        ['update', undefined],
        ['update-extensions', false],
      ],
    );
    oneLineError(
      await sinks('create', 'agg-ps', '--pubsub-topic', TOPIC, '--pubsub-project', PROJECT, '--pubsub-service-account', SERVICE_ACCOUNT, '--kinesis-aggregate'),
      2,
      /--kinesis-aggregate applies to Kinesis sinks only/,
      'aggregate on pubsub',
    );
    assert.equal((await sinks('delete', 'agg')).code, 0);
  });

  it("the CLI's errors are one line with exit code 1 (refused or unreachable) or 2 (usage)", async () => {
    const cases: [string[], Record<string, string>, 1 | 2, RegExp][] = [
      [['get', 'nope'], {}, 1, /GET \/cloud\/audit-log-sinks\/nope: 404 audit log sink nope not found/],
      [
        ['create', 'bad', '--kinesis-stream-arn', 'arn:aws:kinesis:us-east-1:1:stream/x', '--kinesis-role-name', 'w', '--kinesis-region', 'us-east-1'],
        {},
        1,
        /400 .*the account id "1" must be 12 digits/,
      ],
      [['create', 'bad'], {}, 2, /a sink needs a destination/],
      [['replay', 'kin'], {}, 2, /required option '--since <time>' not specified \(run with --help for usage\)/],
      [['update', 'kin', '--enable', '--disable'], {}, 2, /option '--enable' cannot be used with option '--disable'/],
      [['list'], { AUDITSTREAM_API_KEY: '' }, 2, /AUDITSTREAM_API_KEY is not set/],
      [['list'], { AUDITSTREAM_URL: 'http://127.0.0.1:9' }, 1, /cannot reach http:\/\/127\.0\.0\.1:9 .*is AUDITSTREAM_URL right/],
    ];
    const results = await Promise.all(cases.map(([args, extra]) => runCli(['sinks', ...args], { ...cliEnv, ...extra }, dir)));
    results.forEach((r, i) => {
      const [args, , code, pattern] = cases[i]!;
      oneLineError(r, code, pattern, `sinks ${args.join(' ')}`);
    });
  });
});
