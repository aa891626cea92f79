/**
 * The HTTP side (Fastify): `/api/v1` (auditstream's own API), `/healthz`, `/readyz`,
 * `/metrics`. Errors leave as `{"error": {"code": "AS_ERR_...", "message": "..."}}` with the
 * catalogued status; a client's mistake is never a 500 and never shows a stack trace.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import { Readable } from 'node:stream';
import { AuditError, isAuditError } from '../errors.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { AuditStore } from '../store/store.js';
import { envelope, EXPORT_FORMATS, exportChunks, iterateRecords, type ExportFormat } from '../store/export.js';
import { parseFilter, type FilterText } from '../store/filters.js';
import { ingestTokenAuthenticator, type Authenticator, type Caller } from './auth.js';
import { registerIngestRoute } from './ingest.js';
import { createMetrics, type ApiMetrics } from './metrics.js';

export interface AppDeps {
  store: AuditStore;
  config: Readonly<Config>;
  logger?: Logger;
  /** Defaults to the ingest token alone; the control plane passes one that knows API keys. */
  auth?: Authenticator;
  metrics?: ApiMetrics;
  /** Extra routes (the Ops API's HTTP mapping, auth, UI) registered on the same instance. */
  register?: (app: FastifyInstance) => void | Promise<void>;
  /** Called after an ingest commit appended records to `accountId` (wakes delivery). */
  onCommit?: (accountId: string) => void;
  /** PEM certificate and key: serve HTTPS instead of plain HTTP. */
  https?: { cert: Buffer; key: Buffer };
  /** The Ed25519 public keys that sign checkpoints, served at GET /api/v1/signing-keys. */
  signingKeys?: { key_id: string; public_key_pem: string }[];
}

/** What an API error body looks like. */
export function errorBody(err: AuditError): { error: Record<string, unknown> } {
  return { error: { code: err.code, message: err.message, ...(err.details ?? {}) } };
}

/** Turns any thrown value into a catalogued error; unknown ones become AS_ERR_INTERNAL. */
export function toAuditError(err: unknown): AuditError {
  if (isAuditError(err)) return err;
  const fe = err as Partial<FastifyError> | undefined;
  const status = fe?.statusCode;
  if (status === 413) return new AuditError('AS_ERR_PAYLOAD_TOO_LARGE', 'request body is over the size limit (AUDITSTREAM_MAX_BODY_BYTES)');
  if (status === 415) return new AuditError('AS_ERR_UNSUPPORTED_MEDIA_TYPE', 'Content-Type must be application/json');
  if (status === 400) return new AuditError('AS_ERR_INVALID_ARGUMENT', fe?.message ? `malformed request: ${fe.message}` : 'malformed request');
  if (status === 404) return new AuditError('AS_ERR_NOT_FOUND', fe?.message ?? 'not found');
  return new AuditError('AS_ERR_INTERNAL', 'internal error', undefined, { cause: err });
}

/** Which account a caller may read; the ingest token names one explicitly. */
function readableAccount(caller: Caller, requested: string | undefined): string {
  if (caller.kind === 'account') {
    if (requested !== undefined && requested !== caller.accountId) throw new AuditError('AS_ERR_PERMISSION_DENIED', 'this API key belongs to another account');
    if (!['ROLE_OWNER', 'ROLE_ADMIN'].includes(caller.role)) {
      throw new AuditError('AS_ERR_PERMISSION_DENIED', `role ${caller.role} may not read audit logs (Owner or Global Admin)`);
    }
    return caller.accountId;
  }
  if (!requested) throw new AuditError('AS_ERR_INVALID_ARGUMENT', 'account is required with the deployment ingest token', { field: 'account' });
  return requested;
}

type QueryText = FilterText & { limit?: string; cursor?: string; order?: string; format?: string };

