/**
 * The HTTP side (Fastify): `/api/v1` (auditstream's own API), `/healthz`, `/readyz`,
 * `/metrics`. Errors leave as `{"error": {"code": "AS_ERR_...", "message": "..."}}` with the
 * catalogued status; a client's mistake is never a 500 and never shows a stack trace.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyRequest } from 'fastify';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { AuditError, invalidArgument, isAuditError, permissionDenied } from '../errors.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { AuditStore } from '../store/store.js';
import { envelope, EXPORT_FORMATS, exportChunks, iterateRecords, type ExportFormat } from '../store/export.js';
import { parseFilter, type FilterText } from '../store/filters.js';
import { ingestTokenAuthenticator, type AccountCaller, type Authenticator, type Caller, type RouteTarget } from './auth.js';
import { registerIngestRoute } from './ingest.js';
import { checkRequestValue, registerRequestChecks } from './json-body.js';
import { createMetrics, type ApiMetrics } from './metrics.js';
import { checkMetricsAccess } from './metrics-access.js';
import { requestIdProblem } from './request-id.js';
import type { CallContext } from './cloud/handlers.js';
import { httpContext } from './cloud/http-routes.js';
import { ACCOUNT_ID_PATTERN } from '../store/chain-append.js';
import { LOG_ID_PATTERN } from '../record/record.js';
import { cookieValue, SESSION_COOKIE } from './cookies.js';
import { registerConsole, sendIndex, wantsApp, type ConsoleFiles } from './console.js';

/** Records a refused call of an account caller in its own account (the control plane's). */
export type RefusedCallRecorder = (
  caller: AccountCaller,
  ctx: CallContext,
  operation: string,
  details: Record<string, unknown>,
  err: AuditError,
) => Promise<void>;

/**
 * Authorizes an `/api/v1` call through the access table (src/control/rbac.ts: `API_ROUTES`,
 * `API_RULES`), recording a refusal. The deployment ingest token has no role: it may call the
 * routes whose entry allows it, and nothing else reaches here with it.
 */
export type RouteAuthorizer = (req: FastifyRequest, caller: Caller, rule: string, target?: RouteTarget) => Promise<void>;

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
  /** Records refused `/api/v1` calls of account callers (the control plane passes its own). */
  onRefused?: RefusedCallRecorder;
  /** The built web console (src/api/console.ts), served at `/`; absent when `ui/dist` was not built. */
  console?: ConsoleFiles;
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

type QueryText = FilterText & { limit?: string; cursor?: string; order?: string; format?: string };

function intParam(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new AuditError('AS_ERR_INVALID_ARGUMENT', `${name} must be a whole number`);
  return Number(v);
}

/** Query parameters of the reads; anything else is refused, so a typo never widens a query. */
const FILTER_PARAMS = ['account', 'since', 'until', 'operation', 'user_email', 'principal_id', 'status', 'namespace', 'limit'];
const QUERY_PARAMS = new Set([...FILTER_PARAMS, 'cursor', 'order']);
const EXPORT_PARAMS = new Set([...FILTER_PARAMS, 'format']);
const RECORD_PARAMS = new Set(['account']);

/**
 * The query string of a read: every parameter known, given once, and not empty (an empty value
 * is a client bug, never "no filter" and never "another account").
 */
function queryParams(req: FastifyRequest, allowed: ReadonlySet<string>): QueryText {
  const q = (req.query ?? {}) as Record<string, unknown>;
  for (const [k, v] of Object.entries(q)) {
    const name = k.length > 64 ? `${k.slice(0, 63)}…` : k;
    if (!allowed.has(k)) throw invalidArgument(`unknown query parameter "${name}" (expected ${[...allowed].join(', ')})`, { field: name });
    if (typeof v !== 'string') throw invalidArgument(`query parameter ${name} is given more than once`, { field: name });
    if (v === '') throw invalidArgument(`query parameter ${name} is empty: give a value or leave it out`, { field: name });
  }
  return q as QueryText;
}

/**
 * Text that may spell a key a JSON body may not have (assigning it changes an object's prototype
 * in JavaScript): the names, or any `\u` escape (`"\u005f_proto__"` parses to `__proto__`).
 * Only bodies that match are walked.
 */
const FORBIDDEN_KEY = /__proto__|constructor|\\u/;

/**
 * The path of the first `__proto__` key (or `constructor` holding a `prototype`) in a parsed
 * body, or undefined. Iterative, so a deeply nested body cannot overflow the stack.
 */
