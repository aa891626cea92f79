/**
 * KPL aggregation (src/sinks/kinesis/aggregate.ts): the format, byte for byte as the standard
 * deaggregator `aws-kinesis-agg` reads it (magic, protobuf, MD5 trailer checked), the packing
 * within Kinesis' record limit, the engine's accounting (Kinesis records and bytes), partial
 * failures of aggregated records, the spec extension, and delivery end to end through moto,
 * read back with `aws-kinesis-agg`: every record, in chain order.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand } from '@aws-sdk/client-kinesis';
import { aggregateOverheadBytes, encodeAggregate, KPL_MAGIC, packedRecordBytes, planAggregates } from '../src/sinks/kinesis/aggregate.js';
import { createKinesisAdapter, expandPacks } from '../src/sinks/kinesis/adapter.js';
import { KINESIS_LIMITS } from '../src/sinks/kinesis/limits.js';
import { resendFrom } from '../src/delivery/batcher.js';
import type { EncodedEntry, Verdict } from '../src/delivery/adapter.js';
import type { AuditLogSinkSpec } from '../src/sinks/spec.js';
import type { AuditStore } from '../src/store/store.js';
import { DeliveryEngine } from '../src/delivery/engine.js';
import { sinkRegistry } from '../src/sinks/index.js';
import { createSink, extensionsOf, getSink, setSinkExtensions, sinkStatus, updateSink } from '../src/control/sinks-service.js';
import { createStream, isSubsequence, MOTO_ACCOUNT, startKinesisRig, type KinesisRig } from './helpers/moto.js';
import type { FaultProxy } from './helpers/fault-proxy.js';
import { makeRecord } from './helpers/records.js';
import { until } from './helpers/fake-sink.js';
import { deaggregate } from './helpers/kpl.js';

const arn = (stream: string) => `arn:aws:kinesis:us-east-1:${MOTO_ACCOUNT}:stream/${stream}`;
const spec = (name: string, stream: string, aggregate?: boolean): AuditLogSinkSpec => ({
  name,
  enabled: true,
  kinesisSink: { roleName: 'auditstream-writer', destinationUri: arn(stream), region: 'us-east-1', ...(aggregate === undefined ? {} : { aggregate }) },
});

/** Random strings over the whole of Unicode's BMP and astral planes (no lone surrogates). */
function randomText(len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) {
    const r = Math.random();
    s +=
      r < 0.6
        ? String.fromCharCode(32 + Math.floor(Math.random() * 95))
        : r < 0.9
          ? String.fromCharCode(0xa0 + Math.floor(Math.random() * 0xd000))
          : String.fromCodePoint(0x1f300 + Math.floor(Math.random() * 500));
  }
  return s;
}

