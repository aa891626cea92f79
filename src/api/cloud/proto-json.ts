/**
 * Proto3 JSON (https://protobuf.dev/programming-guides/json/) for the HTTP mapping. protobufjs's
 * own JSON is not it (Timestamps come out as `{seconds, nanos}`, names only in lowerCamelCase), so
 * this walks the reflected types itself.
 *
 * Input (`fromProto3Json`) is strict where grpc-gateway is lenient: an unknown field, a value of
 * the wrong type, an unknown enum name or two members of one oneof is an `AS_ERR_INVALID_ARGUMENT`
 * naming the field (`field spec.name: unknown field`), because a silently dropped typo in a filter
 * or a sink spec does more harm than a 400. Both the proto name (`page_size`) and the JSON name
 * (`pageSize`) are accepted; `null` means "not set" (for `google.protobuf.Value`: JSON null).
 *
 * Output (`toProto3Json`) uses lowerCamelCase names, RFC 3339 timestamps, `"5s"` durations, enum
 * names, 64-bit integers as strings and base64 bytes. With `emitUnpopulated` it also writes unset
 * fields (scalars as their zero value, messages as null, repeated as [], maps as {}; never unset
 * oneof members), which is what grpc-gateway v2 does by default.
 */
import protobuf from 'protobufjs';
import type { JsonObject, JsonValue, Plain } from './json-types.js';
import { describeJson, invalidField, isJsonObject, joinPath } from './json-types.js';
import { WKT_CODECS, type WktContext } from './wkt-json.js';

export type { JsonObject, JsonValue, Plain } from './json-types.js';

export interface ToJsonOptions {
  /** Write unset fields too (grpc-gateway v2's default). Default false: canonical proto3 JSON. */
  emitUnpopulated?: boolean;
}

/** The normalised plain form the output walk reads: enum names, 64-bit as strings, bytes as base64. */
const NORMALISED: protobuf.IConversionOptions = { longs: String, enums: String, bytes: String };

const NULL_VALUE = '.google.protobuf.NullValue';
const VALUE = '.google.protobuf.Value';

const byKey = new WeakMap<protobuf.Type, Map<string, protobuf.Field>>();

/** The field a JSON key or query-string segment names: proto name (`page_size`) or JSON name (`pageSize`). */
export function fieldByKey(type: protobuf.Type, key: string): protobuf.Field | undefined {
  let map = byKey.get(type);
  if (!map) {
    map = new Map();
    for (const f of type.fieldsArray) {
      f.resolve();
      map.set(f.name, f).set(f.jsonName, f).set(f.protoName, f);
    }
    byKey.set(type, map);
  }
  return map.get(key);
}

// ---------------------------------------------------------------------------------------------
// JSON → plain

/** Converts a proto3 JSON object into the protobufjs plain object for `type` (see handlers.ts). */
export function fromProto3Json(type: protobuf.Type, json: unknown, path = ''): Plain {
  return messageFromJson(type, json, path) as Plain;
}

function messageFromJson(type: protobuf.Type, json: unknown, path: string): unknown {
  const wkt = WKT_CODECS.get(type.fullName);
  if (wkt) return wkt.fromJson(type, json, path, context);
  if (!isJsonObject(json)) throw invalidField(path, `expected a JSON object, got ${describeJson(json)}`);
  const out: Plain = {};
  const given = new Map<protobuf.Field, string>();
  const oneofs = new Map<protobuf.OneOf, string>();
  for (const [key, value] of Object.entries(json)) {
    const at = joinPath(path, key);
    const field = fieldByKey(type, key);
    if (!field) throw invalidField(at, 'unknown field');
    const twin = given.get(field);
    if (twin !== undefined) throw invalidField(at, `given twice (also as ${twin})`);
    given.set(field, key);
    if (value === null && !takesNull(field)) continue;
    if (field.partOf) {
      const other = oneofs.get(field.partOf);
      if (other !== undefined) throw invalidField(at, `cannot be set together with ${other} (oneof ${field.partOf.name})`);
      oneofs.set(field.partOf, key);
    }
    out[field.name] = fieldFromJson(field, value, at);
  }
  return out;
}

