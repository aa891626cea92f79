/**
 * Two `auditstream consume` processes sharing one Kinesis stream (4 shards, moto) through
 * PostgreSQL leases, both writing into one PostgreSQL table: the shards are shared out, one
 * process is SIGKILLed, the other takes its shards over once their leases expire and resumes at
 * their committed positions. The table ends with every record once, each account's in chain
 * order, and the survivor's proof verifies every account through its last checkpoint.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { CreateStreamCommand, DescribeStreamSummaryCommand, PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { BIN } from './helpers/cli.js';
import { awsEnvFor, kinesisClient, startMoto, type Moto } from './helpers/moto.js';
import { PG_URL } from './helpers/stores.js';
import { until } from './helpers/fake-sink.js';
import { testSigner } from './helpers/retention.js';
import { canonicalJson, GENESIS_HASH, linkHash, recordDigest } from '../src/chain/hash.js';
import { checkpointRecord, signCheckpoint, type Signer } from '../src/chain/checkpoint.js';
import { serializeRecord } from '../src/record/record.js';
import { makeRecord } from './helpers/records.js';

const ACCOUNTS = Array.from({ length: 8 }, (_, i) => `tenant-${i}`);

/** An account's chain as auditstream delivers it, grown round by round (records, then a checkpoint at S + 1). */
class Chain {
  seq = 0;
  hash = GENESIS_HASH;
  prevCp: number | undefined;
  texts: string[] = [];
  lastSigned = 0;
  private since: string[] = [];
  constructor(
    readonly account: string,
    private readonly signer: Signer,
  ) {}
  private link(text: string, canonical: string): void {
    this.seq++;
    this.hash = linkHash(this.account, this.seq, this.hash, canonical);
    this.texts.push(text);
  }
  round(n: number): string[] {
    const start = this.texts.length;
    for (let i = 0; i < n; i++) {
      const r = makeRecord();
      const canonical = canonicalJson(r);
      this.link(serializeRecord(r), canonical);
      if (this.prevCp !== undefined) this.since.push(`${recordDigest(canonical)}:${r.log_id}`);
    }
    const cp = signCheckpoint(this.signer, { accountId: this.account, seq: this.seq, hash: this.hash, createdAt: Date.now() });
    const rec = checkpointRecord(cp, this.prevCp !== undefined ? { fromSeq: this.prevCp + 2, entries: this.since } : undefined);
    this.since = [];
    this.prevCp = this.seq;
    this.lastSigned = this.seq;
    this.link(serializeRecord(rec), canonicalJson(rec));
    return this.texts.slice(start);
  }
}