export function forbiddenKeyPath(root: unknown): string | undefined {
  const stack: [unknown, string][] = [[root, 'body']];
  while (stack.length > 0) {
    const [v, path] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) if (v[i] !== null && typeof v[i] === 'object') stack.push([v[i], `${path}[${i}]`]);
      continue;
    }
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (k === '__proto__') return `${path}.__proto__`;
      if (k === 'constructor' && x !== null && typeof x === 'object' && Object.prototype.hasOwnProperty.call(x, 'prototype'))
        return `${path}.constructor.prototype`;
      if (x !== null && typeof x === 'object') stack.push([x, `${path}.${k}`]);
    }
  }
  return undefined;
}

function forbiddenKeyError(path: string): AuditError {
  return invalidArgument(
    `${path}: the key "${path.endsWith('prototype') ? 'constructor.prototype' : '__proto__'}" is not accepted in a JSON body (it would change an object's prototype); rename it`,
    { field: path },
  );
}

/** Answers connection-level errors (headers too large, malformed HTTP) in the API's error shape. */
function clientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const e =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? new AuditError('AS_ERR_HEADERS_TOO_LARGE', 'request headers are larger than the server accepts (16 KiB in total)')
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new AuditError('AS_ERR_REQUEST_TIMEOUT', 'the request did not arrive in time')
        : new AuditError('AS_ERR_INVALID_ARGUMENT', 'malformed HTTP request');
  const body = JSON.stringify(errorBody(e));
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${e.httpStatus} ${STATUS_CODES[e.httpStatus] ?? ''}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}