function intParam(v: string | undefined, name: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v)) throw new AuditError('AS_ERR_INVALID_ARGUMENT', `${name} must be a whole number`);
  return Number(v);
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { store, config } = deps;
  const metrics = deps.metrics ?? createMetrics(false);
  const auth = deps.auth ?? ingestTokenAuthenticator(config.ingestToken);
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger | undefined,
    // Per-request log lines would cost more than the ingest itself; metrics count requests.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.maxBodyBytes,
    // Behind a proxy the socket peer is the proxy; the X-Forwarded-For chain is evaluated by
    // the caller-IP code against AUDITSTREAM_TRUSTED_PROXIES, not by Fastify.
    trustProxy: false,
    return503OnClosing: true,
    ...(deps.https ? { https: deps.https } : {}),
  }) as unknown as FastifyInstance;
  let closing = false;
  app.addHook('onClose', async () => {
    closing = true;
  });

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ route, method: req.method, status: String(reply.statusCode) });
    metrics.requestSeconds.observe({ route, method: req.method }, reply.elapsedTime / 1000);
    if (reply.statusCode >= 500) deps.logger?.warn({ route, method: req.method, status: reply.statusCode }, 'request failed');
  });

  app.setErrorHandler((err, req, reply) => {
    const e = toAuditError(err);
    if (e.code === 'AS_ERR_INTERNAL') deps.logger?.error({ err, url: req.url }, 'unhandled error');
    if (e.code === 'AS_ERR_UNAUTHENTICATED') metrics.authFailures.inc({ reason: 'http' });
    void reply.code(e.httpStatus).send(errorBody(e));
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send(errorBody(new AuditError('AS_ERR_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`)));
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    if (closing) return reply.code(503).send({ status: 'closing' });
    try {
      await store.sql.get('SELECT 1 AS ok');
      return { status: 'ready', store: store.engine };
    } catch {
      return reply.code(503).send({ status: 'store unavailable' });
    }
  });
  app.get('/metrics', async (_req, reply) => {
    void reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  registerIngestRoute(app, { store, auth, config, metrics, ...(deps.onCommit ? { onCommit: deps.onCommit } : {}) });

  // Public keys are not secret, but the list is only for callers of this deployment: any
  // authenticated caller (every role, or the ingest token) may read it to verify its stream.
  app.get('/api/v1/signing-keys', async (req) => {
    await auth.authenticate(req.headers.authorization);
    return { keys: deps.signingKeys ?? [] };
  });

  app.get('/api/v1/audit-logs', async (req) => {
    const caller = await auth.authenticate(req.headers.authorization);
    const q = req.query as QueryText;
    const filter = parseFilter({ ...q, account: readableAccount(caller, q.account) });
    const order = q.order ?? 'desc';
    if (order !== 'asc' && order !== 'desc') throw new AuditError('AS_ERR_INVALID_ARGUMENT', 'order must be asc or desc');
    const page = await store.query(filter, { order, ...(q.cursor ? { cursor: q.cursor } : {}), ...(q.limit ? { limit: intParam(q.limit, 'limit')! } : {}) });
    return {
      items: page.items.map(envelope),
      next_cursor: page.nextCursor ?? null,
      prev_cursor: page.prevCursor ?? null,
    };
  });

  app.get('/api/v1/audit-logs/export', async (req, reply) => {
    const caller = await auth.authenticate(req.headers.authorization);
    const q = req.query as QueryText;
    const filter = parseFilter({ ...q, account: readableAccount(caller, q.account) });
    const format = (q.format ?? 'jsonl') as ExportFormat;
    if (!EXPORT_FORMATS.includes(format)) throw new AuditError('AS_ERR_INVALID_ARGUMENT', `format must be one of ${EXPORT_FORMATS.join(', ')}`);
    const limit = intParam(q.limit, 'limit');
    const type = format === 'csv' ? 'text/csv; charset=utf-8' : format === 'json' ? 'application/json' : 'application/x-ndjson';
    void reply.header('content-type', type);
    void reply.header('content-disposition', `attachment; filename="audit-logs.${format}"`);
    return reply.send(Readable.from(exportChunks(iterateRecords(store, filter, 1000, limit ?? Infinity), format)));
  });

  if (deps.register) await deps.register(app);
  return app;
}
