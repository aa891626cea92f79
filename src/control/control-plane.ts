/**
 * Assembles the control plane: every Cloud Ops API handler over one store, the authenticator for
 * `/api/v1`, and the browser auth routes. `serve` mounts `handlers` on both the gRPC server and
 * the HTTP mapping.
 */
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { AuditStore } from '../store/store.js';
import type { CloudHandlers } from '../api/cloud/handlers.js';
import type { Authenticator } from '../api/auth.js';
import type { ApiMetrics } from '../api/metrics.js';
import type { ControlPlane, DeliveryHooks } from './context.js';
import { apiAuthenticator, authenticateCall } from './auth.js';
import { HANDLER_GROUPS } from './handlers/index.js';
import { registerAuthRoutes } from './auth-routes.js';
import { registerSinkRoutes } from './sink-routes.js';
import { registerIngestPolicyRoutes } from './ingest-policy-routes.js';

export interface ControlPlaneOptions {
  store: AuditStore;
  config: Readonly<Config>;
  logger?: Logger;
  metrics?: ApiMetrics;
  /** Called after each commit that appended records (delivery wakes up on it). */
  onCommit?: (accountId: string) => void;
  /** The delivery engine (sink changes wake it); none in tools that do not deliver. */
  delivery?: DeliveryHooks;
}

export interface ControlPlaneHandle {
  cp: ControlPlane;
  handlers: CloudHandlers;
  /** `/api/v1` authentication: the deployment ingest token, else an API key. */
  apiAuth: Authenticator;
  /** Mounts `/auth/*`, `/api/v1/users/:id/invitation` and the `/api/v1/audit-log-sinks/...` extensions. */
  registerRoutes(app: FastifyInstance): void;
}

export function createControlPlane(opts: ControlPlaneOptions): ControlPlaneHandle {
  const { store } = opts;
  const cp: ControlPlane = {
    store,
    config: opts.config,
    logger: opts.logger,
    metrics: opts.metrics,
    authenticate: async (ctx) => {
      try {
        return await authenticateCall(store.sql, ctx);
      } catch (err) {
        // A bad credential belongs to no tenant: a log line and a metric, no audit record.
        opts.metrics?.authFailures.inc({ reason: ctx.transport });
        opts.logger?.info({ method: ctx.method, transport: ctx.transport, peer: ctx.peer, reason: (err as Error).message }, 'authentication refused');
        throw err;
      }
    },
    onCommit: opts.onCommit ?? (() => {}),
    delivery: opts.delivery ?? { sinksChanged: () => {} },
  };
  const handlers: CloudHandlers = Object.assign({}, ...HANDLER_GROUPS.map((group) => group(cp)));
  return {
    cp,
    handlers,
    apiAuth: apiAuthenticator(store.sql, opts.config.ingestToken),
    registerRoutes: (app) => {
      registerAuthRoutes(app, cp);
      registerSinkRoutes(app, cp);
      registerIngestPolicyRoutes(app, cp);
    },
  };
}