/** Seconds a client is told to wait on a 429 that did not say more precisely. */
const DEFAULT_RETRY_AFTER_S = 60;

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
    clientErrorHandler: clientError,
    ...(deps.https ? { https: deps.https } : {}),
  }) as unknown as FastifyInstance;

  // JSON bodies: a parse error says so; keys that would change a prototype are refused by name.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, text, done) => {
    const body = String(text);
    if (body.trim() === '') return done(invalidArgument('the body is empty: send a JSON object'), undefined);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch (err) {
      return done(invalidArgument(`the body is not valid JSON: ${(err as Error).message}`), undefined);
    }
    const bad = FORBIDDEN_KEY.test(body) ? forbiddenKeyPath(parsed) : undefined;
    if (bad) return done(forbiddenKeyError(bad), undefined);
    try {
      checkRequestValue(parsed);
    } catch (err) {
      return done(err as AuditError, undefined);
    }
    return done(null, parsed);
  });
  registerRequestChecks(app);

  // On every answer: no MIME sniffing, nothing cached (answers carry tokens, keys and records),
  // HSTS under TLS; a bounded X-Request-Id (it becomes the records' request_id).
  app.addHook('onRequest', async (req, reply) => {
    void reply.header('x-content-type-options', 'nosniff');
    void reply.header('cache-control', 'no-store');
    if (deps.https) void reply.header('strict-transport-security', 'max-age=31536000');
    const id = req.headers['x-request-id'];
    const problem = requestIdProblem(Array.isArray(id) ? id.join(', ') : id);
    if (problem) throw invalidArgument(problem, { field: 'x-request-id' });
  });
  // Bodies of the Cloud API's own scope are parsed there; the same key rule applies to them.
  app.addHook('preValidation', async (req) => {
    if (!req.url.startsWith('/api/') && !req.url.startsWith('/auth/') && req.body !== undefined) {
      const bad = forbiddenKeyPath(req.body);
      if (bad) throw forbiddenKeyError(bad);
    }
  });
  app.addHook('onSend', async (_req, reply, payload) => {
    if (reply.statusCode === 429 && !reply.hasHeader('retry-after')) void reply.header('retry-after', String(DEFAULT_RETRY_AFTER_S));
    return payload;
  });

  const authorizeRoute: RouteAuthorizer = async (req, caller, rule, target = {}) => {
    if (caller.kind !== 'account') return;
    try {
      if (!auth.authorize) throw permissionDenied('this deployment has no access table for account callers');
      auth.authorize(caller, rule, target);
    } catch (err) {
      if (isAuditError(err) && deps.onRefused) {
        const details: Record<string, unknown> = target.accountId !== undefined ? { requested_account: target.accountId.slice(0, 64) } : {};
        await deps.onRefused(caller, httpContext(rule, req), rule, details, err);
      }
      throw err;
    }
  };

  /** Which account a caller may read; the ingest token names one explicitly. */
  const readableAccount = async (req: FastifyRequest, caller: Caller, rule: string, requested: string | undefined): Promise<string> => {
    if (requested !== undefined && !ACCOUNT_ID_PATTERN.test(requested)) {
      throw invalidArgument('account must be 1-64 letters, digits, ".", "_" or "-"', { field: 'account' });
    }
    if (caller.kind === 'account') {
      await authorizeRoute(req, caller, rule, requested !== undefined ? { accountId: requested } : {});
      return caller.accountId;
    }
    if (requested === undefined) throw new AuditError('AS_ERR_INVALID_ARGUMENT', 'account is required with the deployment ingest token', { field: 'account' });
    return requested;
  };
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
    if (e.code === 'AS_ERR_RATE_LIMITED') {
      const s = e.details?.['retry_after_seconds'];
      void reply.header('retry-after', String(typeof s === 'number' && s > 0 ? Math.ceil(s) : DEFAULT_RETRY_AFTER_S));
    }
    void reply.code(e.httpStatus).send(errorBody(e));
  });
  app.setNotFoundHandler((req, reply) => {
    // Console paths (/settings/audit-logs, ...) are the app's routes: the SPA fallback.
    if (deps.console && wantsApp(req)) return sendIndex(deps.console, reply);
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
  app.get('/metrics', async (req, reply) => {
    checkMetricsAccess(config.metricsAccess ?? { mode: 'loopback' }, req.headers, req.raw.socket?.remoteAddress, config.trustedProxies);
    void reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  registerIngestRoute(app, { store, auth, config, metrics, authorize: authorizeRoute, ...(deps.onCommit ? { onCommit: deps.onCommit } : {}) });

  // Public keys are not secret, but the list is only for callers of this deployment: any
  // authenticated caller (every role, or the ingest token) may read it to verify its stream.
  app.get('/api/v1/signing-keys', async (req) => {
    await auth.authenticate(req.headers.authorization, cookieValue(req.headers.cookie, SESSION_COOKIE));
    return { keys: deps.signingKeys ?? [] };
  });

  // Reads also accept the console's session cookie (a GET needs no CSRF token).
  const sessionOf = (req: FastifyRequest) => cookieValue(req.headers.cookie, SESSION_COOKIE);
  app.get('/api/v1/audit-logs', async (req) => {
    const caller = await auth.authenticate(req.headers.authorization, sessionOf(req));
    const q = queryParams(req, QUERY_PARAMS);
    const filter = parseFilter({ ...q, account: await readableAccount(req, caller, 'QueryAuditLogs', q.account) });
    const order = q.order ?? 'desc';
    if (order !== 'asc' && order !== 'desc') throw new AuditError('AS_ERR_INVALID_ARGUMENT', 'order must be asc or desc');
    const page = await store.query(filter, { order, ...(q.cursor ? { cursor: q.cursor } : {}), ...(q.limit ? { limit: intParam(q.limit, 'limit')! } : {}) });
    return {
      items: page.items.map(envelope),
      next_cursor: page.nextCursor ?? null,
      prev_cursor: page.prevCursor ?? null,
    };
  });

  // One record's JSON exactly as stored (the text the chain hashes and sinks deliver), not the
  // parsed object serialized again: what the console's detail shows and copies.
  app.get<{ Params: { log_id: string } }>('/api/v1/audit-logs/records/:log_id', async (req, reply) => {
    const caller = await auth.authenticate(req.headers.authorization, sessionOf(req));
    const q = queryParams(req, RECORD_PARAMS);
    const accountId = await readableAccount(req, caller, 'QueryAuditLogs', q.account);
    const logId = req.params.log_id;
    if (!LOG_ID_PATTERN.test(logId)) throw invalidArgument('log_id must be 32 lowercase letters or digits', { field: 'log_id' });
    const stored = await store.recordByLogId(accountId, logId);
    if (!stored) throw new AuditError('AS_ERR_NOT_FOUND', `no record with log_id ${logId} in this account`);
    void reply.header('content-type', 'application/json; charset=utf-8');
    return reply.send(stored.recordJson);
  });

  app.get('/api/v1/audit-logs/export', async (req, reply) => {
    const caller = await auth.authenticate(req.headers.authorization, sessionOf(req));
    const q = queryParams(req, EXPORT_PARAMS);
    const filter = parseFilter({ ...q, account: await readableAccount(req, caller, 'ExportAuditLogs', q.account) });
    const format = (q.format ?? 'jsonl') as ExportFormat;
    if (!EXPORT_FORMATS.includes(format)) throw new AuditError('AS_ERR_INVALID_ARGUMENT', `format must be one of ${EXPORT_FORMATS.join(', ')}`);
    const limit = intParam(q.limit, 'limit');
    const type = format === 'csv' ? 'text/csv; charset=utf-8' : format === 'json' ? 'application/json' : 'application/x-ndjson';
    void reply.header('content-type', type);
    void reply.header('content-disposition', `attachment; filename="audit-logs.${format}"`);
    return reply.send(Readable.from(exportChunks(iterateRecords(store, filter, 1000, limit ?? Infinity), format)));
  });

  if (deps.console) registerConsole(app, deps.console);
  if (deps.register) await deps.register(app);
  return app;
}