/** Singular `google.protobuf.Value` and `NullValue` fields read JSON null as a value, not as "unset". */
function takesNull(field: protobuf.Field): boolean {
  const name = field.resolvedType?.fullName;
  return !field.repeated && !field.map && (name === VALUE || name === NULL_VALUE);
}

/** One field's JSON (map, repeated or singular) to its plain value. */
export function fieldFromJson(field: protobuf.Field, json: unknown, path: string): unknown {
  field.resolve();
  if (field.map) {
    if (!isJsonObject(json)) throw invalidField(path, `expected an object (map), got ${describeJson(json)}`);
    const out: Plain = {};
    for (const [k, v] of Object.entries(json)) {
      const at = `${path}[${JSON.stringify(k)}]`;
      if (v === null && field.resolvedType?.fullName !== VALUE) throw invalidField(at, 'map values cannot be null');
      out[mapKey((field as unknown as protobuf.MapField).keyType, k, at)] = singleFromJson(field, v, at);
    }
    return out;
  }
  if (field.repeated) {
    if (!Array.isArray(json)) throw invalidField(path, `expected an array, got ${describeJson(json)}`);
    return json.map((v, i) => {
      const at = `${path}[${i}]`;
      if (v === null && field.resolvedType?.fullName !== VALUE) throw invalidField(at, 'list elements cannot be null');
      return singleFromJson(field, v, at);
    });
  }
  return singleFromJson(field, json, path);
}

function singleFromJson(field: protobuf.Field, json: unknown, path: string): unknown {
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Type) return messageFromJson(rt, json, path);
  if (rt instanceof protobuf.Enum) return enumFromJson(rt, json, path);
  return scalarFromJson(field.type, json, path);
}

function enumFromJson(e: protobuf.Enum, json: unknown, path: string): string | number {
  if (json === null && e.fullName === NULL_VALUE) return 'NULL_VALUE';
  if (typeof json === 'string' && Object.hasOwn(e.values, json)) return json;
  if (typeof json === 'number' && Number.isInteger(json) && Math.abs(json) <= 2 ** 31) {
    return e.valuesById[json] ?? json; // proto3 enums are open: an unknown number is kept
  }
  throw invalidField(path, `expected one of ${Object.keys(e.values).join(', ')}; got ${describeJson(json)}`);
}

const INT_RANGES: Record<string, [bigint, bigint, boolean]> = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n, false],
  sint32: [-(2n ** 31n), 2n ** 31n - 1n, false],
  sfixed32: [-(2n ** 31n), 2n ** 31n - 1n, false],
  uint32: [0n, 2n ** 32n - 1n, false],
  fixed32: [0n, 2n ** 32n - 1n, false],
  int64: [-(2n ** 63n), 2n ** 63n - 1n, true],
  sint64: [-(2n ** 63n), 2n ** 63n - 1n, true],
  sfixed64: [-(2n ** 63n), 2n ** 63n - 1n, true],
  uint64: [0n, 2n ** 64n - 1n, true],
  fixed64: [0n, 2n ** 64n - 1n, true],
};
const FLOAT_MAX = 3.4028234663852886e38;
const DECIMAL_RE = /^-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const BASE64_RE = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** A scalar of proto type `kind` from JSON; integers and floats may also come as strings, as proto3 JSON allows. */
export function scalarFromJson(kind: string, json: unknown, path: string): unknown {
  const range = INT_RANGES[kind];
  if (range) return integerFromJson(kind, range, json, path);
  switch (kind) {
    case 'string':
      if (typeof json === 'string') return json;
      throw invalidField(path, `expected a string, got ${describeJson(json)}`);
    case 'bool':
      if (typeof json === 'boolean') return json;
      throw invalidField(path, `expected true or false, got ${describeJson(json)}`);
    case 'double':
    case 'float': {
      let n: number | undefined;
      if (typeof json === 'number') n = json;
      else if (json === 'NaN') n = NaN;
      else if (json === 'Infinity') n = Infinity;
      else if (json === '-Infinity') n = -Infinity;
      else if (typeof json === 'string' && DECIMAL_RE.test(json)) n = Number(json);
      if (n === undefined) throw invalidField(path, `expected a number, got ${describeJson(json)}`);
      if (kind === 'float' && Number.isFinite(n) && Math.abs(n) > FLOAT_MAX) throw invalidField(path, `${n} is out of range for float`);
      return n;
    }
    case 'bytes':
      if (typeof json === 'string' && BASE64_RE.test(json) && json.replace(/=+$/, '').length % 4 !== 1) {
        return Buffer.from(json, 'base64'); // Node decodes both the standard and the URL-safe alphabet
      }
      throw invalidField(path, `expected base64 bytes, got ${describeJson(json)}`);
  }
  throw invalidField(path, `unsupported scalar type ${kind}`);
}

