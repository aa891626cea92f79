/**
 * `auditstream consume` against what the real delivery engine put into moto through the fault
 * proxy (docs/decisions/0023-consumer-reorders-resends.md): a plain Kinesis sink whose PutRecords
 * entries are throttled at random, so the stream really holds resends whose first copies came
 * before the failed record, and an aggregating sink (`--kinesis-aggregate`, KPL format) under the
 * same faults. The consumer's output equals the store record for record, in chain order, and
 * its proof verifies through the last checkpoint.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand } from '@aws-sdk/client-kinesis';
import { checkpointAll } from '../src/chain/checkpoint.js';
import { DeliveryEngine } from '../src/delivery/engine.js';
import { sinkRegistry } from '../src/sinks/index.js';
import { createSink, sinkStatus } from '../src/control/sinks-service.js';
import type { AuditLogSinkSpec } from '../src/sinks/spec.js';
import { awsEnvFor, createStream, MOTO_ACCOUNT, startKinesisRig, type KinesisRig } from './helpers/moto.js';
import { makeRecord } from './helpers/records.js';
import { until } from './helpers/fake-sink.js';
import { testSigner } from './helpers/retention.js';
import { deaggregate } from './helpers/kpl.js';
import { startConsume } from './helpers/cli.js';

const arn = (stream: string) => `arn:aws:kinesis:us-east-1:${MOTO_ACCOUNT}:stream/${stream}`;
const spec = (stream: string, aggregate: boolean): AuditLogSinkSpec => ({
  name: 'main',
  enabled: true,
  kinesisSink: { roleName: 'auditstream-writer', destinationUri: arn(stream), region: 'us-east-1', ...(aggregate ? { aggregate } : {}) },
});

describe('auditstream consume over a partially failing sink (moto behind the fault proxy)', () => {
  let rig: KinesisRig;
  let dir: string;
  const engines: DeliveryEngine[] = [];
  const signer = testSigner();

  before(async () => {
    rig = await startKinesisRig();
    dir = mkdtempSync(join(tmpdir(), 'consume-resend-'));
    writeFileSync(join(dir, 'pub.pem'), signer.publicKey.export({ type: 'spki', format: 'pem' }));
  });
  after(async () => {
    await rig.stop(engines);
    rmSync(dir, { recursive: true, force: true });
  });

  /** The log ids of a stream's records in arrival order, every copy (aggregates opened). */
  const arrivals = async (stream: string): Promise<string[]> => {
    const shards = await rig.kinesis.send(new ListShardsCommand({ StreamName: stream }));
    let it = (
      await rig.kinesis.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: shards.Shards![0]!.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }))
    ).ShardIterator;
    const ids: string[] = [];
    for (;;) {
      const page = await rig.kinesis.send(new GetRecordsCommand({ ShardIterator: it!, Limit: 10_000 }));
      for (const r of page.Records ?? [])
        for (const d of deaggregate(r.Data!, r.PartitionKey!)) ids.push((JSON.parse(d.toString()) as { log_id: string }).log_id);
      if (!page.Records?.length) break;
      it = page.NextShardIterator;
    }
    return ids;
  };

  for (const aggregate of [false, true]) {
    it(`${aggregate ? 'an aggregating sink (KPL)' : 'a plain sink'} with throttled entries: output equals the store record for record, verified`, async () => {
      const account = aggregate ? 'acct-resend-kpl' : 'acct-resend';
      const stream = aggregate ? 'resend-kpl' : 'resend-plain';
      await createStream(rig.kinesis, stream);
      await rig.store.transaction((tx) => createSink(tx, account, spec(stream, aggregate)));
      const engine = new DeliveryEngine({
        sinks: sinkRegistry,
        store: rig.store,
        flushIntervalMs: 50,
        idlePollMs: 200,
        scanIntervalMs: 100,
        leaseTtlMs: 5000,
        backoff: { baseMs: 50, maxMs: 400 },
      });
      engines.push(engine);
      engine.start();
      rig.proxy.setMode({ kind: 'throttle-entries', share: 0.3 });
      const throttledBefore = rig.proxy.stats.throttledEntries;
      let lastSigned = 0;
      for (let round = 0; round < 4; round++) {
        // Large records for the aggregating sink, so that one call carries several aggregates.
        const records = Array.from({ length: 400 }, () => makeRecord(aggregate ? { details: { pad: 'p'.repeat(6_000) } } : {}));
        for (let i = 0; i < records.length; i += 200) await rig.store.append({ accountId: account, records: records.slice(i, i + 200), ingestedBy: null });
        lastSigned = (await checkpointAll(rig.store, signer)).find((c) => c.accountId === account)!.seq;
        engine.notify(account);
      }
      // Throttled until a few dozen entries (a few aggregates) failed (under constant throttling a 500-entry batch
      // resent from its first failed entry barely moves), then the path clears.
      await until(() => rig.proxy.stats.throttledEntries > throttledBefore + (aggregate ? 2 : 30), 'entry throttling', 20_000);
      rig.proxy.setMode({ kind: 'pass' });
      await until(async () => (await sinkStatus(rig.store.sql, account, 'main')).backlog === 0, 'delivered', 60_000, 100);

      const chain = (await rig.store.readChainBodies(account, 1, 100_000)).map((b) => b.recordJson);
      const ids = chain.map((t) => (JSON.parse(t) as { log_id: string }).log_id);
      const got = await arrivals(stream);
      const firstCopies = [...new Set(got)];
      assert.deepEqual([...firstCopies].sort(), [...ids].sort(), 'the stream holds every record');
      if (!aggregate) assert.notDeepEqual(firstCopies, ids, 'some record arrived first before an earlier one (a resend)');

      const out = join(dir, `${stream}.db`);
      const report = join(dir, `${stream}.json`);
      const run = startConsume(
        [
          '--kinesis-stream-arn',
          arn(stream),
          '--output',
          `sqlite:${out}`,
          '--checkpoint-db',
          join(dir, `${stream}-cp.db`),
          '--public-key',
          join(dir, 'pub.pem'),
          '--exit-when-idle',
          '3s',
          '--json-report',
          report,
        ],
        awsEnvFor(rig.moto.url),
        dir,
      );
      assert.equal(await run.exited, 0, run.stderr());
      const db = new Database(out, { readonly: true });
      const written = (db.prepare('SELECT record FROM consumed_audit_records WHERE account_id = ? ORDER BY id').all(account) as { record: string }[]).map(
        (r) => r.record,
      );
      db.close();
      assert.equal(written.length, chain.length, 'every record once');
      assert.deepEqual(written, chain, 'the store, record for record, in chain order');
      const acc = (
        JSON.parse(readFileSync(report, 'utf8')) as { accounts: { account: string; status: string; verified_through_sequence: number; problems: string[] }[] }
      ).accounts;
      assert.deepEqual(
        acc.map((a) => [a.account, a.status, a.verified_through_sequence, a.problems]),
        [[account, 'verified', lastSigned, []]],
      );
      await engine.stop(1000);
    });
  }
});