describe('KPL aggregated record format', () => {
  it('is magic ‖ AggregatedRecord ‖ MD5 of the AggregatedRecord, and aws-kinesis-agg reads it back in order', () => {
    const datas = [Buffer.from('{"a":1}'), Buffer.from('{"b":"ü"}'), Buffer.alloc(0), Buffer.from('x'.repeat(300))];
    const blob = encodeAggregate('acct-1', datas);
    assert.deepEqual(blob.subarray(0, 4), KPL_MAGIC);
    assert.deepEqual([...KPL_MAGIC], [0xf3, 0x89, 0x9a, 0xc2]);
    const proto = blob.subarray(4, blob.length - 16);
    assert.deepEqual(blob.subarray(blob.length - 16), createHash('md5').update(proto).digest());
    // partition_key_table[0] = "acct-1" is the first field.
    assert.deepEqual([...proto.subarray(0, 2)], [0x0a, 6]);
    assert.equal(proto.subarray(2, 8).toString(), 'acct-1');
    assert.deepEqual(deaggregate(blob, 'acct-1'), datas);
  });

  it('a corrupted byte fails the MD5 check of aws-kinesis-agg', () => {
    const blob = encodeAggregate('acct-1', [Buffer.from('{"a":1}'), Buffer.from('{"a":2}')]);
    blob[blob.length - 20] ^= 0xff;
    assert.throws(() => deaggregate(blob, 'acct-1'), /checksum/i);
  });

  it('round-trips random records of random sizes and keys (property), and its size arithmetic is exact', () => {
    for (let round = 0; round < 60; round++) {
      const key = randomText(1 + Math.floor(Math.random() * 40));
      const n = 1 + Math.floor(Math.random() * 40);
      // Sizes around the varint boundaries (127/128, 16383/16384) as well as small ones.
      const sizes = Array.from(
        { length: n },
        () => [0, 1, 127, 128, 200, 16_383, 16_384, 20_000][Math.floor(Math.random() * 8)]! + Math.floor(Math.random() * 3),
      );
      const datas = sizes.map((len) => Buffer.from(randomText(len)).subarray(0, len));
      const blob = encodeAggregate(key, datas);
      assert.deepEqual(deaggregate(blob, key), datas, `round ${round}`);
      const expected = aggregateOverheadBytes(key) - Buffer.byteLength(key) + datas.reduce((s, d) => s + packedRecordBytes(d.length), 0);
      assert.equal(blob.length, expected, 'packedRecordBytes and aggregateOverheadBytes add up to the encoded length');
    }
  });

  it('packs in order into records within the limit (data + partition key), each one a consecutive run', () => {
    for (let round = 0; round < 40; round++) {
      const key = `acct-${round}`;
      const max = 2000 + Math.floor(Math.random() * 50_000);
      const sizes = Array.from({ length: 1 + Math.floor(Math.random() * 200) }, () => Math.floor(Math.random() * 1500));
      const packs = planAggregates(sizes, key, max);
      assert.equal(packs[0]![0], 0);
      assert.equal(packs.at(-1)![1], sizes.length);
      for (const [i, [from, to]] of packs.entries()) {
        assert.ok(to > from);
        if (i > 0) assert.equal(from, packs[i - 1]![1], 'consecutive');
        const blob = encodeAggregate(
          key,
          sizes.slice(from, to).map((s) => Buffer.alloc(s, 0x61)),
        );
        assert.ok(blob.length + Buffer.byteLength(key) <= max, `pack ${i} of round ${round} over ${max}`);
        // Greedy: the next record would not have fitted.
        if (to < sizes.length) assert.ok(blob.length + Buffer.byteLength(key) + packedRecordBytes(sizes[to]!) > max);
      }
    }
  });

  it('a failed aggregated record fails every audit record in it; the resend starts at the first of them', () => {
    const packs: Array<[number, number]> = [
      [0, 3],
      [3, 5],
      [5, 9],
    ];
    const v = expandPacks({ kind: 'throttle', only: [1], reason: 'x' }, packs);
    assert.deepEqual(v.kind === 'throttle' && v.only, [3, 4]);
    const entries: EncodedEntry[] = Array.from({ length: 9 }, (_, i) => ({ seq: i + 1, logId: `l${i}`, partitionKey: 'acct', data: Buffer.from('{}') }));
    assert.deepEqual(
      resendFrom(entries, v.kind === 'throttle' ? v.only! : []).map((e) => e.seq),
      [4, 5, 6, 7, 8, 9],
      'later packs go again too, so the partition stays in order',
    );
    assert.deepEqual(expandPacks({ kind: 'ok' }, packs), { kind: 'ok' });
    assert.deepEqual(expandPacks({ kind: 'retry', reason: 'all' }, packs), { kind: 'retry', reason: 'all' });
  });

  it('the adapter counts Kinesis records and bytes as packed, and keeps one entry within 1 MiB', () => {
    const deps = { accountId: 'acct-units', sinkName: 'main', externalId: 'x' };
    const plain = createKinesisAdapter(spec('p', 's').kinesisSink!, deps);
    const agg = createKinesisAdapter(spec('a', 's', true).kinesisSink!, deps);
    assert.equal(plain.units, undefined);
    assert.deepEqual(plain.limits, KINESIS_LIMITS);
    assert.equal(agg.limits.recordsPerSecond, 1000);
    assert.equal(agg.limits.bytesPerSecond, 1024 * 1024);
    const overhead = aggregateOverheadBytes('acct-units');
    assert.equal(agg.limits.maxRecordBytes + overhead, 1024 * 1024);
    const entries = Array.from({ length: 2500 }, (_, i) => agg.encode('acct-units', i + 1, `l${i}`, JSON.stringify(makeRecord())));
    const u = agg.units!(entries);
    const packs = planAggregates(
      entries.map((e) => e.data.length),
      'acct-units',
    );
    assert.equal(u.records, packs.length);
    const actual = packs.reduce(
      (s, [from, to]) =>
        s +
        encodeAggregate(
          'acct-units',
          entries.slice(from, to).map((e) => e.data),
        ).length +
        Buffer.byteLength('acct-units'),
      0,
    );
    assert.equal(u.bytes, actual, 'bytes charged = data + partition key of the aggregated records');
    assert.ok(u.records < 5, `2,500 records of ~400 bytes pack into ${u.records} Kinesis records`);
    // An entry as large as the limit allows still fits one Kinesis record alone.
    const big = agg.encode('acct-units', 1, 'big', 'x'.repeat(agg.limits.maxRecordBytes - 10));
    assert.ok((big.sizeBytes ?? 0) <= agg.limits.maxRecordBytes);
    assert.ok(encodeAggregate('acct-units', [big.data]).length + Buffer.byteLength('acct-units') <= 1024 * 1024);
    void plain.close();
    void agg.close();
  });
});