function integerFromJson(kind: string, [min, max, wide]: [bigint, bigint, boolean], json: unknown, path: string): string | number {
  let big: bigint | undefined;
  if (typeof json === 'number' && Number.isInteger(json)) {
    if (wide && !Number.isSafeInteger(json)) throw invalidField(path, `${json} is too large for a JSON number; send ${kind} values as strings`);
    big = BigInt(json);
  } else if (typeof json === 'string' && /^-?\d+$/.test(json)) {
    big = BigInt(json);
  }
  if (big === undefined) throw invalidField(path, `expected an integer, got ${describeJson(json)}`);
  if (big < min || big > max) throw invalidField(path, `${big} is out of range for ${kind}`);
  return wide ? big.toString() : Number(big);
}

function mapKey(keyType: string, key: string, path: string): string {
  if (keyType === 'string') return key;
  if (keyType === 'bool') {
    if (key === 'true' || key === 'false') return key;
    throw invalidField(path, 'map key must be "true" or "false"');
  }
  return String(scalarFromJson(keyType, key, path));
}

/**
 * A singular value (or one element of a repeated field) from a URL path segment or query-string
 * parameter: strings verbatim, `true`/`false`/`1`/`0`, numbers, enum names or numbers, base64,
 * and the well-known types whose JSON is a string (Timestamp, Duration, FieldMask, wrappers).
 */
export function fieldFromText(field: protobuf.Field, text: string, path: string): unknown {
  field.resolve();
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Enum) return enumFromJson(rt, /^-?\d+$/.test(text) ? Number(text) : text, path);
  if (rt instanceof protobuf.Type) {
    const wkt = WKT_CODECS.get(rt.fullName);
    if (wkt?.fromText) return wkt.fromText(rt, text, path, context);
    throw invalidField(path, 'a message cannot be given as one parameter; set its fields as name.subfield=value');
  }
  return scalarFromText(field.type, text, path);
}

function scalarFromText(kind: string, text: string, path: string): unknown {
  if (kind === 'string') return text;
  if (kind === 'bool') {
    if (/^(true|1)$/i.test(text)) return true;
    if (/^(false|0)$/i.test(text)) return false;
    throw invalidField(path, `expected true or false, got ${describeJson(text)}`);
  }
  return scalarFromJson(kind, text, path);
}

// ---------------------------------------------------------------------------------------------
// plain → JSON

/**
 * Converts a message (a protobufjs Message or any plain object `Type.fromObject` accepts) to
 * proto3 JSON. Throws a plain `Error` (not an AuditError) on values JSON cannot carry, since only
 * server data passes through here.
 */
