/**
 * The S3 round trip as a customer runs it: `auditstream serve` delivers to an S3 sink on moto (a
 * short batch window, checkpoints every second), and `auditstream consume --s3-uri` reads the
 * objects back: its output equals the store record for record (from the sink's creation on, in
 * chain order, byte for byte), a second run with the same checkpoint database picks up only what
 * is new, and the proof verifies through the last checkpoint.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { S3Client } from '@aws-sdk/client-s3';
import { runCli, type ServeHandle } from './helpers/cli.js';
import { awsEnvFor, MOTO_ACCOUNT, type Moto } from './helpers/moto.js';
import { readObjects, storedRecords, startS3ServeRig, type S3ServeRig } from './helpers/s3.js';
import { ingestSeeds } from './helpers/records.js';
import { until } from './helpers/fake-sink.js';
import { openStore } from '../src/store/open.js';

interface Report {
  rejected: number;
  duplicates: number;
  accounts: { account: string; status: string; verified_through_sequence: number | null; pending: number; problems: string[] }[];
}

describe('S3 sink → auditstream consume --s3-uri', () => {
  let rig: S3ServeRig;
  let dir: string;
  let moto: Moto;
  let s3: S3Client;
  let serve: ServeHandle;
  let account: string;
  let apiKey: string;
  let pubKey: string;

  before(async () => {
    rig = await startS3ServeRig('s3-consume', 'consume-bucket', { AUDITSTREAM_CHECKPOINT_INTERVAL_MS: '1000' });
    ({ dir, moto, s3, serve, account, apiKey } = rig);
    const keys = await runCli(['keys', 'public'], { AUDITSTREAM_DATA_DIR: join(dir, 'data') }, dir);
    assert.equal(keys.code, 0, keys.stderr);
    pubKey = join(dir, 'operator.pub.pem');
    writeFileSync(pubKey, keys.stdout);
  });
  after(async () => {
    await rig?.stop();
  });

  const outputLines = (): string[] => {
    const d = join(dir, 'out');
    if (!existsSync(d)) return [];
    return readdirSync(d)
      .sort()
      .flatMap((f) =>
        gunzipSync(readFileSync(join(d, f)))
          .toString('utf8')
          .split('\n')
          .filter(Boolean),
      );
  };
  /** The account's stored records from the sink's creation record on, once the last is a checkpoint and all are in S3. */
  const settledExpected = async (): Promise<string[]> => {
    let expected: string[] = [];
    await until(
      async () => {
        const store = await openStore(join(dir, 'audit.db'));
        try {
          const all = await storedRecords(store, account);
          const from = all.findIndex((r) => r.json.includes('"sink_name":"lake"'));
          expected = all.slice(from).map((r) => r.json);
        } finally {
          await store.close();
        }
        if (!expected.at(-1)!.includes('"operation":"ChainCheckpoint"')) return false;
        const inS3 = (await readObjects(s3, 'consume-bucket', `audit/${account}/`)).reduce((n, o) => n + o.lines.length, 0);
        return inS3 === expected.length;
      },
      'a checkpoint after the last record, and everything in S3',
      30_000,
      250,
    );
    return expected;
  };
  const consumeOnce = async (): Promise<{ code: number; stderr: string; report: Report }> => {
    const r = await runCli(
      [
        'consume',
        '--s3-uri',
        's3://consume-bucket/audit',
        '--output',
        join(dir, 'out'),
        '--checkpoint-db',
        join(dir, 'consumer.db'),
        '--public-key',
        pubKey,
        '--reject-file',
        join(dir, 'rejects.jsonl'),
        '--exit-when-idle',
        '2s',
        '--json-report',
        join(dir, 'report.json'),
      ],
      awsEnvFor(moto.url),
      dir,
    );
    return { code: r.code ?? -1, stderr: r.stderr, report: JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as Report };
  };

  it('the consumer output equals the store; a second run reads only what is new; the proof verifies', async () => {
    const cliEnv = { AUDITSTREAM_URL: serve!.url, AUDITSTREAM_API_KEY: apiKey };
    const c = await runCli(
      [
        'sinks',
        'create',
        'lake',
        '--s3-bucket',
        'consume-bucket',
        '--s3-prefix',
        'audit',
        '--s3-region',
        'us-east-1',
        '--aws-account-id',
        MOTO_ACCOUNT,
        '--s3-role-name',
        'w',
      ],
      cliEnv,
      dir,
    );
    assert.equal(c.code, 0, c.stderr);
    await ingestSeeds(serve!.url, apiKey, 300, 0, 'one');
    await ingestSeeds(serve!.url, apiKey, 200, 300, 'one');
    const first = await settledExpected();
    const r1 = await consumeOnce();
    assert.equal(r1.code, 0, r1.stderr);
    assert.deepEqual(outputLines(), first, 'every delivered record once, in chain order, byte for byte');

    await ingestSeeds(serve!.url, apiKey, 250, 500, 'two');
    const second = await settledExpected();
    assert.ok(second.length > first.length);
    const r2 = await consumeOnce();
    assert.equal(r2.code, 0, r2.stderr);
    assert.deepEqual(outputLines(), second, 'the second run added only the new records');
    assert.equal(r2.report.rejected, 0);
    const acc = r2.report.accounts.find((a) => a.account === account)!;
    const lastCheckpoint = JSON.parse(second.at(-1)!) as { details: { sequence: number } };
    assert.deepEqual(
      { status: acc.status, through: acc.verified_through_sequence, problems: acc.problems },
      { status: 'verified', through: lastCheckpoint.details.sequence, problems: [] },
      r2.stderr,
    );
  });
});
