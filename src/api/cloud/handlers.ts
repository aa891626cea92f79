/**
 * The contract between the Cloud Ops API transports (gRPC and its HTTP mapping) and the business
 * handlers. A handler is written once and serves both: it receives the request as a protobufjs
 * plain object and returns the response as one. Everything below is what a handler author needs.
 *
 * ## What a handler receives (`CloudRequest`)
 * `Type.toObject(message, PLAIN_OPTIONS)`, identical for gRPC and HTTP (the HTTP layer converts the
 * proto3 JSON into a message first, then makes the same call), so:
 * - keys are the lowerCamelCase field names (`pageSize`, `asyncOperationId`), never snake_case;
 * - every field is present (`defaults: true`): strings `''`, numbers `0`, bools `false`, repeated
 *   `[]`, maps `{}`, enums the name of their zero value (`'RESOURCE_STATE_UNSPECIFIED'`);
 *   an unset *message* field is `null` (check `req.spec != null`), an unset oneof member is absent;
 * - enums are value names (`'BILLING_REPORT_GRANULARITY_DAILY'`); a number the schema does not
 *   know (proto3 enums are open) stays a number;
 * - 64-bit integers are decimal strings (`'1700000000'`); 32-bit integers and floats are numbers;
 * - bytes are `Buffer`s;
 * - a oneof also appears as a virtual key naming the member that is set (`oneofs: true`), e.g.
 *   `GetCurrentIdentityResponse.principal === 'user'`; absent when none is;
 * - `google.protobuf.Timestamp` and `Duration` are `{ seconds: string, nanos: number }`
 *   (`timestampFromDate`, `dateFromTimestamp`, `durationFromMs`, `msFromDuration` convert);
 * - `google.protobuf.Struct` is `{ fields: { k: { stringValue: 'x', kind: 'stringValue' } } }`
 *   (`structFromJson` / `jsonFromStruct` convert); `Any` is `{ type_url, value: Buffer }`.
 *
 * ## What a handler returns (`CloudResponse`)
 * A plain object `Type.fromObject` accepts, in the same conventions: lowerCamelCase keys, enums as
 * names (or numbers), 64-bit integers as strings or numbers, Timestamps/Durations as
 * `{ seconds, nanos }` (not `Date`), unset fields simply omitted. The transport checks it strictly
 * before encoding (an unknown key, an unknown enum name or a `Date` where a message belongs is a
 * bug reported as INTERNAL and logged), because protobufjs would silently drop it. Where the
 * schema has an enum with a `*Deprecated` string twin (`state` / `stateDeprecated`), fill both
 * (docs/decisions/0012).
 *
 * ## Errors
 * Throw `AuditError` (src/errors.ts): gRPC gets its `.grpcCode` and message, HTTP its `.httpStatus`
 * and `{ code, message, details }`. Anything else becomes INTERNAL / 500 "internal error" and is
 * logged with the real cause. Never use a code the official client retries (UNAVAILABLE, UNKNOWN,
 * ABORTED, RESOURCE_EXHAUSTED, OUT_OF_RANGE, DATA_LOSS) for a caller's mistake.
 *
 * ## Registry
 * `CloudHandlers` is keyed by RPC name (`GetUsers`, see `cloudMethods` in proto.ts). It is read
 * on every call, so handlers may be added after the servers start; a missing one answers
 * UNIMPLEMENTED (gRPC) / 501 (HTTP).
 */
import type protobuf from 'protobufjs';
import { fromProto3Json, toProto3Json, type JsonObject } from './proto-json.js';
import { protoRoot } from './proto.js';
import type { SecondsNanos } from './wkt-time.js';

export type { SecondsNanos } from './wkt-time.js';

/** The `toObject` options that produce a `CloudRequest` (see the module comment). */
export const PLAIN_OPTIONS: Readonly<protobuf.IConversionOptions> = Object.freeze({
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});

/** A request message as a protobufjs plain object, in the conventions of the module comment. */
export type CloudRequest = Record<string, unknown>;

/** A response message as a plain object `Type.fromObject` accepts (module comment). */
export type CloudResponse = Record<string, unknown>;

/** Who is calling and how; the same fields on both transports. */
export interface CallContext {
  /** RPC name, e.g. `GetUsers`. */
  method: string;
  transport: 'grpc' | 'http';
  /** The `authorization` header / metadata value as sent (`Bearer <key>`); first one if repeated. */
  authorization?: string;
  /**
   * Every other header (HTTP) or text metadata entry (gRPC), lowercase keys, repeated values
   * joined with `, `. `authorization` is left out so that logging headers never leaks a key.
   * The official client sends `client-name: temporal-typescript` and `client-version`.
   */
  headers: Record<string, string>;
  /** IP address of the TCP peer (no port; IPv4-mapped IPv6 reduced to IPv4), before any proxy evaluation. */
  peer: string;
  /** The raw `x-forwarded-for` header; whether to trust it is the caller's decision (AUDITSTREAM_TRUSTED_PROXIES). */
  forwardedFor?: string;
  /** The `x-request-id` header, when sent. */
  requestId?: string;
}

/** Serves one RPC on both transports. */
export type CloudHandler = (req: CloudRequest, ctx: CallContext) => Promise<CloudResponse>;

/** Handlers by RPC name; a missing entry is UNIMPLEMENTED / 501. */
export type CloudHandlers = Partial<Record<string, CloudHandler>>;

/** A `Date` (or epoch milliseconds) as a Timestamp plain object. */
export function timestampFromDate(date: Date | number): SecondsNanos {
  const ms = typeof date === 'number' ? date : date.getTime();
  const seconds = Math.floor(ms / 1000);
  return { seconds: String(seconds), nanos: Math.round((ms - seconds * 1000) * 1e6) };
}

/** A Timestamp plain object as a `Date` (millisecond precision), or undefined when unset. */
export function dateFromTimestamp(ts: unknown): Date | undefined {
  if (ts == null || typeof ts !== 'object') return undefined;
  const { seconds, nanos } = ts as { seconds?: unknown; nanos?: unknown };
  return new Date(Number(seconds ?? 0) * 1000 + Math.floor(Number(nanos ?? 0) / 1e6));
}

/** Milliseconds as a Duration plain object (seconds and nanos share the sign). */
export function durationFromMs(ms: number): SecondsNanos {
  const seconds = Math.trunc(ms / 1000);
  const nanos = Math.round((ms - seconds * 1000) * 1e6);
  return { seconds: String(seconds), nanos: nanos === 0 ? 0 : nanos };
}

/** A Duration plain object in milliseconds, or undefined when unset. */
export function msFromDuration(d: unknown): number | undefined {
  if (d == null || typeof d !== 'object') return undefined;
  const { seconds, nanos } = d as { seconds?: unknown; nanos?: unknown };
  return Number(seconds ?? 0) * 1000 + Number(nanos ?? 0) / 1e6;
}

const structType = protoRoot.lookupType('google.protobuf.Struct');

/** A JSON object as a `google.protobuf.Struct` plain object (e.g. for `LogRecord.rawDetails`). */
export function structFromJson(json: JsonObject): Record<string, unknown> {
  return fromProto3Json(structType, json);
}

/** A `google.protobuf.Struct` plain object as the JSON object it stands for. */
export function jsonFromStruct(struct: Record<string, unknown>): JsonObject {
  return toProto3Json(structType, struct) as JsonObject;
}
