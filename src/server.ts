/**
 * `auditstream serve`: opens the store, starts the HTTP (and later gRPC) listeners and the
 * background jobs, and shuts all of it down in reverse order on the first SIGINT/SIGTERM:
 * stop intake (new requests get 503), let in-flight requests finish, flush queued appends, sign
 * a last checkpoint, close the store. A second signal exits at once.
 */
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import { createLogger, type Logger } from './log.js';
import { openStore, parseDatabaseUrl } from './store/open.js';
import type { AuditStore } from './store/store.js';
import { buildApp } from './api/app.js';
import { createMetrics } from './api/metrics.js';
import { loadSigner } from './chain/checkpoint.js';
import { checkpointRound, every, retentionRound, type Job } from './retention/jobs.js';
import { createControlPlane } from './control/control-plane.js';
import { ensureInitialAccount } from './control/accounts.js';
import { registerCloudHttpRoutes } from './api/cloud/http-routes.js';
import { startGrpcServer } from './api/cloud/grpc-server.js';
import { DeliveryEngine } from './delivery/engine.js';
import { loadConsole } from './api/console.js';
import { sinkRegistry } from './sinks/index.js';
import { configureSecretBox, loadSecretBox } from './sinks/secret-box.js';
import { setPrivateNetworksAllowed } from './sinks/settings.js';

export interface RunningServer {
  store: AuditStore;
  app: FastifyInstance;
  httpUrl: string;
  /** host:port of the gRPC listener (Cloud Ops API). */
  grpcAddress: string;
  logger: Logger;
  /** Graceful stop; safe to call twice. */
  stop(): Promise<void>;
}

export async function startServer(config: Readonly<Config>, logger: Logger = createLogger(config.logLevel)): Promise<RunningServer> {
  const releasers: { name: string; release: () => Promise<void> }[] = [];
  const releaseAll = async () => {
    // Reverse order of acquisition: listeners first, store last.
    for (const r of releasers.reverse()) {
      try {
        await r.release();
      } catch (err) {
        logger.error({ err, resource: r.name }, 'error while shutting down');
      }
    }
    releasers.length = 0;
  };
  try {
    restrictFileModes(config);
    const store = await openStore(config.databaseUrl, (e) =>
      logger.info(
        { migration: e.id, records: e.records, ...(e.ms === undefined ? {} : { ms: e.ms }) },
        e.ms === undefined ? 'applying migration' : 'migration applied',
      ),
    );
    restrictFileModes(config);
    releasers.push({ name: 'store', release: () => store.close() });
    logger.info({ engine: store.engine }, 'store opened');

    const signer = loadSigner(config.signingKeyPath, config.signingKeyGenerate);
    // Sink secrets at rest, and whether sinks may reach private networks: before any sink is used.
    configureSecretBox(loadSecretBox(config.secretsKeyPath, config.secretsKeyGenerate));
    setPrivateNetworksAllowed(config.sinkAllowPrivateNetworks);

    // Delivery: one worker per sink this process holds the lease of.
    const engine = new DeliveryEngine({
      sinks: sinkRegistry,
      store,
      flushIntervalMs: config.flushIntervalMs,
      batchWindowMs: config.batchWindowMs,
      gcpServiceAccount: config.gcpServiceAccount,
      logger,
    });
    engine.start();
    releasers.push({ name: 'delivery', release: () => engine.stop() });
    const notify = (accountId: string) => engine.notify(accountId);

    const metrics = createMetrics();
    const jobs: Job[] = [
      every(config.retentionIntervalMs, 'retention', logger, retentionRound(store, signer, config.retentionDays, config.retentionBatchSize, logger, metrics)),
      every(config.checkpointIntervalMs, 'checkpoint', logger, checkpointRound(store, signer, logger, metrics, notify)),
    ];
    const checkpoint = jobs[1]!;
    releasers.push({
      name: 'jobs',
      release: async () => {
        for (const j of jobs) await j.stop();
        // Sign what was written up to the end, so tail truncation while stopped is detectable.
        await checkpoint.runOnce();
      },
    });

    const initialAdmin = await ensureInitialAccount(store, config.dataDir);
    if (initialAdmin) logger.info({ path: initialAdmin }, 'first start: created account "default"; its owner credentials are in this file (mode 0600)');

    const control = createControlPlane({
      store,
      config,
      logger,
      metrics,
      onCommit: notify,
      delivery: engine,
      checkpointKey: { keyId: signer.keyId, publicKey: signer.publicKey },
    });
    const https = config.tlsCert && config.tlsKey ? { cert: readFileSync(config.tlsCert), key: readFileSync(config.tlsKey) } : undefined;
    const consoleFiles = loadConsole();
    if (!consoleFiles) logger.warn('web console not built (ui/dist is missing): run npm run build');
    const app = await buildApp({
      store,
      config,
      logger,
      metrics,
      auth: control.apiAuth,
      onRefused: control.recordRefusedRead,
      onCommit: notify,
      signingKeys: [{ key_id: signer.keyId, public_key_pem: signer.publicKey.export({ type: 'spki', format: 'pem' }).toString() }],
      ...(https ? { https } : {}),
      ...(consoleFiles ? { console: consoleFiles } : {}),
      register: (a) => {
        registerCloudHttpRoutes(a, control.handlers);
        control.registerRoutes(a);
      },
    });
    releasers.push({ name: 'http', release: () => app.close() });
    await app.listen({ host: config.host, port: config.httpPort });
    const addr = app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : config.httpPort;
    const httpUrl = `${https ? 'https' : 'http'}://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;

    const grpc = await startGrpcServer({ host: config.host, port: config.grpcPort, handlers: control.handlers, logger, ...(https ? { tls: https } : {}) });
    releasers.push({ name: 'grpc', release: () => grpc.close(5000) });
    const grpcAddress = `${config.host.includes(':') ? `[${config.host}]` : config.host}:${grpc.port}`;
    logger.info({ url: httpUrl, grpc: grpcAddress, tls: Boolean(https), retention_days: config.retentionDays }, 'auditstream listening');

    let stopping: Promise<void> | undefined;
    return {
      store,
      app,
      httpUrl,
      grpcAddress,
      logger,
      stop: () => (stopping ??= releaseAll()),
    };
  } catch (err) {
    await releaseAll();
    throw err;
  }
}

/**
 * The SQLite database (and its -wal/-shm files) and the data directory hold password hashes, key
 * hashes and the signing key: readable by this user only. The umask makes every file this
 * process creates 0600 (directories 0700); files from an earlier, laxer start are tightened.
 */
export function restrictFileModes(config: Readonly<Config>): void {
  process.umask(0o077);
  const loc = parseDatabaseUrl(config.databaseUrl);
  if (loc.engine !== 'sqlite') return;
  for (const suffix of ['', '-wal', '-shm', '-journal']) {
    const path = `${loc.path}${suffix}`;
    if (existsSync(path)) chmodSync(path, 0o600);
  }
}

/** Runs until a signal; the first one drains, a second one forces the exit. */
export async function serveUntilSignal(config: Readonly<Config>): Promise<number> {
  const logger = createLogger(config.logLevel);
  const server = await startServer(config, logger);
  return new Promise<number>((resolve) => {
    let signalled = false;
    const onSignal = (sig: NodeJS.Signals) => {
      if (signalled) {
        logger.warn({ signal: sig }, 'second signal: exiting without draining');
        process.exit(130);
      }
      signalled = true;
      logger.info({ signal: sig }, 'shutting down: draining requests and queued appends');
      server.stop().then(
        () => {
          logger.info('shutdown complete');
          resolve(0);
        },
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
