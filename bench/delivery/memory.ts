/** Memory while a large backlog is delivered: a child process under --max-old-space-size=128 runs the engine. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { DeliveryEngine } from '../../src/delivery/engine.js';
import { sinkRegistry } from '../../src/sinks/index.js';
import { createSink } from '../../src/control/sinks-service.js';
import { createStream, kinesisClient, startMoto, useAwsEndpoint } from '../../test/helpers/moto.js';
import { emulatorClient, type PubSubEmulator } from '../../test/helpers/pubsub-emulator.js';
import type { MemoryResult, MemorySample, SinkKind } from './results.js';
import { kinesisSpec, MB, PROJECT, progress, pubsubSpec, sleep } from './util.js';
import { uncappedAdapter } from './instrument.js';
import { appendBacklog } from './backlog.js';

export async function memoryChild(): Promise<void> {
  const store = await SqliteStore.open(process.env['BENCH_MEM_DB']!);
  const target = Number(process.env['BENCH_MEM_RECORDS']);
  let delivered = 0;
  const engine = new DeliveryEngine({
    sinks: sinkRegistry,
    store,
    ...(process.env['BENCH_MEM_UNCAPPED'] === '1' ? { createAdapter: uncappedAdapter } : {}),
    onSent: (_s, v, n) => {
      if (v === 'ok') delivered += n;
    },
  });
  const t0 = Date.now();
  const sample = () => {
    const m = process.memoryUsage();
    process.stdout.write(
      JSON.stringify({
        t: (Date.now() - t0) / 1000,
        rss: m.rss,
        heapUsed: m.heapUsed,
        heapTotal: m.heapTotal,
        external: m.external,
        delivered,
        held: engine.heldSinks().length,
      }) + '\n',
    );
  };
  const timer = setInterval(sample, 1000);
  engine.start();
  sample();
  while (delivered < target) await sleep(50);
  sample();
  clearInterval(timer);
  await engine.stop(5000);
  await store.close();
  process.stdout.write(JSON.stringify({ done: true, seconds: (Date.now() - t0) / 1000, delivered }) + '\n');
}

/**
 * Default records per account (= per single-shard stream) in the Kinesis memory run. moto's
 * `Shard.put_record` lists every key of the shard for each record put, so a put costs
 * O(records already in the shard) and one shard of 1,000,000 records cannot be drained in
 * reasonable time (146,000 in 420 s in an earlier run); the backlog is spread over
 * ceil(records / this) accounts instead, each with its own sink and stream.
 */
export const KINESIS_MEMORY_RECORDS_PER_SHARD = 10_000;

export async function memoryRun(
  n: number,
  maxSeconds: number,
  dir: string,
  uncapped: boolean,
  sink: SinkKind,
  emulator: PubSubEmulator | undefined,
  accounts: number,
): Promise<MemoryResult> {
  const moto = sink === 'kinesis' ? await startMoto() : undefined;
  try {
    // K accounts, each with its own sink and its own single-shard stream / topic.
    const names = Array.from({ length: accounts }, (_, i) => (accounts === 1 ? 'mem' : `mem-${i}`));
    const share = names.map((_, i) => Math.floor(n / accounts) + (i < n % accounts ? 1 : 0));
    if (moto) {
      useAwsEndpoint(moto.url);
      const k = kinesisClient(moto.url);
      for (const name of names) await createStream(k, name);
      k.destroy();
    } else {
      const admin = emulatorClient(emulator!, PROJECT);
      for (const name of names) await admin.createTopic(name);
      await admin.close();
    }
    const dbPath = join(dir, 'memory.db');
    const store = await SqliteStore.open(dbPath);
    for (const name of names) await store.transaction((tx) => createSink(tx, `acct-${name}`, sink === 'kinesis' ? kinesisSpec(name) : pubsubSpec(name)));
    progress(`memory: loading ${n} records over ${accounts} account(s) (${share[0]} each)`);
    const l0 = performance.now();
    for (let i = 0; i < accounts; i++) {
      if (share[i]! > 0) await appendBacklog(store, `acct-${names[i]}`, share[i]!, 1000, 4);
      if (accounts > 1 && (i + 1) % Math.max(1, Math.round(accounts / 5)) === 0) progress(`memory: loaded ${i + 1}/${accounts} accounts`);
    }
    const loadSeconds = (performance.now() - l0) / 1000;
    progress(`memory: loaded in ${loadSeconds.toFixed(1)} s; starting child`);
    await store.close();
    // The benchmark's entry (bench/delivery.ts) runs memoryChild when given --memory-child.
    const entry = fileURLToPath(new URL('../delivery.js', import.meta.url));
    const child = spawn(process.execPath, ['--max-old-space-size=128', entry, '--memory-child'], {
      env: { ...process.env, BENCH_MEM_DB: dbPath, BENCH_MEM_RECORDS: String(n), BENCH_MEM_UNCAPPED: uncapped ? '1' : '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const samples: MemorySample[] = [];
    let completed = false;
    let seconds = NaN;
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          const o = JSON.parse(line) as MemorySample & { done?: boolean; seconds?: number };
          if (o.done) {
            completed = true;
            seconds = o.seconds!;
          } else {
            samples.push(o);
            if (samples.length % 15 === 0)
              progress(`memory: ${o.t.toFixed(0)} s delivered ${o.delivered} rss ${MB(o.rss)} MB heap ${MB(o.heapUsed)} MB, ${o.held} sinks held`);
          }
        } catch {
          /* not ours */
        }
      }
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const timeout = setTimeout(() => {
      progress(`memory: time budget of ${maxSeconds} s reached; stopping the child`);
      child.kill('SIGKILL');
    }, maxSeconds * 1000);
    const exitCode = await exited;
    clearTimeout(timeout);
    const last = samples.at(-1);
    const delivered = last?.delivered ?? 0;
    if (!completed) seconds = last?.t ?? NaN;
    return {
      records: n,
      accounts,
      recordsPerAccount: Math.max(...share),
      loadSeconds,
      completed,
      delivered,
      seconds,
      rps: delivered / seconds,
      peakRssMB: MB(Math.max(...samples.map((s) => s.rss))),
      peakHeapUsedMB: MB(Math.max(...samples.map((s) => s.heapUsed))),
      peakHeapTotalMB: MB(Math.max(...samples.map((s) => s.heapTotal))),
      peakExternalMB: MB(Math.max(...samples.map((s) => s.external))),
      exitCode,
      rateCapLifted: uncapped,
      sink,
      samples,
    };
  } finally {
    await moto?.stop();
  }
}
