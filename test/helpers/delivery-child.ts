/**
 * A delivering process for the crash and takeover tests: opens the store at DATABASE_URL, runs
 * the delivery engine (real adapters, AWS endpoint from the environment), prints "ready" and its
 * lease-owner name, stops gracefully on SIGTERM. Killed with SIGKILL by the tests.
 * CHILD_SECRETS_KEY (hex): the sink secret box's key, as the test process sealed the webhook
 * secrets with; CHILD_ALLOW_PRIVATE_NETWORKS=1: the receiver is on loopback (test/helpers/sink-rigs.ts).
 * CHILD_BATCH_WINDOW_MS: the engine's batch window (object sinks); CHILD_MAX_BATCH_RECORDS: a
 * lower records-per-batch limit for every adapter (the S3 rig: a backlog is several objects).
 */
import { openStore } from '../../src/store/open.js';
import { configureSecretBox, SecretBox } from '../../src/sinks/secret-box.js';
import { setPrivateNetworksAllowed } from '../../src/sinks/settings.js';
import { DeliveryEngine, type EngineOptions } from '../../src/delivery/engine.js';
import { createAdapter, sinkRegistry } from '../../src/sinks/index.js';
import { createLogger } from '../../src/log.js';

if (process.env['CHILD_SECRETS_KEY']) configureSecretBox(new SecretBox(Buffer.from(process.env['CHILD_SECRETS_KEY'], 'hex')));
if (process.env['CHILD_ALLOW_PRIVATE_NETWORKS'] === '1') setPrivateNetworksAllowed(true);
const maxBatchRecords = Number(process.env['CHILD_MAX_BATCH_RECORDS'] ?? 0);
const lowerBatch =
  (n: number): NonNullable<EngineOptions['createAdapter']> =>
  (row, externalId) => {
    const real = createAdapter(row.spec, { accountId: row.accountId, sinkName: row.name, externalId });
    return { ...real, limits: { ...real.limits, maxBatchRecords: n } };
  };
const store = await openStore(process.env['DATABASE_URL']!);
const engine = new DeliveryEngine({
  sinks: sinkRegistry,
  store,
  owner: `child-${process.pid}`,
  flushIntervalMs: Number(process.env['FLUSH_INTERVAL_MS'] ?? 50),
  leaseTtlMs: Number(process.env['LEASE_TTL_MS'] ?? 2000),
  scanIntervalMs: 200,
  idlePollMs: 100,
  backoff: { baseMs: 50, maxMs: 500 },
  fatalBackoff: { baseMs: 100, maxMs: 1000 },
  ...(process.env['CHILD_BATCH_WINDOW_MS'] ? { batchWindowMs: Number(process.env['CHILD_BATCH_WINDOW_MS']) } : {}),
  ...(maxBatchRecords ? { createAdapter: lowerBatch(maxBatchRecords) } : {}),
  ...(process.env['CHILD_LOG_LEVEL'] ? { logger: createLogger(process.env['CHILD_LOG_LEVEL']) } : {}),
});
engine.start();
// The engine's timers are unref'd (it never holds a process open by itself): keep this one alive.
const keepAlive = setInterval(() => {}, 1 << 30);
process.stdout.write(`ready child-${process.pid}\n`);
process.on('SIGTERM', () => {
  void engine
    .stop(5000)
    .then(() => store.close())
    .then(() => clearInterval(keepAlive))
    .then(() => process.exit(0));
});
