/**
 * `grpc.health.v1.Health` (https://github.com/grpc/grpc/blob/master/doc/health-checking.md), which
 * the official client exposes as `connection.healthService` and load balancers probe. The four
 * messages are defined here by reflection rather than pulling in grpc-health-check.
 */
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';

const root = protobuf.Root.fromJSON({
  nested: {
    grpc: {
      nested: {
        health: {
          nested: {
            v1: {
              nested: {
                HealthCheckRequest: { fields: { service: { type: 'string', id: 1 } } },
                HealthCheckResponse: {
                  fields: { status: { type: 'ServingStatus', id: 1 } },
                  nested: { ServingStatus: { values: { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } } },
                },
              },
            },
          },
        },
      },
    },
  },
});
const Request = root.lookupType('grpc.health.v1.HealthCheckRequest');
const Response = root.lookupType('grpc.health.v1.HealthCheckResponse');

export const HEALTH_SERVICE_NAME = 'grpc.health.v1.Health';

type Status = 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

const encode = (status: Status) => Buffer.from(Response.encode(Response.fromObject({ status })).finish());
const identity = (b: Buffer) => b;
const method = (name: string, responseStream: boolean): grpc.MethodDefinition<Buffer, Buffer> => ({
  path: `/${HEALTH_SERVICE_NAME}/${name}`,
  requestStream: false,
  responseStream,
  requestSerialize: identity,
  requestDeserialize: identity,
  responseSerialize: identity,
  responseDeserialize: identity,
});

/** Turns the served status up or down and ends open Watch streams (so shutdown need not wait for them). */
export interface HealthControl {
  setServing(serving: boolean): void;
  endWatches(): void;
}

/**
 * Adds the Health service to `server`. `''` (the whole server) and each name in `services`
 * report SERVING until `setServing(false)`; other names are NOT_FOUND (Check) or
 * SERVICE_UNKNOWN (Watch), as the protocol says.
 */
export function addHealthService(server: grpc.Server, services: readonly string[]): HealthControl {
  const known = new Set(['', ...services]);
  let serving = true;
  const watchers = new Map<grpc.ServerWritableStream<Buffer, Buffer>, string>();
  const statusOf = (service: string): Status => (!known.has(service) ? 'SERVICE_UNKNOWN' : serving ? 'SERVING' : 'NOT_SERVING');
  const serviceOf = (request: Buffer): string | undefined => {
    try {
      return String(Request.toObject(Request.decode(request), { defaults: true }).service);
    } catch {
      return undefined;
    }
  };

  server.addService(
    { Check: method('Check', false), Watch: method('Watch', true) },
    {
      Check(call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) {
        const service = serviceOf(call.request);
        if (service === undefined) return callback({ code: grpc.status.INVALID_ARGUMENT, details: 'malformed HealthCheckRequest' });
        if (!known.has(service)) return callback({ code: grpc.status.NOT_FOUND, details: `unknown service ${service}` });
        callback(null, encode(statusOf(service)));
      },
      Watch(call: grpc.ServerWritableStream<Buffer, Buffer>) {
        const service = serviceOf(call.request);
        if (service === undefined) return call.destroy(Object.assign(new Error('malformed HealthCheckRequest'), { code: grpc.status.INVALID_ARGUMENT }));
        watchers.set(call, service);
        call.on('cancelled', () => watchers.delete(call));
        call.write(encode(statusOf(service)));
      },
    },
  );

  return {
    setServing(next) {
      if (next === serving) return;
      serving = next;
      for (const [call, service] of watchers) call.write(encode(statusOf(service)));
    },
    endWatches() {
      for (const call of watchers.keys()) call.end();
      watchers.clear();
    },
  };
}
