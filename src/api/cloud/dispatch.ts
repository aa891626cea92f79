/**
 * What both transports do the same way: find the handler, run it on the plain request, turn its
 * answer into a message, and turn any failure into the one `AuditError` the caller sees. Keeping
 * it here means gRPC and HTTP cannot drift apart on status codes or on what gets logged.
 */
import { isIP } from 'node:net';
import type protobuf from 'protobufjs';
import { AuditError, isAuditError } from '../../errors.js';
import type { CallContext, CloudHandler, CloudHandlers } from './handlers.js';
import { checkRequestValue } from '../json-body.js';
import { requestToPlain, responseFromPlain } from './plain.js';
import type { CloudMethod } from './proto.js';

/** The part of a pino logger the transports use (pino and Fastify's `request.log` fit). */
export interface TransportLogger {
  error(obj: object, msg: string): void;
}

/** The handler for `method`, or AS_ERR_UNIMPLEMENTED (gRPC UNIMPLEMENTED, HTTP 501). */
export function resolveHandler(method: CloudMethod, handlers: CloudHandlers): CloudHandler {
  const handler = Object.hasOwn(handlers, method.name) ? handlers[method.name] : undefined;
  if (!handler) throw new AuditError('AS_ERR_UNIMPLEMENTED', `${method.name} is not implemented by this server`);
  return handler;
}

/** Runs `handler` on a decoded request; resolves to the response message ready to encode. */
export async function invokeHandler(method: CloudMethod, handler: CloudHandler, request: protobuf.Message, ctx: CallContext): Promise<protobuf.Message> {
  const plain = requestToPlain(method.requestType, request);
  // Names, emails, ids of a request end up in stored rows and audit records: refuse what cannot
  // be stored exactly before the handler, on both transports (NUL is valid UTF-8 in a protobuf
  // string, but PostgreSQL refuses it; the HTTP mapping could also bring lone surrogates).
  checkRequestValue(plain);
  const response = await handler(plain, ctx);
  return responseFromPlain(method.responseType, response);
}

/**
 * The error to show the caller. An `AuditError` passes through (its code was chosen on purpose);
 * anything else is a bug or an outage we did not classify, so the caller gets a generic INTERNAL
 * (which the official client does not retry) and the log gets the real error.
 */
export function toCallerError(err: unknown, ctx: CallContext, logger: TransportLogger): AuditError {
  if (isAuditError(err)) {
    if (err.code === 'AS_ERR_INTERNAL') logger.error({ err, method: ctx.method, transport: ctx.transport }, 'cloud API internal error');
    return err;
  }
  logger.error({ err, method: ctx.method, transport: ctx.transport, requestId: ctx.requestId }, 'cloud API handler failed');
  return new AuditError('AS_ERR_INTERNAL', 'internal error');
}

/** An IP address as handlers see it: IPv4-mapped IPv6 (`::ffff:1.2.3.4`) reduced to IPv4. */
export function normalizeIp(address: string | undefined): string {
  if (!address) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1]! : address;
}

/**
 * The IP of a grpc-js peer string. grpc-js writes `${remoteAddress}:${remotePort}` with no
 * brackets around IPv6 (`::1:5678`), which cannot be parsed in general; since TCP peers always
 * have a port, the last `:digits` is the port.
 */
export function ipFromGrpcPeer(peer: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(peer);
  if (bracketed) return normalizeIp(bracketed[1]);
  const withoutPort = peer.replace(/:\d+$/, '');
  return normalizeIp(isIP(withoutPort) ? withoutPort : peer);
}
