/**
 * The Cloud Ops API's HTTP mapping (`/cloud/...`): one Fastify route per `google.api.http` binding
 * of every CloudService RPC, built by reflection, speaking proto3 JSON (proto-json.ts) and
 * answering errors in grpc-gateway's shape `{ code, message, details }` with the gRPC code, so an
 * HTTP client sees the same codes as a gRPC one.
 *
 * The routes live in their own encapsulated Fastify scope per first path segment (`/cloud`), with
 * their own JSON parser (an empty body is an empty message; malformed JSON is a 400 in the error
 * shape, never Fastify's default body or a stack trace), error handler and 404 handler; the rest
 * of the app is untouched. Only `application/json` bodies are accepted (415 otherwise): accepting
 * form or text bodies would let a cross-site form post reach a state-changing RPC.
 *
 * @example
 * const app = Fastify({ bodyLimit: 8 * 1024 * 1024 });
 * registerCloudHttpRoutes(app, handlers);
 * await app.listen({ host: '127.0.0.1', port: 7780 });
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AuditError, isAuditError } from '../../errors.js';
import { parseJsonBody } from '../json-body.js';
import { invokeHandler, normalizeIp, resolveHandler, toCallerError } from './dispatch.js';
import type { CallContext, CloudHandlers } from './handlers.js';
import { buildHttpRequest } from './http-request.js';
import { compilePathTemplate } from './http-template.js';
import type { JsonObject } from './json-types.js';
import { cloudMethods, type CloudMethod, type HttpRule } from './proto.js';
import { toProto3Json } from './proto-json.js';

export interface CloudHttpOptions {
  /**
   * Write unset fields in responses (zero values, `null` messages, `[]`, `{}`), as grpc-gateway v2
   * does by default. Default true; false gives canonical proto3 JSON (defaults omitted).
   */
  emitUnpopulated?: boolean;
}

interface Binding {
  method: CloudMethod;
  rule: HttpRule;
}

/** grpc-gateway's error body; `details` carries one google.rpc.ErrorInfo naming the AS_ERR_* code. */
export function errorBody(error: AuditError): JsonObject {
  const metadata: JsonObject = {};
  for (const [k, v] of Object.entries(error.details ?? {})) metadata[k] = typeof v === 'string' ? v : JSON.stringify(v);
  return {
    code: error.grpcCode,
    message: error.message,
    details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: error.code, domain: 'auditstream', metadata }],
  };
}

function sendError(reply: FastifyReply, error: AuditError): FastifyReply {
  return reply
    .code(error.httpStatus)
    .type('application/json')
    .send(JSON.stringify(errorBody(error)));
}

/** The CallContext of an HTTP request: headers (but `authorization`), socket peer, proxy chain, request id. */
export function httpContext(method: string, request: FastifyRequest): CallContext {
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(request.headers)) {
    if (key === 'authorization' || value === undefined) continue;
    headers[key] = Array.isArray(value) ? value.join(', ') : value;
  }
  const ctx: CallContext = { method, transport: 'http', headers, peer: normalizeIp(request.raw.socket?.remoteAddress) };
  const { authorization } = request.headers;
  if (typeof authorization === 'string') ctx.authorization = authorization;
  if (headers['x-forwarded-for'] !== undefined) ctx.forwardedFor = headers['x-forwarded-for'];
  if (headers['x-request-id'] !== undefined) ctx.requestId = headers['x-request-id'];
  return ctx;
}

/** Errors Fastify raises before our handler runs (body parsing, limits) in the catalogue's terms. */
function fromFastifyError(err: FastifyError, request: FastifyRequest): AuditError | undefined {
  switch (err.statusCode) {
    case 413:
      return new AuditError('AS_ERR_PAYLOAD_TOO_LARGE', 'request body is too large');
    case 415:
      return new AuditError(
        'AS_ERR_UNSUPPORTED_MEDIA_TYPE',
        `unsupported content type ${JSON.stringify(request.headers['content-type'] ?? '')}; send application/json`,
      );
  }
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return new AuditError('AS_ERR_INVALID_ARGUMENT', err.message);
  return undefined;
}

function queryOf(url: string): URLSearchParams {
  const q = url.indexOf('?');
  return new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
}

/**
 * Adds a route for every HTTP binding of every CloudService RPC. Routes are created when the app
 * boots (`ready()`, `listen()` or `inject()`), like any Fastify plugin. `handlers` is read on each
 * call, so it may be filled in later; a missing handler answers 501.
 */
export function registerCloudHttpRoutes(app: FastifyInstance, handlers: CloudHandlers, options: CloudHttpOptions = {}): void {
  const emitUnpopulated = options.emitUnpopulated ?? true;
  const groups = new Map<string, Binding[]>();
  for (const method of cloudMethods) {
    for (const rule of method.httpBindings) {
      const prefix = `/${rule.path.split('/')[1]}`;
      groups.set(prefix, [...(groups.get(prefix) ?? []), { method, rule }]);
    }
  }

  for (const [prefix, bindings] of groups) {
    app.register(
      async (scope) => {
        scope.removeAllContentTypeParsers();
        scope.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
          const text = String(body);
          if (text.trim() === '') return done(null, undefined);
          try {
            done(null, parseJsonBody(text));
          } catch (err) {
            done(err as AuditError, undefined);
          }
        });
        scope.setErrorHandler((err: FastifyError, request, reply) => {
          const error = isAuditError(err) ? err : (fromFastifyError(err, request) ?? toCallerError(err, httpContext('', request), request.log));
          return sendError(reply, error);
        });
        scope.setNotFoundHandler((request, reply) =>
          sendError(reply, new AuditError('AS_ERR_NOT_FOUND', `no Cloud API route for ${request.method} ${request.url.split('?')[0]}`)),
        );

        for (const { method, rule } of bindings) {
          const path = compilePathTemplate(rule.path);
          scope.route({
            method: rule.method,
            url: path.url.slice(prefix.length),
            handler: async (request, reply) => {
              const ctx = httpContext(method.name, request);
              try {
                const handler = resolveHandler(method, handlers);
                const plain = buildHttpRequest(method.requestType, rule, path, {
                  params: (request.params ?? {}) as Record<string, string>,
                  query: queryOf(request.url),
                  body: request.body,
                });
                const response = await invokeHandler(method, handler, method.requestType.fromObject(plain), ctx);
                const json = toProto3Json(method.responseType, response, { emitUnpopulated });
                return reply.code(200).type('application/json').send(JSON.stringify(json));
              } catch (err) {
                return sendError(reply, toCallerError(err, ctx, request.log));
              }
            },
          });
        }
      },
      { prefix },
    );
  }
}