export function toProto3Json(type: protobuf.Type, plain: Plain | protobuf.Message, options: ToJsonOptions = {}): JsonValue {
  const normalised = type.toObject(type.fromObject(plain), NORMALISED);
  return messageToJson(type, normalised, options.emitUnpopulated === true);
}

function messageToJson(type: protobuf.Type, obj: Plain, emit: boolean): JsonValue {
  const wkt = WKT_CODECS.get(type.fullName);
  if (wkt) return wkt.toJson(type, obj, emit ? emittingContext : context);
  const out: JsonObject = {};
  for (const field of type.fieldsArray) {
    field.resolve();
    const value = obj[field.name];
    const unset = value === undefined || value === null;
    if (unset || (!field.partOf && isZero(field, value))) {
      // Unset oneof members are never written; a set one is, even with its zero value.
      if (emit && !field.partOf) out[field.jsonName] = zeroJson(field);
      continue;
    }
    out[field.jsonName] = fieldToJson(field, value, emit);
  }
  return out;
}

function fieldToJson(field: protobuf.Field, value: unknown, emit: boolean): JsonValue {
  if (field.map) {
    const out: JsonObject = {};
    for (const [k, v] of Object.entries(value as Plain)) out[k] = singleToJson(field, v, emit);
    return out;
  }
  if (field.repeated) return (value as unknown[]).map((v) => singleToJson(field, v, emit));
  return singleToJson(field, value, emit);
}

function singleToJson(field: protobuf.Field, value: unknown, emit: boolean): JsonValue {
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Type) return messageToJson(rt, value as Plain, emit);
  if (rt instanceof protobuf.Enum) return rt.fullName === NULL_VALUE ? null : (value as string | number);
  return scalarToJson(field.type, value);
}

function scalarToJson(kind: string, value: unknown): JsonValue {
  if (INT_RANGES[kind]?.[2]) return String(value ?? '0');
  if (kind === 'double' || kind === 'float') {
    const n = Number(value ?? 0);
    if (Number.isNaN(n)) return 'NaN';
    if (!Number.isFinite(n)) return n > 0 ? 'Infinity' : '-Infinity';
    return n;
  }
  if (kind === 'bytes') return value instanceof Uint8Array ? Buffer.from(value).toString('base64') : String(value ?? '');
  if (kind === 'bool') return Boolean(value);
  if (kind === 'string') return String(value ?? '');
  return Number(value ?? 0);
}

function isZero(field: protobuf.Field, value: unknown): boolean {
  if (field.map) return Object.keys(value as Plain).length === 0;
  if (field.repeated) return (value as unknown[]).length === 0;
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Type) return false; // message fields have presence
  if (rt instanceof protobuf.Enum) return value === 0 || rt.values[value as string] === 0;
  if (INT_RANGES[field.type]?.[2]) return String(value) === '0';
  if (field.type === 'bool') return value === false;
  if (field.type === 'string' || field.type === 'bytes') return value === '' || (value instanceof Uint8Array && value.length === 0);
  return value === 0 && !Object.is(value, -0); // -0.0 is not the default in proto3 JSON
}

function zeroJson(field: protobuf.Field): JsonValue {
  if (field.map) return {};
  if (field.repeated) return [];
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Type) return null;
  if (rt instanceof protobuf.Enum) return rt.fullName === NULL_VALUE ? null : (rt.valuesById[0] ?? 0);
  return scalarToJson(field.type, undefined);
}

function decodeToPlain(type: protobuf.Type, bytes: Uint8Array): Plain {
  return type.toObject(type.decode(bytes), NORMALISED);
}

const context: WktContext = {
  messageFromJson,
  messageToJson: (type, plain) => messageToJson(type, plain, false),
  scalarFromJson,
  scalarFromText,
  scalarToJson,
  decodeToPlain,
};
const emittingContext: WktContext = { ...context, messageToJson: (type, plain) => messageToJson(type, plain, true) };
