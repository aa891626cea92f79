/**
 * `auditstream consume` end to end, as a customer runs it: the real `auditstream serve` (SQLite,
 * checkpoints every second) delivers two accounts to one Kinesis stream on moto through sinks
 * made with the CLI; the real `auditstream consume` process reads it into a directory of
 * .jsonl.gz files. The consumer is SIGKILLed mid-run and restarted, the shard is split while it
 * runs, and in the end its output equals the store record for record (per account, in chain
 * order, each exactly once) and the proof says "verified through" the last signed checkpoint.
 * Then a stream built by hand from those records with one deleted, one edited, two swapped and
 * one extra (the rest KPL-aggregated, plus bytes that are no record) is reported precisely, and
 * setup mistakes are one line and exit 2.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { generateKeyPairSync } from 'node:crypto';
import { ListShardsCommand, PutRecordCommand, SplitShardCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { BIN, runCli, startServe, type CliResult, type ServeHandle, stopServe, startConsume, type ConsumeRun } from './helpers/cli.js';
import { awsEnvFor, createStream, kinesisClient, startMoto, type Moto } from './helpers/moto.js';
import { until } from './helpers/fake-sink.js';
import { ingestSeeds, seedRecords } from './helpers/records.js';
import { aggregate } from '../src/consumer/deaggregate.js';

const seeds = seedRecords();

interface Line {
  sequence: number;
  text: string;
  logId: string;
  operation: string;
}

interface Report {
  received: number;
  written: number;
  duplicates: number;
  rejected: number;
  verified: boolean;
  accounts: { account: string; status: string; verified_through_sequence: number | null; pending: number; problems: string[]; problem_count: number }[];
}

/** A consumer process in the background. */
describe('auditstream consume: Kinesis on moto, SIGKILL and restart, a shard split, the proof', () => {
  let moto: Moto;
  let kinesis: KinesisClient;
  let dir: string;
  let serve: ServeHandle;
  let env: Record<string, string>;
  let awsEnv: Record<string, string>;
  let streamArn: string;
  const accounts: { id: string; key: string }[] = [];
  let pubKey: string;

  before(async () => {
    moto = await startMoto();
    kinesis = kinesisClient(moto.url);
    streamArn = await createStream(kinesis, 'consume-e2e');
    dir = mkdtempSync(join(tmpdir(), 'auditstream-consume-e2e-'));
    awsEnv = awsEnvFor(moto.url);
    env = {
      ...awsEnv,
      DATABASE_URL: join(dir, 'audit.db'),
      AUDITSTREAM_DATA_DIR: join(dir, 'data'),
      AUDITSTREAM_FLUSH_INTERVAL_MS: '100',
      AUDITSTREAM_CHECKPOINT_INTERVAL_MS: '1000',
      AUDITSTREAM_AWS_PRINCIPAL_ARN: 'arn:aws:iam::999988887777:role/auditstream',
    };
    serve = await startServe(env, dir);
    const initial = JSON.parse(readFileSync(join(dir, 'data', 'initial-admin.json'), 'utf8')) as { account_id: string; api_key: string };
    accounts.push({ id: initial.account_id, key: initial.api_key });
    const second = await runCli(['accounts', 'create', '--email', 'owner@tenant-two.example', '--json'], { DATABASE_URL: env['DATABASE_URL']! }, dir);
    assert.equal(second.code, 0, second.stderr);
    const made = JSON.parse(second.stdout) as { account_id: string; api_key: string };
    accounts.push({ id: made.account_id, key: made.api_key });
    for (const a of accounts) {
      const r = await runCli(
        ['sinks', 'create', 'kin', '--kinesis-stream-arn', streamArn, '--kinesis-role-name', 'auditstream-writer', '--kinesis-region', 'us-east-1'],
        {
          AUDITSTREAM_URL: serve.url,
          AUDITSTREAM_API_KEY: a.key,
        },
      );
      assert.equal(r.code, 0, r.stderr);
    }
    const keys = await runCli(['keys', 'public'], { AUDITSTREAM_DATA_DIR: join(dir, 'data') }, dir);
    assert.equal(keys.code, 0, keys.stderr);
    assert.match(keys.stdout, /^-----BEGIN PUBLIC KEY-----\n[\s\S]+-----END PUBLIC KEY-----\n$/);
    pubKey = join(dir, 'operator.pub.pem');
    writeFileSync(pubKey, keys.stdout);
  });

  after(async () => {
    await stopServe(serve);
    kinesis?.destroy();
    await moto?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** One account's chain from the store (API export), oldest first. */
  const chain = async (a: { key: string }): Promise<Line[]> => {
    const res = await fetch(`${serve.url}/api/v1/audit-logs/export?format=jsonl`, { headers: { authorization: `Bearer ${a.key}` } });
    assert.equal(res.status, 200);
    return (await res.text())
      .trim()
      .split('\n')
      .map((line) => {
        const text = line.slice(line.indexOf(',"record":') + ',"record":'.length, -1);
        const r = JSON.parse(text) as { log_id: string; operation: string };
        return { sequence: (JSON.parse(line) as { sequence: number }).sequence, text, logId: r.log_id, operation: r.operation };
      });
  };
  /** What the sink delivered of an account: from its sink's creation on. */
  const delivered = async (a: { key: string }): Promise<Line[]> => {
    const lines = await chain(a);
    const from = lines.findIndex((l) => l.operation === 'UpdateAccount' && l.text.includes('"sink_action":"create"'));
    return lines.slice(from);
  };
  /** Each account's delivered records stand in `lines` exactly, in chain order, between other accounts' lines. */
  const assertEachAccountIn = async (lines: string[]) => {
    for (const a of accounts) {
      const expected = (await delivered(a)).map((l) => l.text);
      const ids = new Set(expected.map((t) => (JSON.parse(t) as { log_id: string }).log_id));
      assert.deepEqual(
        lines.filter((t) => ids.has((JSON.parse(t) as { log_id: string }).log_id)),
        expected,
        `account ${a.id}`,
      );
    }
  };
  let n = 0;
  const ingest = async (a: { key: string }, count: number) => {
    const first = n;
    n += count;
    await ingestSeeds(serve.url, a.key, count, first, 'consume');
  };
  /** Every account's chain ends in a checkpoint (signed after its last record). */
  const settled = () =>
    until(
      async () => {
        for (const a of accounts) if ((await chain(a)).at(-1)!.operation !== 'ChainCheckpoint') return false;
        return true;
      },
      'a checkpoint after the last record of every account',
      15_000,
      200,
    );

  /** Every account's sink has delivered its whole chain (backlog 0 after `settled`). */
  const drained = () =>
    until(
      async () => {
        for (const a of accounts) {
          const res = await fetch(`${serve.url}/api/v1/audit-log-sinks/kin/status`, { headers: { authorization: `Bearer ${a.key}` } });
          assert.equal(res.status, 200);
          if (((await res.json()) as { backlog: number }).backlog !== 0) return false;
        }
        return true;
      },
      'every sink delivered its backlog',
      15_000,
      100,
    );

  const startConsumer = (args: string[]): ConsumeRun => startConsume(args, awsEnv, dir);
  const outDir = () => join(dir, 'out');
  const consumerArgs = (extra: string[] = []) => [
    '--kinesis-stream-arn',
    streamArn,
    '--output',
    outDir(),
    '--checkpoint-db',
    join(dir, 'consumer.db'),
    '--public-key',
    pubKey,
    '--reject-file',
    join(dir, 'rejects.jsonl'),
    ...extra,
  ];
  const outputLines = (): string[] => {
    if (!existsSync(outDir())) return [];
    return readdirSync(outDir())
      .sort()
      .flatMap((f) =>
        gunzipSync(readFileSync(join(outDir(), f)))
          .toString('utf8')
          .split('\n')
          .filter(Boolean),
      );
  };
  const outputBytes = () => (existsSync(outDir()) ? readdirSync(outDir()).reduce((s, f) => s + statSync(join(outDir(), f)).size, 0) : 0);

  it('GET /api/v1/signing-keys gives any authenticated caller the key `keys public` prints; without credentials 401', async () => {
    const res = await fetch(`${serve.url}/api/v1/signing-keys`, { headers: { authorization: `Bearer ${accounts[1]!.key}` } });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { keys: { key_id: string; public_key_pem: string }[] };
    assert.equal(body.keys.length, 1);
    assert.equal(body.keys[0]!.public_key_pem, readFileSync(pubKey, 'utf8'));
    assert.match(body.keys[0]!.key_id, /^[0-9a-f]{16}$/);
    assert.equal((await fetch(`${serve.url}/api/v1/signing-keys`)).status, 401);
  });

  it('survives SIGKILL and a shard split: the output equals the store record for record, and each account verifies through its last checkpoint', async () => {
    const first = startConsumer(consumerArgs());
    for (const a of accounts) await ingest(a, 20);
    await settled();
    await until(() => outputBytes() > 0, 'the first consumer wrote something', 15_000, 50);
    for (const a of accounts) await ingest(a, 20);
    first.child.kill('SIGKILL');
    await first.exited;

    const second = startConsumer(consumerArgs(['--exit-when-idle', '4s', '--json-report', join(dir, 'report.json')]));
    for (const a of accounts) await ingest(a, 15);
    // Split the only shard while the consumer reads it: later records go to the children. The
    // sink is settled first: moto's SplitShard is not atomic with a concurrent PutRecords (it
    // empties the parent and re-puts its records into the children, and a put racing that loop
    // can vanish), which real Kinesis never does; the consumer is still reading either way.
    await settled();
    await drained();
    const shards = (await kinesis.send(new ListShardsCommand({ StreamName: 'consume-e2e' }))).Shards!;
    assert.equal(shards.length, 1);
    const range = shards[0]!.HashKeyRange!;
    const mid = (BigInt(range.StartingHashKey!) + BigInt(range.EndingHashKey!)) / 2n;
    await kinesis.send(new SplitShardCommand({ StreamName: 'consume-e2e', ShardToSplit: shards[0]!.ShardId!, NewStartingHashKey: mid.toString() }));
    for (let round = 0; round < 3; round++) {
      for (const a of accounts) await ingest(a, 15);
      await settled();
    }
    const after = (await kinesis.send(new ListShardsCommand({ StreamName: 'consume-e2e' }))).Shards!;
    assert.equal(after.length, 3, 'the parent and its two children');
    const code = await second.exited;
    assert.equal(code, 0, second.stderr());

    const out = outputLines();
    assert.equal(new Set(out).size, out.length, 'no record written twice');
    const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as Report;
    for (const a of accounts) {
      const expected = await delivered(a);
      const ids = new Set(expected.map((l) => l.logId));
      const mine = out.filter((t) => ids.has((JSON.parse(t) as { log_id: string }).log_id));
      assert.deepEqual(
        mine,
        expected.map((l) => l.text),
        `account ${a.id}: every delivered record once, in chain order, byte for byte`,
      );
      const lastCheckpoint = JSON.parse(expected.at(-1)!.text) as { operation: string; details: { sequence: number } };
      assert.equal(lastCheckpoint.operation, 'ChainCheckpoint');
      const acc = report.accounts.find((x) => x.account === a.id)!;
      assert.deepEqual(
        { status: acc.status, through: acc.verified_through_sequence, pending: acc.pending, problems: acc.problems },
        { status: 'verified', through: lastCheckpoint.details.sequence, pending: 0, problems: [] },
      );
      assert.match(second.stderr(), new RegExp(`account ${a.id}: verified through sequence ${lastCheckpoint.details.sequence} \\(`));
    }
    assert.equal(report.rejected, 0);
    assert.match(second.stderr(), /records\/s/, 'progress lines on stderr');
  });

  it('reports a record deleted, edited, reordered or added between delivery and the consumer precisely, rejects what is no record, deaggregates KPL records; exit 1', async () => {
    const a = accounts[0]!;
    const lines = await delivered(a);
    const cps = lines.map((l, i) => (l.operation === 'ChainCheckpoint' ? i : -1)).filter((i) => i >= 0);
    // Intervals between consecutive checkpoint records that hold at least two records.
    const intervals = cps
      .slice(1)
      .map((end, k) => ({ from: cps[k]! + 1, to: end }))
      .filter((iv) => iv.to - iv.from >= 2);
    assert.ok(intervals.length >= 3, `enough checkpointed intervals: ${intervals.length}`);
    const [del, edit, swap] = intervals;
    const texts = lines.map((l) => l.text);
    const deleted = lines[del!.from]!;
    const edited = lines[edit!.from + 1]!;
    const swapA = lines[swap!.from]!;
    const swapB = lines[swap!.from + 1]!;
    const editedText = edited.text.replace(/"user_email":"[^"]*"/, '"user_email":"someone-else@example.com"');
    assert.notEqual(editedText, edited.text);
    const extra = { ...seeds[0]!, log_id: 'f'.repeat(32), user_email: 'intruder@example.com' };
    const tampered: (string | Buffer)[] = [];
    texts.forEach((t, i) => {
      if (i === del!.from) return;
      if (i === del!.from + 1) tampered.push(JSON.stringify(extra));
      if (i === edit!.from + 1) return void tampered.push(editedText);
      if (i === swap!.from) return void tampered.push(swapB.text);
      if (i === swap!.from + 1) return void tampered.push(swapA.text);
      tampered.push(t);
    });
    const arn = await createStream(kinesis, 'consume-tampered');
    const put = async (data: Buffer | string) => {
      const r = await kinesis.send(
        new PutRecordCommand({ StreamName: 'consume-tampered', PartitionKey: a.id, Data: typeof data === 'string' ? Buffer.from(data) : data }),
      );
      return r.SequenceNumber!;
    };
    // Before the swap: one record at a time; from the swap on, KPL-aggregated in groups of 5.
    const cut = tampered.findIndex((t) => t === swapB.text);
    for (const t of tampered.slice(0, cut)) await put(t);
    const notJsonSeq = await put('this is not an audit record');
    for (let i = cut; i < tampered.length; i += 5) {
      await put(aggregate(tampered.slice(i, i + 5).map((t) => ({ partitionKey: a.id, data: Buffer.from(t as string) }))));
    }
    const wrongShape = await put(JSON.stringify({ hello: 'world' }));

    const report = join(dir, 'tampered.json');
    const r = await runCli(
      [
        'consume',
        '--kinesis-stream-arn',
        arn,
        '--output',
        join(dir, 'tampered-out'),
        '--checkpoint-db',
        join(dir, 'tampered.db'),
        '--public-key',
        pubKey,
        '--reject-file',
        join(dir, 'tampered-rejects.jsonl'),
        '--exit-when-idle',
        '1500ms',
        '--json-report',
        report,
      ],
      awsEnv,
      dir,
    );
    assert.equal(r.code, 1, r.stderr);
    const acc = (JSON.parse(readFileSync(report, 'utf8')) as Report).accounts.find((x) => x.account === a.id)!;
    assert.equal(acc.status, 'broken');
    const shard = 'shardId-000000000000';
    assert.deepEqual(
      acc.problems.map((p) => p.replace(/ at shardId-\S+/, ' at <pos>')),
      [
        `missing: sequence ${deleted.sequence} (log_id ${deleted.logId}) did not arrive`,
        `extra: log_id ${'f'.repeat(32)} at <pos> is not in the chain between sequences ${lines[del!.from - 1]!.sequence + 1}..${lines[del!.to - 1]!.sequence}`,
        `altered: sequence ${edited.sequence} (log_id ${edited.logId}) at <pos> differs from the record the checkpoint signed`,
        `reordered: sequence ${swapA.sequence} (log_id ${swapA.logId}) at <pos> arrived after sequence ${swapB.sequence} (log_id ${swapB.logId})`,
      ],
      r.stderr,
    );
    assert.match(r.stderr, new RegExp(`account ${a.id}: BROKEN, 4 problem\\(s\\)`));
    // The bytes that are no audit record: reported, written to the reject file with shard and sequence, consumption went on.
    const rejects = readFileSync(join(dir, 'tampered-rejects.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { shard: string; sequence: string; reason: string; data: string });
    assert.deepEqual(
      rejects.map((x) => [x.shard, x.sequence, x.reason.split(':')[0]]),
      [
        [shard, notJsonSeq, 'not JSON'],
        [shard, wrongShape, 'not an audit record'],
      ],
    );
    assert.match(r.stderr, new RegExp(`rejected ${shard}/${notJsonSeq}: not JSON`));
    // Everything else was written, aggregated or not, in the order received.
    const out = readdirSync(join(dir, 'tampered-out')).flatMap((f) =>
      gunzipSync(readFileSync(join(dir, 'tampered-out', f)))
        .toString('utf8')
        .split('\n')
        .filter(Boolean),
    );
    assert.deepEqual(out, tampered);
  });

  it('stdout output is the records byte for byte; a replay of the same stream into a fresh checkpoint database verifies too', async () => {
    const r = await runCli(
      ['consume', '--kinesis-stream-arn', streamArn, '--checkpoint-db', join(dir, 'stdout.db'), '--public-key', pubKey, '--exit-when-idle', '1500ms'],
      awsEnv,
      dir,
    );
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.equal(lines.pop(), '', 'each record ends with a newline');
    await assertEachAccountIn(lines);
    for (const a of accounts) assert.match(r.stderr, new RegExp(`account ${a.id}: verified through sequence \\d+`));
  });

  it('SIGTERM finishes the batch in hand, commits and reports; a restart on stdout continues without a duplicate', async () => {
    const db = join(dir, 'sigterm.db');
    const child = spawn(process.execPath, [BIN, 'consume', '--kinesis-stream-arn', streamArn, '--checkpoint-db', db, '--public-key', pubKey], {
      env: { ...process.env, ...awsEnv },
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let first = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (first += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    await until(() => first.length > 0, 'the first records on stdout', 15_000, 20);
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
    assert.match(stderr, /consume: stopped \(signal\)/);
    const second = await runCli(
      ['consume', '--kinesis-stream-arn', streamArn, '--checkpoint-db', db, '--public-key', pubKey, '--exit-when-idle', '1500ms'],
      awsEnv,
      dir,
    );
    assert.equal(second.code, 0, second.stderr);
    const lines = (first + second.stdout).split('\n').filter(Boolean);
    assert.equal(new Set(lines).size, lines.length, 'no record twice');
    await assertEachAccountIn(lines);
  });

  it('table outputs (SQLite and PostgreSQL) hold each record once, in order per account, even when the whole stream is read again', async () => {
    const pg = (await import('pg')).default;
    const schema = `consumer_e2e_${process.pid}`;
    const base = process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
    const targets = [`sqlite:${join(dir, 'table.db')}`, `${base}${base.includes('?') ? '&' : '?'}schema=${schema}`];
    const admin = new pg.Client({ connectionString: base });
    await admin.connect();
    try {
      for (const target of targets) {
        // Twice from the beginning (fresh checkpoint databases): the second pass adds nothing.
        for (const pass of [1, 2]) {
          const r = await runCli(
            [
              'consume',
              '--kinesis-stream-arn',
              streamArn,
              '--output',
              target,
              '--checkpoint-db',
              join(dir, `table-${targets.indexOf(target)}-${pass}.db`),
              '--exit-when-idle',
              '1500ms',
            ],
            awsEnv,
            dir,
          );
          assert.equal(r.code, 0, r.stderr);
        }
        const rows: { account_id: string; record: string }[] = target.startsWith('sqlite:')
          ? (new (await import('better-sqlite3')).default(target.slice(7), { readonly: true })
              .prepare('SELECT account_id, record FROM consumed_audit_records ORDER BY id')
              .all() as { account_id: string; record: string }[])
          : (await admin.query(`SELECT account_id, record FROM "${schema}".consumed_audit_records ORDER BY id`)).rows;
        for (const a of accounts) {
          assert.deepEqual(
            rows.filter((x) => x.account_id === a.id).map((x) => x.record),
            (await delivered(a)).map((l) => l.text),
            `${target}: account ${a.id}`,
          );
        }
      }
    } finally {
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await admin.end();
    }
  });

  it('setup mistakes are one line on stderr and exit 2: wrong key file, missing stream, unreadable checkpoint database, S3', async () => {
    const oneLine = (res: CliResult, pattern: RegExp, label: string) => {
      assert.equal(res.code, 2, `${label}: ${res.stderr}`);
      assert.equal(res.stderr.trimEnd().split('\n').length, 1, `${label}: ${res.stderr}`);
      assert.doesNotMatch(res.stderr, /\n\s+at /);
      assert.match(res.stderr, pattern, label);
    };
    const base = ['--checkpoint-db', join(dir, 'setup.db'), '--exit-when-idle', '500ms'];
    const priv = join(dir, 'private.pem');
    writeFileSync(priv, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const rsa = join(dir, 'rsa.pem');
    writeFileSync(rsa, generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }));
    oneLine(
      await runCli(['consume', '--kinesis-stream-arn', streamArn, ...base, '--public-key', priv], awsEnv, dir),
      /holds a PRIVATE KEY, not a PUBLIC KEY/,
      'private key',
    );
    oneLine(
      await runCli(['consume', '--kinesis-stream-arn', streamArn, ...base, '--public-key', rsa], awsEnv, dir),
      /rsa key; checkpoints are signed with Ed25519/,
      'rsa key',
    );
    oneLine(
      await runCli(['consume', '--kinesis-stream-arn', streamArn, ...base, '--public-key', join(dir, 'nope.pem')], awsEnv, dir),
      /cannot read public key file/,
      'missing key',
    );
    oneLine(
      await runCli(['consume', '--kinesis-stream-arn', streamArn.replace('consume-e2e', 'no-such-stream'), ...base], awsEnv, dir),
      /does not exist/,
      'missing stream',
    );
    const garbage = join(dir, 'garbage.db');
    writeFileSync(garbage, 'this is not a SQLite database, just some text that is long enough to have a header........');
    oneLine(
      await runCli(['consume', '--kinesis-stream-arn', streamArn, '--checkpoint-db', garbage], awsEnv, dir),
      /cannot use checkpoint database/,
      'garbage checkpoint db',
    );
    oneLine(
      await runCli(['consume', '--s3-uri', 's3://no-such-bucket-here/prefix', ...base], awsEnv, dir),
      /cannot list s3:\/\/no-such-bucket-here\/prefix: NoSuchBucket/,
      's3 bucket',
    );
    oneLine(await runCli(['consume', '--s3-uri', 'https://bucket/prefix', ...base], awsEnv, dir), /is not s3:\/\/BUCKET\/PREFIX/, 's3 uri');
    oneLine(await runCli(['consume', ...base], awsEnv, dir), /exactly one source/, 'no source');
    for (const [source, from] of [
      [['--s3-uri', 's3://bucket/prefix'], 'latest'],
      [['--s3-uri', 's3://bucket/prefix'], '2026-01-01T00:00:00Z'],
      [['--pubsub-subscription', 'projects/p/subscriptions/s'], 'trim-horizon'],
    ] as const) {
      oneLine(
        await runCli(['consume', ...source, ...base, '--from', from], awsEnv, dir),
        /--from \S+ applies to Kinesis only/,
        `--from ${from} with ${source[0]}`,
      );
    }
    // What an S3 source does anyway is accepted: it reads on to the bucket's answer.
    oneLine(
      await runCli(['consume', '--s3-uri', 's3://no-such-bucket-here/prefix', ...base, '--from', 'trim-horizon'], awsEnv, dir),
      /cannot list s3:\/\/no-such-bucket-here\/prefix: NoSuchBucket/,
      's3 --from trim-horizon',
    );
  });
});