describe('auditstream consume: two processes share a stream through PostgreSQL leases', () => {
  let moto: Moto;
  let kinesis: KinesisClient;
  let dir: string;
  let admin: pg.Client;
  let streamArn: string;
  const schema = `consumer_leases_${process.pid}`;
  const dbUrl = `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}schema=${schema}`;
  const signer = testSigner();
  const chains = ACCOUNTS.map((a) => new Chain(a, signer));
  let awsEnv: Record<string, string>;

  before(async () => {
    moto = await startMoto();
    kinesis = kinesisClient(moto.url);
    await kinesis.send(new CreateStreamCommand({ StreamName: 'shared', ShardCount: 4 }));
    streamArn = (await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: 'shared' }))).StreamDescriptionSummary!.StreamARN!;
    dir = mkdtempSync(join(tmpdir(), 'consumer-leases-'));
    writeFileSync(join(dir, 'pub.pem'), signer.publicKey.export({ type: 'spki', format: 'pem' }));
    admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    awsEnv = awsEnvFor(moto.url);
  });

  after(async () => {
    await admin?.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
    await admin?.end();
    kinesis?.destroy();
    await moto?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** One round of every account, interleaved across accounts, each account's in order. */
  const putRound = async (n: number) => {
    const perAccount = chains.map((c) => c.round(n).map((t) => ({ Data: Buffer.from(t), PartitionKey: c.account })));
    const all: { Data: Buffer; PartitionKey: string }[] = [];
    for (let i = 0; i <= n; i++) for (const list of perAccount) if (list[i]) all.push(list[i]!);
    for (let i = 0; i < all.length; i += 500) await kinesis.send(new PutRecordsCommand({ StreamName: 'shared', Records: all.slice(i, i + 500) }));
  };
  const start = (name: string, extra: string[]) => {
    const child = spawn(
      process.execPath,
      [
        BIN,
        'consume',
        '--kinesis-stream-arn',
        streamArn,
        '--lease-db',
        dbUrl,
        '--lease-ttl',
        '3s',
        '--output',
        dbUrl,
        '--public-key',
        join(dir, 'pub.pem'),
        '--reject-file',
        join(dir, `${name}-rejects.jsonl`),
        '--json-report',
        join(dir, `${name}.json`),
        // Records wait this long on a quiet account (for a resend to come back in order): shorter
        // than b's --exit-when-idle, so b has written its first round before it could idle out.
        '--reorder-hold',
        '2s',
        ...extra,
      ],
      { env: { ...process.env, ...awsEnv }, cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    return { child, stderr: () => stderr, exited: new Promise<number | null>((r) => child.on('exit', (code) => r(code))) };
  };
  const q = async <T extends pg.QueryResultRow>(text: string): Promise<T[]> => {
    try {
      return (await admin.query<T>(text)).rows;
    } catch {
      return []; // the tables appear once a consumer started
    }
  };

  it('shares the shards, survives a SIGKILL of one holder, and ends with every record once, in order, verified', async () => {
    await putRound(10);
    const a = start('a', []);
    const b = start('b', ['--exit-when-idle', '8s']);
    // Both hold leases: the shards are shared out.
    await until(
      async () => Number((await q<{ n: string }>(`SELECT count(DISTINCT owner) AS n FROM "${schema}".consumer_leases WHERE owner IS NOT NULL`))[0]?.n) === 2,
      'two lease holders',
      20_000,
      100,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\nA: ${a.stderr()}\nB: ${b.stderr()}`);
    });
    const owners = await q<{ owner: string; n: string }>(`SELECT owner, count(*) AS n FROM "${schema}".consumer_leases WHERE owner IS NOT NULL GROUP BY owner`);
    assert.deepEqual(owners.map((o) => Number(o.n)).sort(), [2, 2], 'four shards, two each');
    await until(
      async () => Number((await q<{ n: string }>(`SELECT count(*) AS n FROM "${schema}".consumed_audit_records`))[0]?.n ?? 0) > 0,
      'records in the table',
      20_000,
      100,
    );
    await putRound(10);
    a.child.kill('SIGKILL');
    await a.exited;
    await putRound(10);
    assert.equal(await b.exited, 0, b.stderr());

    const rows = await q<{ account_id: string; record: string }>(`SELECT account_id, record FROM "${schema}".consumed_audit_records ORDER BY id`);
    assert.equal(
      rows.length,
      chains.reduce((s, c) => s + c.texts.length, 0),
      'every record once',
    );
    const report = JSON.parse(readFileSync(join(dir, 'b.json'), 'utf8')) as {
      accounts: { account: string; status: string; verified_through_sequence: number; problems: string[] }[];
    };
    for (const c of chains) {
      assert.deepEqual(
        rows.filter((r) => r.account_id === c.account).map((r) => r.record),
        c.texts,
        `${c.account}: in chain order`,
      );
      const acc = report.accounts.find((x) => x.account === c.account);
      assert.deepEqual(acc && [acc.status, acc.verified_through_sequence, acc.problems], ['verified', c.lastSigned, []], c.account);
    }
    // The survivor holds nothing once it stopped; every shard's position is committed.
    const leases = await q<{ owner: string | null; sequence: string | null }>(`SELECT owner, sequence FROM "${schema}".consumer_leases`);
    assert.equal(leases.length, 4);
    assert.ok(leases.every((l) => l.owner === null));
  });
});
