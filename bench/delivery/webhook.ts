/**
 * Webhook sink throughput beside a plain HTTPS client loop in the same run: a local HTTPS
 * receiver (throwaway CA, test/helpers/tls.ts), a backlog of N records per round, the engine with
 * the real webhook adapter (signing, SSRF guard off because the receiver is on loopback) against
 * sequential keep-alive POSTs of the same stored records as JSON arrays of the adapter's batch size. Interleaved
 * rounds, medians; the ratio engine/plain is the figure (target ≥ 0.8).
 *
 * Run: `npx tsc -p tsconfig.json && node dist/bench/delivery/webhook.js`
 *   BENCH_WEBHOOK_RECORDS (default 20000), BENCH_WEBHOOK_ROUNDS (default 3)
 */
import { createServer, Agent, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { DeliveryEngine } from '../../src/delivery/engine.js';
import { sinkRegistry } from '../../src/sinks/index.js';
import { configureSecretBox, SecretBox } from '../../src/sinks/secret-box.js';
import { setPrivateNetworksAllowed } from '../../src/sinks/settings.js';
import { createSink } from '../../src/control/sinks-service.js';
import { makeTestTls } from '../../test/helpers/tls.js';
import { WEBHOOK_LIMITS } from '../../src/sinks/webhook/limits.js';
import { appendBacklog } from './backlog.js';
import { median, progress, sleep } from './util.js';

const N = Number(process.env['BENCH_WEBHOOK_RECORDS'] ?? 20_000);
const ROUNDS = Number(process.env['BENCH_WEBHOOK_ROUNDS'] ?? 3);

async function main(): Promise<void> {
  configureSecretBox(new SecretBox(randomBytes(32)));
  setPrivateNetworksAllowed(true);
  const tls = makeTestTls();
  let received = 0;
  const server = createServer({ key: tls.keyPem, cert: tls.certPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received += (JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown[]).length;
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `https://localhost:${(server.address() as AddressInfo).port}/in`;
  const dir = mkdtempSync(join(tmpdir(), 'auditstream-bench-webhook-'));
  const engineRps: number[] = [];
  const plainRps: number[] = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const account = `wh${round}`;
      const store = await SqliteStore.open(join(dir, `${account}.db`));
      await store.transaction((tx) =>
        createSink(tx, account, { name: account, enabled: true, webhookSink: { url, format: 'json', headers: [], caPem: tls.caPem } }),
      );
      await appendBacklog(store, account, N);
      const stored: string[] = [];
      for (let from = 1; stored.length < N;) {
        const page = await store.readChain(account, from, 5000);
        stored.push(...page.map((r) => r.recordJson));
        from = page.at(-1)!.seq + 1;
      }
      await sleep(1100); // older than the flush interval, as a real backlog
      const runEngine = async () => {
        let ok = 0;
        let done: () => void = () => {};
        const finished = new Promise<void>((r) => (done = r));
        const engine = new DeliveryEngine({
          sinks: sinkRegistry,
          store,
          onSent: (_s, v, n) => {
            if (v === 'ok' && (ok += n) >= N) done();
          },
        });
        const t0 = performance.now();
        engine.start();
        await finished;
        const s = (performance.now() - t0) / 1000;
        await engine.stop(5000);
        engineRps.push(N / s);
      };
      const runPlain = async () => {
        const agent = new Agent({ keepAlive: true, ca: tls.caPem });
        const t0 = performance.now();
        // The adapter's batch size, so both send the same requests.
        const per = WEBHOOK_LIMITS.maxBatchRecords;
        for (let i = 0; i < N; i += per) {
          const body = Buffer.from(`[${stored.slice(i, i + per).join(',')}]`);
          await new Promise<void>((resolve, reject) => {
            const req = request(
              url,
              { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': String(body.length) } },
              (res) => {
                res.resume();
                res.on('end', () => (res.statusCode === 204 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
              },
            );
            req.on('error', reject);
            req.end(body);
          });
        }
        plainRps.push(N / ((performance.now() - t0) / 1000));
        agent.destroy();
      };
      // Alternate which goes first.
      if (round % 2) {
        await runPlain();
        await runEngine();
      } else {
        await runEngine();
        await runPlain();
      }
      progress(`webhook round ${round + 1}: engine ${Math.round(engineRps.at(-1)!)} rec/s, plain ${Math.round(plainRps.at(-1)!)} rec/s`);
      await store.close();
    }
    const e = median(engineRps);
    const p = median(plainRps);
    const line = `webhook: engine ${Math.round(e)} records/s, plain HTTPS loop ${Math.round(p)} records/s, ratio ${(e / p).toFixed(2)} (median of ${ROUNDS} rounds of ${N} records; ${received} records received)`;
    process.stdout.write(line + '\n');
  } finally {
    server.closeAllConnections();
    server.close();
    tls.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
