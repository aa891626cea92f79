/**
 * The Temporal Cloud Operations API schema, loaded once from `@temporalio/proto` (the version
 * `@temporalio/cloud` pins, see docs/decisions/0012) and reflected into a method table. Both transports
 * (gRPC and the HTTP mapping) are built from this table, never by hand, so a proto bump that adds
 * an RPC shows up in both at once (and as UNIMPLEMENTED / 501 until a handler exists).
 */
import { createRequire } from 'node:module';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);

/** The protobufjs root holding every Temporal message, the CloudService and the well-known types. */
export const protoRoot: protobuf.Root = require('@temporalio/proto/protos/json-module.js');

/** Fully qualified gRPC service name, as it appears in the `/service/Method` path. */
export const CLOUD_SERVICE_NAME = 'temporal.api.cloud.cloudservice.v1.CloudService';

export type HttpVerb = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/**
 * One `google.api.http` binding. `path` is the proto template (`/cloud/users/{user_id}`), whose
 * variables name request fields by their proto (snake_case) path, possibly dotted (`{spec.name}`).
 * `body` is `"*"` (the whole request is the JSON body), a field's proto name, or absent (GET and
 * DELETE here: everything not in the path comes from the query string).
 */
export interface HttpRule {
  method: HttpVerb;
  path: string;
  body?: string;
}

export interface CloudMethod {
  /** The RPC name, e.g. `GetUsers`; also the key of the handler registry. */
  name: string;
  requestType: protobuf.Type;
  responseType: protobuf.Type;
  /** The primary `google.api.http` binding; every CloudService method has one today. */
  http?: HttpRule;
  /** The primary binding followed by any `additional_bindings` (none today). */
  httpBindings: HttpRule[];
}

type RawRule = Record<string, unknown>;

function toRule(raw: RawRule, method: string): HttpRule {
  const verbs: HttpVerb[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
  for (const verb of verbs) {
    const path = raw[verb.toLowerCase()];
    if (typeof path === 'string') {
      const body = typeof raw.body === 'string' && raw.body !== '' ? raw.body : undefined;
      return body === undefined ? { method: verb, path } : { method: verb, path, body };
    }
  }
  // `custom` verbs would need a route per verb; none exist in the Cloud API. Fail at load, loudly.
  throw new Error(`${method}: unsupported google.api.http rule ${JSON.stringify(raw)}`);
}

function httpRules(method: protobuf.Method): HttpRule[] {
  const options = method.parsedOptions as RawRule[] | undefined;
  const raw = options?.find((o) => '(google.api.http)' in o)?.['(google.api.http)'] as RawRule | undefined;
  if (!raw) return [];
  const extra = raw.additional_bindings;
  const extras = Array.isArray(extra) ? extra : extra ? [extra] : [];
  return [toRule(raw, method.name), ...extras.map((r) => toRule(r as RawRule, method.name))];
}

function loadMethods(): CloudMethod[] {
  // Resolving everything up front (~40 ms) fills in each field's type, jsonName and protoName.
  protoRoot.resolveAll();
  const service = protoRoot.lookupService(CLOUD_SERVICE_NAME);
  return service.methodsArray.map((m) => {
    if (m.requestStream || m.responseStream) throw new Error(`${m.name}: streaming RPCs are not supported`);
    const httpBindings = httpRules(m);
    const method: CloudMethod = {
      name: m.name,
      requestType: m.resolvedRequestType as protobuf.Type,
      responseType: m.resolvedResponseType as protobuf.Type,
      httpBindings,
    };
    if (httpBindings[0]) method.http = httpBindings[0];
    return method;
  });
}

/** Every CloudService RPC (76 in @temporalio/proto 1.23.0), in proto declaration order. */
export const cloudMethods: readonly CloudMethod[] = Object.freeze(loadMethods());

const byName = new Map(cloudMethods.map((m) => [m.name, m]));

/** The method named `name` (`GetUsers`), or undefined. */
export function findCloudMethod(name: string): CloudMethod | undefined {
  return byName.get(name);
}
