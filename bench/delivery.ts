/**
 * Delivery benchmark: end-to-end latency (append acknowledged → readable in the stream), delivery
 * throughput beside a plain PutRecords / Publish loop with the same SDK in the same run
 * (interleaved rounds, medians), and memory while a 1,000,000-record backlog (spread over several
 * sinks on Kinesis, see KINESIS_MEMORY_RECORDS_PER_SHARD) is delivered under
 * `--max-old-space-size=128`. This file is the entry (`npm run bench` runs it after bench/run.ts);
 * the parts are in bench/delivery/: latency.ts, throughput.ts, memory.ts, render.ts.
 *
 * Starts moto_server and the Pub/Sub emulator itself (test/helpers) and stops them at the end.
 * SQLite store in a temp dir. Run: `npx tsc -p tsconfig.json && node dist/bench/delivery.js`.
 *
 * Settings (environment):
 *   BENCH_DELIVERY_ONLY             comma list of latency,throughput,memory (default all)
 *   BENCH_DELIVERY_SINKS            kinesis,pubsub (default both)
 *   BENCH_DELIVERY_LATENCY_SECONDS  seconds of steady appends per latency run (default 12)
 *   BENCH_DELIVERY_RATES            rate@accounts for latency (default 2000@4): each runs the floor
 *                                   (direct PutRecords / Publish calls, one in flight per account, no
 *                                   engine) and the engine
 *                                   at its defaults, in the same run
 *   BENCH_DELIVERY_LATENCY_ROUNDS   floor/engine rounds per rate (default 3), alternating which goes
 *                                   first; the target compares the medians of their p99
 *   BENCH_DELIVERY_SETTLE_MS        pause after each latency run (default 5000): a busy emulator
 *                                   stays slow for a while
 *   BENCH_DELIVERY_FLUSH_MS         further flush intervals for the engine's latency (default none)
 *   BENCH_DELIVERY_AGG_RATES        rate@accounts for Kinesis with KPL aggregation (default 2000@1)
 *   BENCH_DELIVERY_RECORDS          backlog per throughput round, both sinks (default 10000 for
 *                                   Kinesis, 100000 for Pub/Sub)
 *   BENCH_DELIVERY_PUBSUB_RECORDS   backlog per throughput round for Pub/Sub only (overrides the above)
 *   BENCH_DELIVERY_ROUNDS           throughput rounds per sink (default 3); each round runs the plain
 *                                   loop and the engine (rate cap lifted), alternating which goes first
 *   BENCH_DELIVERY_MEMORY_RECORDS   total backlog for the memory run (default 1000000)
 *   BENCH_DELIVERY_MEMORY_ACCOUNTS  accounts (one sink and one stream/topic each) the memory backlog is
 *                                   spread over (default: Kinesis ceil(records / 10000), Pub/Sub 1)
 *   BENCH_DELIVERY_MEMORY_MAX_S     give up the memory run after this many seconds (default 420)
 *   BENCH_DELIVERY_MEMORY_SINK      kinesis (default) or pubsub for the memory run
 *   BENCH_DELIVERY_MEMORY_CAPPED=1  keep the adapters' per-sink rate limits in the memory run
 *                                   (default: lifted, so 1 M records finish in minutes)
 *   BENCH_DELIVERY_NO_WRITE=1       do not touch BENCHMARKS.md / results json
 *
 * A smoke run of every part in about half a minute (no meaningful figures):
 *   BENCH_DELIVERY_NO_WRITE=1 BENCH_DELIVERY_LATENCY_SECONDS=1 BENCH_DELIVERY_RATES=20@1 BENCH_DELIVERY_FLUSH_MS=100 \
 *   BENCH_DELIVERY_RECORDS=300 BENCH_DELIVERY_ROUNDS=1 BENCH_DELIVERY_MEMORY_RECORDS=400 node dist/bench/delivery.js
 * `node dist/bench/delivery.js --render bench/results-delivery.json` re-renders the section from saved results.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { AuditStore } from '../src/store/store.js';
import { startMoto, useAwsEndpoint, type Moto } from '../test/helpers/moto.js';
import { startPubSubEmulator, type PubSubEmulator } from '../test/helpers/pubsub-emulator.js';
import type { DeliveryOptions, DeliveryResults, SinkKind } from './delivery/results.js';
import { envList, MB } from './delivery/util.js';
import { latencyRun } from './delivery/latency.js';
import { throughputRun } from './delivery/throughput.js';
import { KINESIS_MEMORY_RECORDS_PER_SHARD, memoryChild, memoryRun } from './delivery/memory.js';
import { renderDeliverySection, writeDeliveryOutputs } from './delivery/render.js';

export type { DeliveryOptions, DeliveryResults } from './delivery/results.js';
export { renderDeliverySection, writeDeliveryOutputs } from './delivery/render.js';

export async function runDeliveryBench(opts: DeliveryOptions = {}): Promise<DeliveryResults> {
  const only = opts.only ?? envList('BENCH_DELIVERY_ONLY') ?? ['latency', 'throughput', 'memory'];
  const sinks = opts.sinks ?? (envList('BENCH_DELIVERY_SINKS') as SinkKind[] | undefined) ?? ['kinesis', 'pubsub'];
  const latencySeconds = opts.latencySeconds ?? Number(process.env['BENCH_DELIVERY_LATENCY_SECONDS'] ?? 12);
  // rate@accounts: the rate spread over that many accounts (one sink each).
  const rates = opts.rates ?? envList('BENCH_DELIVERY_RATES') ?? ['2000@4'];
  // Flush intervals besides the default (engine only); none by default.
  const flushMs = opts.flushMs ?? envList('BENCH_DELIVERY_FLUSH_MS')?.map(Number) ?? [];
  const aggRates = envList('BENCH_DELIVERY_AGG_RATES') ?? ['2000@1'];
  const latencyRounds = Number(process.env['BENCH_DELIVERY_LATENCY_ROUNDS'] ?? 3);
  const settleMs = Number(process.env['BENCH_DELIVERY_SETTLE_MS'] ?? 5000);
  // Backlog per throughput round: small for Kinesis (moto's shard slows down as it fills), larger
  // for Pub/Sub (the emulator drains 10,000 records in well under a second).
  const recordsEnv = process.env['BENCH_DELIVERY_RECORDS'];
  const recordsFor = (kind: SinkKind): number =>
    opts.records ??
    Number((kind === 'pubsub' ? process.env['BENCH_DELIVERY_PUBSUB_RECORDS'] : undefined) ?? recordsEnv ?? (kind === 'pubsub' ? 100_000 : 10_000));
  const rounds = opts.rounds ?? Number(process.env['BENCH_DELIVERY_ROUNDS'] ?? 3);
  const memoryRecords = opts.memoryRecords ?? Number(process.env['BENCH_DELIVERY_MEMORY_RECORDS'] ?? 1_000_000);
  const memoryMaxSeconds = opts.memoryMaxSeconds ?? Number(process.env['BENCH_DELIVERY_MEMORY_MAX_S'] ?? 420);

  const results: DeliveryResults = {
    date: new Date().toISOString(),
    machine: `${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${(MB(totalmem()) / 1024) | 0} GB RAM; cores shared with other work during the run`,
    node: process.version,
    latency: [],
    throughput: [],
    notes: [],
  };
  const dir = mkdtempSync(join(process.env['BENCH_TMPDIR'] ?? tmpdir(), 'auditstream-delivery-'));
  let moto: Moto | undefined;
  let emulator: PubSubEmulator | undefined;
  let store: AuditStore | undefined;
  try {
    if (only.includes('latency') || only.includes('throughput')) {
      if (sinks.includes('kinesis')) {
        moto = await startMoto();
        useAwsEndpoint(moto.url);
      }
      if (sinks.includes('pubsub')) {
        emulator = await startPubSubEmulator();
        process.env['PUBSUB_EMULATOR_HOST'] = emulator.host;
      }
      store = await SqliteStore.open(join(dir, 'bench.db'));
      let runId = 0;
      if (only.includes('latency')) {
        // Per sink kind: rounds of the floor (direct calls, one in flight per account) and the
        // engine at its defaults, alternating which goes first (the second run of a pair inherits
        // an emulator still busy with the first: in one order only, that would be one side every
        // time), with a pause after each; then any other flush intervals asked
        // for, then (Kinesis) one account at the aggregation rate with KPL aggregation.
        const settle = () => new Promise((r) => setTimeout(r, settleMs));
        for (const kind of sinks)
          for (const ra of rates) {
            const [r, a] = [Number(ra.split('@')[0]), Number(ra.split('@')[1] ?? 1)];
            for (let round = 1; round <= latencyRounds; round++)
              for (const mode of round % 2 ? (['floor', 'engine'] as const) : (['engine', 'floor'] as const)) {
                results.latency.push({ ...(await latencyRun(store, kind, r, a, undefined, latencySeconds, moto, emulator, ++runId, mode)), round });
                await settle();
              }
            for (const f of flushMs) {
              results.latency.push(await latencyRun(store, kind, r, a, f, latencySeconds, moto, emulator, ++runId, 'engine'));
              await settle();
            }
          }
        if (sinks.includes('kinesis'))
          for (const ra of aggRates)
            results.latency.push(
              await latencyRun(
                store,
                'kinesis',
                Number(ra.split('@')[0]),
                Number(ra.split('@')[1] ?? 1),
                undefined,
                latencySeconds,
                moto,
                emulator,
                ++runId,
                'aggregate',
              ),
            );
      }
      if (only.includes('throughput'))
        for (const kind of sinks)
          results.throughput.push(await throughputRun(dir, kind, recordsFor(kind), rounds, Math.min(recordsFor(kind), 10_000), moto, emulator));
      await store.close();
      store = undefined;
      await moto?.stop();
      moto = undefined;
    }
    const memSink = (process.env['BENCH_DELIVERY_MEMORY_SINK'] ?? 'kinesis') as SinkKind;
    if (only.includes('memory')) {
      if (memSink === 'pubsub' && !emulator) {
        emulator = await startPubSubEmulator();
        process.env['PUBSUB_EMULATOR_HOST'] = emulator.host;
      }
      const memoryAccounts =
        opts.memoryAccounts ??
        Number(process.env['BENCH_DELIVERY_MEMORY_ACCOUNTS'] ?? (memSink === 'kinesis' ? Math.ceil(memoryRecords / KINESIS_MEMORY_RECORDS_PER_SHARD) : 1));
      results.memory = await memoryRun(
        memoryRecords,
        memoryMaxSeconds,
        dir,
        process.env['BENCH_DELIVERY_MEMORY_CAPPED'] !== '1',
        memSink,
        emulator,
        memoryAccounts,
      );
    }
  } finally {
    await store?.close().catch(() => {});
    await moto?.stop();
    await emulator?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return results;
}

async function main(): Promise<void> {
  if (process.argv.includes('--memory-child')) {
    await memoryChild();
    process.exit(0);
  }
  // --render <results.json>: re-render the section from saved results (no measurement).
  const ri = process.argv.indexOf('--render');
  const results = ri > 0 ? (JSON.parse(readFileSync(process.argv[ri + 1]!, 'utf8')) as DeliveryResults) : await runDeliveryBench();
  // A run without the memory part keeps the last measured memory figures, saying from when.
  const saved = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'results-delivery.json');
  if (!results.memory && ri < 0 && existsSync(saved)) {
    const prev = JSON.parse(readFileSync(saved, 'utf8')) as DeliveryResults;
    if (prev.memory) {
      results.memory = prev.memory;
      results.memoryFrom = prev.memoryFrom ?? prev.date;
    }
  }
  process.stdout.write(renderDeliverySection(results));
  if (process.env['BENCH_DELIVERY_NO_WRITE'] !== '1') writeDeliveryOutputs(results);
  process.exit(0);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
