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
import type { AccountCaller, Authenticator } from '../api/auth.js';
import type { CallContext } from '../api/cloud/handlers.js';
import type { RefusedCallRecorder } from '../api/app.js';
import { invalidArgument, type AuditError } from '../errors.js';
import { requestIdProblem } from '../api/request-id.js';
import { refusedReads } from './refusals.js';
import type { ApiMetrics } from '../api/metrics.js';
import type { ControlPlane, DeliveryHooks } from './context.js';
import { apiAuthenticator, authenticateCall } from './auth.js';
import { HANDLER_GROUPS } from './handlers/index.js';
import { registerAuthRoutes } from './auth-routes.js';
import { registerSinkRoutes } from './sink-routes.js';
import { registerIngestPolicyRoutes } from './ingest-policy-routes.js';
import { registerIntegrityRoutes, type CheckpointKey } from './integrity-routes.js';
import { registerSinkApiRoutes } from './sink-api-routes.js';

export interface ControlPlaneOptions {
  store: AuditStore;
  config: Readonly<Config>;
  logger?: Logger;
  metrics?: ApiMetrics;
  /** Called after each commit that appended records (delivery wakes up on it). */
  onCommit?: (accountId: string) => void;
  /** The delivery engine (sink changes wake it); none in tools that do not deliver. */
  delivery?: DeliveryHooks;
  /** The key that signs checkpoints: `POST /api/v1/integrity/verify` trusts it. */
  checkpointKey?: CheckpointKey;
}

export interface ControlPlaneHandle {
  cp: ControlPlane;
  handlers: CloudHandlers;
  /** `/api/v1` authentication: the deployment ingest token, else an API key. */
  apiAuth: Authenticator;
  /** Records a refused `/api/v1` call of an account caller (rate-limited per principal). */
  recordRefusedRead: RefusedCallRecorder;
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
      // Checked for every transport here (HTTP also refuses it earlier, in buildApp).
      const idProblem = requestIdProblem(ctx.requestId);
      if (idProblem) throw invalidArgument(idProblem, { field: 'x-request-id' });
      let caller: AccountCaller;
      try {
        caller = await authenticateCall(store.sql, ctx);
      } catch (err) {
        // A bad credential belongs to no tenant: a log line and a metric, no audit record.
        opts.metrics?.authFailures.inc({ reason: ctx.transport });
        opts.logger?.info({ method: ctx.method, transport: ctx.transport, peer: ctx.peer, reason: (err as Error).message }, 'authentication refused');
        throw err;
      }
      return withRefusedReadAudit(caller, ctx);
    },
    onCommit: opts.onCommit ?? (() => {}),
    delivery: opts.delivery ?? { sinksChanged: () => {} },
  };
  /** The caller, able to record its refused reads with this call's context. */
  const withRefusedReadAudit = (caller: AccountCaller, ctx: CallContext): AccountCaller => {
    Object.defineProperty(caller, 'refusedRead', {
      enumerable: false,
      value: (operation: string, details: Record<string, unknown>, err: AuditError) => refusedReads(cp).record(caller, ctx, operation, details, err),
    });
    return caller;
  };
  const handlers: CloudHandlers = Object.assign({}, ...HANDLER_GROUPS.map((group) => group(cp)));
  return {
    cp,
    handlers,
    apiAuth: apiAuthenticator(store.sql, opts.config.ingestToken),
    recordRefusedRead: (caller, ctx, operation, details, err) => refusedReads(cp).record(caller, ctx, operation, details, err),
    registerRoutes: (app) => {
      registerAuthRoutes(app, cp);
      registerSinkRoutes(app, cp);
      registerIntegrityRoutes(app, cp, opts.checkpointKey);
      registerSinkApiRoutes(app, cp);
      // Counts of refused reads not yet written reach the log before the store closes.
      app.addHook('onClose', async () => refusedReads(cp).flushAll());
      registerIngestPolicyRoutes(app, cp);
    },
  };
}
