/**
 * The S3 sink as an operator runs it: the real `auditstream serve` (its AWS SDK pointed at moto,
 * a short AUDITSTREAM_BATCH_WINDOW_MS) and `auditstream sinks create --s3-*`; records ingested
 * over HTTP arrive as objects; `sinks verify` answers Success; bad flags are one-line errors naming
 * the field. Then serve is SIGKILLed in the middle of delivering a backlog and started again: no
 * key written twice with other records, no record in two objects, nothing missing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { runCli, startServe, type ServeHandle } from './helpers/cli.js';
import { MOTO_ACCOUNT } from './helpers/moto.js';
import { checkObjects, parseKey, readObjects, storedRecords, startS3ServeRig, type S3ServeRig, type StoredObject } from './helpers/s3.js';
import { ingestSeeds } from './helpers/records.js';
import { until } from './helpers/fake-sink.js';
import { openStore } from '../src/store/open.js';

describe('S3 sink through serve and the CLI', () => {
  let rig: S3ServeRig;
  let dir: string;
  let s3: S3Client;
  let serve: ServeHandle | undefined;
  let cliEnv: Record<string, string>;
  let serveEnv: Record<string, string>;
  let account: string;
  let apiKey: string;

  before(async () => {
    rig = await startS3ServeRig('s3-cli', 'lake-bucket');
    ({ dir, s3, serve, env: serveEnv, account, apiKey } = rig);
    cliEnv = { AUDITSTREAM_URL: rig.serve.url, AUDITSTREAM_API_KEY: apiKey };
  });
  after(async () => {
    if (serve) rig.serve = serve;
    await rig?.stop();
  });

  const objects = (): Promise<StoredObject[]> => readObjects(s3, 'lake-bucket', `audit/${account}/`);
  const count = async (): Promise<number> => (await objects()).reduce((n, o) => n + o.lines.length, 0);

  it('sinks create --s3-* delivers objects; get and verify work; bad flags name the field', async () => {
    const flags = [
      '--s3-bucket',
      'lake-bucket',
      '--s3-prefix',
      'audit',
      '--s3-region',
      'us-east-1',
      '--aws-account-id',
      MOTO_ACCOUNT,
      '--s3-role-name',
      'writer',
    ];
    const c = await runCli(['sinks', 'create', 'lake', ...flags, '--json'], cliEnv, dir);
    assert.equal(c.code, 0, c.stderr);
    const created = JSON.parse(c.stdout) as { kind: string; spec: { s3_sink: Record<string, string> } };
    assert.equal(created.kind, 's3');
    assert.deepEqual(created.spec.s3_sink, { bucket: 'lake-bucket', prefix: 'audit', region: 'us-east-1', aws_account_id: MOTO_ACCOUNT, role_name: 'writer' });
    await ingestSeeds(serve!.url, apiKey, 50, 0, 'cli');
    await until(async () => (await count()) >= 51, 'the creation record and 50 records in S3', 15_000);
    // The first object in chain order (listing order follows the emit-time path: the seeds are from 2023).
    const inOrder = (await objects()).sort((a, b) => parseKey(a.key).first - parseKey(b.key).first);
    const first = JSON.parse(inOrder[0]!.lines[0]!) as { operation: string; details: Record<string, unknown> };
    assert.equal(first.operation, 'UpdateAccount', 'the sink delivers from its own creation record on');
    assert.equal(first.details['sink_name'], 'lake');
    const v = await runCli(['sinks', 'verify', 'lake'], cliEnv, dir);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /Success|"ok": ?true/);
    assert.deepEqual(await readObjects(s3, 'lake-bucket', 'audit/_auditstream-verify/'), [], 'the test object is gone');

    const bad: [string[], RegExp][] = [
      [['--s3-bucket', 'Bad_Bucket'], /400 spec\.s3_sink\.bucket "Bad_Bucket" is not a valid S3 bucket name/],
      [['--s3-prefix', '/lead'], /400 spec\.s3_sink\.prefix must not start with "\/"/],
      [['--s3-region', 'nowhere'], /400 spec\.s3_sink\.region "nowhere"/],
      [['--aws-account-id', '12'], /400 spec\.s3_sink\.aws_account_id "12"/],
      [['--s3-role-name', 'a b'], /400 spec\.s3_sink\.role_name "a b"/],
    ];
    for (const [over, re] of bad) {
      const args = [...flags];
      args[args.indexOf(over[0]!) + 1] = over[1]!;
      const r = await runCli(['sinks', 'create', 'bad', ...args], cliEnv, dir);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    assert.equal((await runCli(['sinks', 'get', 'bad'], cliEnv, dir)).code, 1, 'nothing created');
  });

  it('SIGKILL of serve mid-delivery, then a restart: every record in exactly one object, nothing missing', async () => {
    const before = await count();
    // A backlog of several objects' worth, ingested while delivery runs; serve dies during it.
    let ingested = 0;
    let killed = false;
    const ingesting = (async () => {
      while (!killed && ingested < 30_000) {
        await ingestSeeds(serve!.url, apiKey, 500, ingested, 'kill').catch(() => {});
        ingested += 500;
      }
    })();
    await until(async () => (await count()) > before + 2000, 'delivery under way', 30_000, 50);
    killed = true;
    serve!.child.kill('SIGKILL');
    await serve!.exited;
    await ingesting;
    serve = await startServe(serveEnv, dir);
    cliEnv = { AUDITSTREAM_URL: serve.url, AUDITSTREAM_API_KEY: apiKey };
    await ingestSeeds(serve.url, apiKey, 10, 0, 'after');
    const store = await openStore(join(dir, 'audit.db'));
    try {
      const all = await storedRecords(store, account);
      const firstSeq = all.find((r) => r.json.includes('"sink_name":"lake"'))!.seq;
      const expected = all.filter((r) => r.seq >= firstSeq);
      await until(async () => (await count()) >= expected.length, 'everything delivered after the restart', 60_000, 200);
      const objs = await objects();
      const n = checkObjects(objs, expected);
      assert.equal(new Set(objs.map((o) => o.key)).size, objs.length);
      assert.ok(n >= 3, `several objects (${n})`);
    } finally {
      await store.close();
    }
  });
});