describe('KPL aggregation against moto', () => {
  let proxy: FaultProxy;
  let kinesis: KinesisClient;
  let rig: KinesisRig;
  let store: AuditStore;
  const engines: DeliveryEngine[] = [];

  before(async () => {
    rig = await startKinesisRig();
    ({ proxy, kinesis, store } = rig);
  });
  after(() => rig.stop(engines));

  const startEngine = (onSent?: (s: string, v: Verdict['kind'], n: number) => void) => {
    const e = new DeliveryEngine({
      sinks: sinkRegistry,
      store,
      flushIntervalMs: 50,
      idlePollMs: 200,
      scanIntervalMs: 100,
      leaseTtlMs: 5000,
      backoff: { baseMs: 50, maxMs: 400 },
      ...(onSent ? { onSent } : {}),
    });
    engines.push(e);
    e.start();
    return e;
  };
  /** Every Kinesis record of the stream, and the user records aws-kinesis-agg reads from them. */
  const readAggregated = async (stream: string): Promise<{ kinesisRecords: number; logIds: string[]; partitionKeys: Set<string> }> => {
    const shards = await kinesis.send(new ListShardsCommand({ StreamName: stream }));
    let it = (await kinesis.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: shards.Shards![0]!.ShardId!, ShardIteratorType: 'TRIM_HORIZON' })))
      .ShardIterator;
    const logIds: string[] = [];
    const partitionKeys = new Set<string>();
    let kinesisRecords = 0;
    for (;;) {
      const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: it!, Limit: 10_000 }));
      for (const r of page.Records ?? []) {
        kinesisRecords++;
        partitionKeys.add(r.PartitionKey!);
        for (const d of deaggregate(r.Data!, r.PartitionKey!, r.SequenceNumber!))
          logIds.push(String((JSON.parse(d.toString('utf8')) as { log_id: string }).log_id));
      }
      if (!page.Records?.length || !page.NextShardIterator) break;
      it = page.NextShardIterator;
    }
    return { kinesisRecords, logIds, partitionKeys };
  };
  const appendN = async (accountId: string, n: number, over: Parameters<typeof makeRecord>[0] = {}): Promise<string[]> => {
    const records = Array.from({ length: n }, () => makeRecord(over));
    for (let i = 0; i < records.length; i += 500) await store.append({ accountId, records: records.slice(i, i + 500), ingestedBy: null });
    return records.map((r) => r.log_id);
  };

  it('delivers every record of an aggregating sink in chain order, in few Kinesis records, readable by aws-kinesis-agg', async () => {
    await createStream(kinesis, 'agg-steady');
    await store.transaction((tx) => createSink(tx, 'acct-agg', spec('main', 'agg-steady', true)));
    const engine = startEngine();
    const ids = await appendN('acct-agg', 3000);
    engine.notify('acct-agg');
    await until(async () => (await sinkStatus(store.sql, 'acct-agg', 'main')).backlog === 0, 'delivered', 30_000, 100);
    const got = await readAggregated('agg-steady');
    assert.deepEqual(got.logIds, ids, 'every record once, in chain order');
    assert.deepEqual([...got.partitionKeys], ['acct-agg']);
    assert.ok(got.kinesisRecords <= 3000 / 100, `3,000 audit records in ${got.kinesisRecords} Kinesis records`);
    await engine.stop();
  });

  it('a partial failure of one aggregated record is resent from its first audit record: nothing lost, order kept', async () => {
    await createStream(kinesis, 'agg-partial');
    const adapter = createKinesisAdapter(spec('main', 'agg-partial', true).kinesisSink!, { accountId: 'acct-partial', sinkName: 'main', externalId: 'x' });
    // ~300 KB records: three packs (3 + 3 + 1) in one call.
    const entries = Array.from({ length: 7 }, (_, i) =>
      adapter.encode('acct-partial', i + 1, `l${i}`, JSON.stringify({ log_id: `l${i}`, pad: 'p'.repeat(300_000) })),
    );
    const answer = await adapter.send(entries);
    assert.equal((answer as { Records: unknown[] }).Records.length, 3);
    const verdict = adapter.classify(
      {
        value: {
          FailedRecordCount: 1,
          Records: [{ SequenceNumber: '1' }, { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'slow down' }, { SequenceNumber: '3' }],
        },
      },
      entries,
    );
    assert.equal(verdict.kind, 'throttle');
    assert.deepEqual(verdict.kind === 'throttle' && verdict.only, [3, 4, 5]);
    await adapter.close();

    // End to end: throttled entries and calls through the fault proxy, then the path clears.
    await store.transaction((tx) => createSink(tx, 'acct-agg-faults', spec('main', 'agg-faults', true)));
    await createStream(kinesis, 'agg-faults');
    const verdicts: Verdict['kind'][] = [];
    const engine = startEngine((_s, v) => verdicts.push(v));
    proxy.setMode({ kind: 'throttle-entries', share: 0.5 });
    const ids = await appendN('acct-agg-faults', 1500);
    engine.notify('acct-agg-faults');
    await until(() => proxy.stats.throttledEntries > 3, 'entry throttling', 20_000);
    proxy.setMode({ kind: 'throttle-calls', share: 1 });
    ids.push(...(await appendN('acct-agg-faults', 500)));
    engine.notify('acct-agg-faults');
    await until(() => proxy.stats.throttledCalls > 2, 'call throttling', 20_000);
    proxy.setMode({ kind: 'pass' });
    await until(async () => (await sinkStatus(store.sql, 'acct-agg-faults', 'main')).backlog === 0, 'caught up', 30_000, 100);
    const got = await readAggregated('agg-faults');
    assert.ok(isSubsequence(ids, got.logIds), 'every record, in order');
    assert.equal(new Set(got.logIds).size, 2000);
    assert.ok(verdicts.includes('throttle'));
    await engine.stop();
  });

  it('the extension: set and cleared through setSinkExtensions, kept by Ops API updates, refused for Pub/Sub and when not boolean', async () => {
    await store.transaction((tx) => createSink(tx, 'acct-ext', spec('k', 'agg-ext')));
    assert.equal(extensionsOf((await getSink(store.sql, 'acct-ext', 'k')).spec).kinesisAggregate, false);
    const v1 = await store.transaction((tx) => setSinkExtensions(tx, 'acct-ext', 'k', { kinesisAggregate: true }, ''));
    assert.equal(v1.spec.kinesisSink!.aggregate, true);
    // An Ops API update cannot name the field: it keeps it.
    const v2 = await store.transaction((tx) => updateSink(tx, 'acct-ext', { ...spec('k', 'agg-ext-2'), enabled: false }, v1.resourceVersion));
    assert.equal(v2.spec.kinesisSink!.aggregate, true);
    assert.equal(v2.spec.kinesisSink!.destinationUri, arn('agg-ext-2'));
    // A stale version is refused.
    await assert.rejects(
      store.transaction((tx) => setSinkExtensions(tx, 'acct-ext', 'k', { kinesisAggregate: false }, v1.resourceVersion)),
      (e: Error & { code?: string }) => e.code === 'AS_ERR_FAILED_PRECONDITION',
    );
    const v3 = await store.transaction((tx) => setSinkExtensions(tx, 'acct-ext', 'k', { kinesisAggregate: false }, v2.resourceVersion));
    assert.equal(v3.spec.kinesisSink!.aggregate, undefined);
    await store.transaction((tx) =>
      createSink(tx, 'acct-ext', {
        name: 'p',
        enabled: true,
        pubSubSink: { serviceAccountId: 'writer@proj-123456.iam.gserviceaccount.com', topicName: 'audit', gcpProjectId: 'proj-123456' },
      }),
    );
    await assert.rejects(
      store.transaction((tx) => setSinkExtensions(tx, 'acct-ext', 'p', { kinesisAggregate: true }, '')),
      /Kinesis sinks only/,
    );
    await assert.rejects(
      store.transaction((tx) =>
        createSink(tx, 'acct-ext', {
          ...spec('bad', 'agg-ext'),
          kinesisSink: { ...spec('bad', 'agg-ext').kinesisSink!, aggregate: 'yes' as unknown as boolean },
        }),
      ),
      /aggregate must be true or false/,
    );
  });

  it('random bytes in the stream are not mistaken for aggregated records by the deaggregator (sanity of the helper)', () => {
    const plain = Buffer.from(JSON.stringify({ log_id: 'x' }));
    assert.deepEqual(deaggregate(plain), [plain]);
    const noise = randomBytes(64);
    noise[0] = 0x00;
    assert.deepEqual(deaggregate(noise), [noise]);
  });
});
