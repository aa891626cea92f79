/**
 * The gRPC listener for `temporal.api.cloud.cloudservice.v1.CloudService` (plus
 * `grpc.health.v1.Health`), built by reflection from proto.ts so that every RPC exists and the
 * official `@temporalio/cloud` client works unchanged.
 *
 * Messages travel as raw bytes through grpc-js and are decoded here, so a malformed request is
 * INVALID_ARGUMENT rather than grpc-js's INTERNAL "Error deserializing request" (the official
 * client must never see a retryable or INTERNAL code for its own mistake, docs/decisions/0012).
 *
 * @example
 * const grpcServer = await startGrpcServer({ host: '127.0.0.1', port: 7781, handlers });
 * // ...
 * await grpcServer.close(5_000);
 */
import * as grpc from '@grpc/grpc-js';
import { AuditError } from '../../errors.js';
import { defaults } from '../../config.js';
import { createLogger } from '../../log.js';
import { invokeHandler, ipFromGrpcPeer, resolveHandler, toCallerError, type TransportLogger } from './dispatch.js';
import type { CallContext, CloudHandlers } from './handlers.js';
import { addHealthService } from './health.js';
import { CLOUD_SERVICE_NAME, cloudMethods, type CloudMethod } from './proto.js';

export interface GrpcServerOptions {
  /** Bind address, e.g. `127.0.0.1`, `0.0.0.0` or `::`. */
  host: string;
  /** 0 picks a free port (see the returned `port`). */
  port: number;
  /** PEM server certificate chain and private key (file contents, not paths); plaintext when absent. */
  tls?: { cert: Buffer | string; key: Buffer | string };
  handlers: CloudHandlers;
  /** Where unexpected handler failures are logged; by default `serve`'s logger at the default level. */
  logger?: TransportLogger;
}

export interface GrpcServerHandle {
  /** The port actually bound. */
  port: number;
  /**
   * Reports NOT_SERVING, ends health Watch streams, lets in-flight calls finish for up to
   * `graceMs` (default 5000), then cuts the rest. Safe to call twice.
   */
  close(graceMs?: number): Promise<void>;
}

/** Response trailer naming the `AS_ERR_*` code, so gRPC callers can tell e.g. a log_id conflict from another ALREADY_EXISTS. */
export const ERROR_CODE_TRAILER = 'auditstream-error-code';

const identity = (b: Buffer) => b;

function pem(value: Buffer | string, what: string): Buffer {
  const bytes = Buffer.from(value);
  if (!bytes.includes('-----BEGIN ')) throw new Error(`tls.${what} must be PEM contents (read the file named by AUDITSTREAM_TLS_${what.toUpperCase()} first)`);
  return bytes;
}

function metadataContext(method: string, call: grpc.ServerUnaryCall<Buffer, Buffer>): CallContext {
  const headers: Record<string, string> = {};
  let authorization: string | undefined;
  for (const [key, values] of Object.entries(call.metadata.toJSON())) {
    if (key.endsWith('-bin')) continue;
    const texts = values.filter((v): v is string => typeof v === 'string');
    if (texts.length === 0) continue;
    if (key === 'authorization') authorization = texts[0];
    else headers[key] = texts.join(', ');
  }
  const ctx: CallContext = { method, transport: 'grpc', headers, peer: ipFromGrpcPeer(call.getPeer()) };
  if (authorization !== undefined) ctx.authorization = authorization;
  if (headers['x-forwarded-for'] !== undefined) ctx.forwardedFor = headers['x-forwarded-for'];
  if (headers['x-request-id'] !== undefined) ctx.requestId = headers['x-request-id'];
  return ctx;
}

async function serveUnary(method: CloudMethod, call: grpc.ServerUnaryCall<Buffer, Buffer>, ctx: CallContext, handlers: CloudHandlers): Promise<Buffer> {
  const handler = resolveHandler(method, handlers);
  let request;
  try {
    request = method.requestType.decode(call.request);
  } catch {
    throw new AuditError('AS_ERR_INVALID_ARGUMENT', `malformed ${method.requestType.name} message`);
  }
  const response = await invokeHandler(method, handler, request, ctx);
  return Buffer.from(method.responseType.encode(response).finish());
}

/** Starts the gRPC listener; resolves once it is bound. */
export async function startGrpcServer(options: GrpcServerOptions): Promise<GrpcServerHandle> {
  const { handlers } = options;
  // The fallback logs like `serve`'s own logger: same redaction of credentials.
  const logger = options.logger ?? createLogger(defaults().logLevel);
  const server = new grpc.Server();

  const definition: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = {};
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const method of cloudMethods) {
    definition[method.name] = {
      path: `/${CLOUD_SERVICE_NAME}/${method.name}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    };
    implementation[method.name] = (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      const ctx = metadataContext(method.name, call);
      serveUnary(method, call, ctx, handlers).then(
        (bytes) => callback(null, bytes),
        (err: unknown) => {
          const error = toCallerError(err, ctx, logger);
          const trailer = new grpc.Metadata();
          trailer.set(ERROR_CODE_TRAILER, error.code);
          callback({ code: error.grpcCode, details: error.message, metadata: trailer });
        },
      );
    };
  }
  server.addService(definition, implementation);
  const health = addHealthService(server, [CLOUD_SERVICE_NAME]);

  const credentials = options.tls
    ? grpc.ServerCredentials.createSsl(null, [{ cert_chain: pem(options.tls.cert, 'cert'), private_key: pem(options.tls.key, 'key') }], false)
    : grpc.ServerCredentials.createInsecure();
  const host = options.host.includes(':') && !options.host.startsWith('[') ? `[${options.host}]` : options.host;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${options.port}`, credentials, (err, bound) => (err ? reject(err) : resolve(bound)));
  });

  let closing: Promise<void> | undefined;
  return {
    port,
    close(graceMs = 5000) {
      closing ??= new Promise<void>((resolve) => {
        health.setServing(false);
        health.endWatches();
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      return closing;
    },
  };
}
