/**
 * Proto3 JSON for the well-known types whose JSON form is not "an object of fields": Timestamp,
 * Duration, Struct/Value/ListValue, Any, FieldMask, Empty and the wrappers. Each codec converts
 * between that JSON and the protobufjs plain object `Type.fromObject` accepts. The generic message
 * walk lives in proto-json.ts and is passed in as `WktContext`, so the two files do not import
 * each other.
 */
import protobuf from 'protobufjs';
import { AuditError } from '../../errors.js';
import { formatDuration, formatTimestamp, parseDuration, parseTimestamp } from './wkt-time.js';
import type { JsonObject, JsonValue, Plain } from './json-types.js';
import { describeJson, invalidField, isJsonObject, joinPath } from './json-types.js';

/** The generic converters a WKT codec recurses into. */
export interface WktContext {
  messageFromJson(type: protobuf.Type, json: unknown, path: string): unknown;
  messageToJson(type: protobuf.Type, plain: Plain): JsonValue;
  scalarFromJson(kind: string, json: unknown, path: string): unknown;
  scalarFromText(kind: string, text: string, path: string): unknown;
  scalarToJson(kind: string, value: unknown): JsonValue;
  /** Decodes wire bytes into the normalised plain form `messageToJson` expects. */
  decodeToPlain(type: protobuf.Type, bytes: Uint8Array): Plain;
}

export interface WktCodec {
  fromJson(type: protobuf.Type, json: unknown, path: string, ctx: WktContext): unknown;
  toJson(type: protobuf.Type, plain: Plain, ctx: WktContext): JsonValue;
  /** Present when the JSON form is a scalar, so the type can be set from a query-string parameter. */
  fromText?(type: protobuf.Type, text: string, path: string, ctx: WktContext): unknown;
}

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0));
const str = (v: unknown): string => (v === undefined || v === null ? '0' : String(v));

function timeCodec(parse: (t: string) => { seconds: string; nanos: number } | string, format: (s: string, n: number) => string): WktCodec {
  const fromJson = (_t: protobuf.Type, json: unknown, path: string) => {
    if (typeof json !== 'string') throw invalidField(path, `expected a string, got ${describeJson(json)}`);
    const parsed = parse(json);
    if (typeof parsed === 'string') throw invalidField(path, parsed);
    return parsed;
  };
  return {
    fromJson,
    fromText: (t, text, path) => fromJson(t, text, path),
    toJson: (_t, plain) => format(str(plain.seconds), num(plain.nanos)),
  };
}

function valueFromJson(json: unknown, path: string): Plain {
  if (json === null) return { nullValue: 'NULL_VALUE' };
  switch (typeof json) {
    case 'number':
      return { numberValue: json };
    case 'string':
      return { stringValue: json };
    case 'boolean':
      return { boolValue: json };
  }
  if (Array.isArray(json)) return { listValue: { values: json.map((v, i) => valueFromJson(v, `${path}[${i}]`)) } };
  if (isJsonObject(json)) return { structValue: structFromJson(json, path) };
  throw invalidField(path, `expected a JSON value, got ${describeJson(json)}`);
}

function structFromJson(json: unknown, path: string): Plain {
  if (!isJsonObject(json)) throw invalidField(path, `expected a JSON object, got ${describeJson(json)}`);
  const fields: Plain = {};
  for (const [k, v] of Object.entries(json)) fields[k] = valueFromJson(v, joinPath(path, k));
  return { fields };
}

function valueToJson(plain: Plain): JsonValue {
  if ('nullValue' in plain) return null;
  if ('numberValue' in plain) {
    const n = num(plain.numberValue);
    if (!Number.isFinite(n)) throw new AuditError('AS_ERR_INTERNAL', 'google.protobuf.Value cannot hold NaN or Infinity in JSON');
    return n;
  }
  if ('stringValue' in plain) return String(plain.stringValue);
  if ('boolValue' in plain) return Boolean(plain.boolValue);
  if ('structValue' in plain) return structToJson(plain.structValue as Plain);
  if ('listValue' in plain) return listToJson(plain.listValue as Plain);
  return null; // no kind set: protojson refuses; null is the closest JSON and loses nothing
}

function structToJson(plain: Plain | undefined): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries((plain?.fields as Record<string, Plain> | undefined) ?? {})) out[k] = valueToJson(v);
  return out;
}

const listToJson = (plain: Plain | undefined): JsonValue[] => ((plain?.values as Plain[] | undefined) ?? []).map(valueToJson);

const snakeToCamel = (s: string) => s.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
const camelToSnake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function anyFieldNames(type: protobuf.Type): { url: string; value: string } {
  return { url: type.fieldsById[1]?.name ?? 'type_url', value: type.fieldsById[2]?.name ?? 'value' };
}

function lookupAnyType(type: protobuf.Type, url: string): protobuf.Type | undefined {
  const name = url.slice(url.lastIndexOf('/') + 1);
  const found = name ? type.root.lookup(name) : null;
  return found instanceof protobuf.Type ? found : undefined;
}

const anyCodec: WktCodec = {
  fromJson(type, json, path, ctx) {
    if (!isJsonObject(json)) throw invalidField(path, `expected a JSON object, got ${describeJson(json)}`);
    const { '@type': url, ...rest } = json;
    if (url === undefined && Object.keys(rest).length === 0) return {};
    if (typeof url !== 'string') throw invalidField(path, 'a google.protobuf.Any needs a string "@type"');
    const inner = lookupAnyType(type, url);
    if (!inner) throw invalidField(joinPath(path, '@type'), `unknown message type ${JSON.stringify(url)}`);
    let plain: unknown;
    if (WKT_CODECS.has(inner.fullName)) {
      const extra = Object.keys(rest).filter((k) => k !== 'value');
      if (extra.length > 0) throw invalidField(joinPath(path, extra[0]!), 'unknown field');
      plain = WKT_CODECS.get(inner.fullName)!.fromJson(inner, rest.value, joinPath(path, 'value'), ctx);
    } else {
      plain = ctx.messageFromJson(inner, rest, path);
    }
    const bytes = inner.encode(inner.fromObject(plain as Plain)).finish();
    const names = anyFieldNames(type);
    return { [names.url]: url, [names.value]: Buffer.from(bytes) };
  },
  toJson(type, plain, ctx): JsonValue {
    const names = anyFieldNames(type);
    const url = plain[names.url];
    const b64 = typeof plain[names.value] === 'string' ? (plain[names.value] as string) : '';
    if (typeof url !== 'string' || url === '') return {};
    const inner = lookupAnyType(type, url);
    // An Any whose type this build does not know cannot be rendered as proto3 JSON; keep it
    // lossless instead of failing the whole response.
    if (!inner) return { '@type': url, value: b64 };
    const innerJson = ctx.messageToJson(inner, ctx.decodeToPlain(inner, Buffer.from(b64, 'base64')));
    if (WKT_CODECS.has(inner.fullName)) return { '@type': url, value: innerJson };
    return { '@type': url, ...(innerJson as JsonObject) };
  },
};

const fieldMaskCodec: WktCodec = {
  fromJson(_t, json, path) {
    if (typeof json !== 'string') throw invalidField(path, `expected a comma-separated string, got ${describeJson(json)}`);
    const paths = json.split(',').filter((p) => p !== '');
    return { paths: paths.map((p) => p.split('.').map(camelToSnake).join('.')) };
  },
  fromText(t, text, path, ctx) {
    return this.fromJson(t, text, path, ctx);
  },
  toJson(_t, plain) {
    const paths = (plain.paths as string[] | undefined) ?? [];
    return paths.map((p) => p.split('.').map(snakeToCamel).join('.')).join(',');
  },
};

const wrapperCodec: WktCodec = {
  fromJson: (type, json, path, ctx) => ({ value: ctx.scalarFromJson(type.fields.value!.type, json, path) }),
  fromText: (type, text, path, ctx) => ({ value: ctx.scalarFromText(type.fields.value!.type, text, path) }),
  toJson: (type, plain, ctx) => ctx.scalarToJson(type.fields.value!.type, plain.value),
};

/** Codecs by protobufjs full name (leading dot). */
export const WKT_CODECS: ReadonlyMap<string, WktCodec> = new Map<string, WktCodec>([
  ['.google.protobuf.Timestamp', timeCodec(parseTimestamp, formatTimestamp)],
  ['.google.protobuf.Duration', timeCodec(parseDuration, formatDuration)],
  ['.google.protobuf.Struct', { fromJson: (_t, json, path) => structFromJson(json, path), toJson: (_t, plain) => structToJson(plain) }],
  ['.google.protobuf.Value', { fromJson: (_t, json, path) => valueFromJson(json, path), toJson: (_t, plain) => valueToJson(plain) }],
  [
    '.google.protobuf.ListValue',
    {
      fromJson(_t, json, path) {
        if (!Array.isArray(json)) throw invalidField(path, `expected an array, got ${describeJson(json)}`);
        return { values: json.map((v, i) => valueFromJson(v, `${path}[${i}]`)) };
      },
      toJson: (_t, plain) => listToJson(plain),
    },
  ],
  ['.google.protobuf.Any', anyCodec],
  ['.google.protobuf.FieldMask', fieldMaskCodec],
  [
    '.google.protobuf.Empty',
    {
      fromJson(_t, json, path) {
        if (!isJsonObject(json)) throw invalidField(path, `expected {}, got ${describeJson(json)}`);
        const extra = Object.keys(json)[0];
        if (extra !== undefined) throw invalidField(joinPath(path, extra), 'unknown field');
        return {};
      },
      toJson: () => ({}),
    },
  ],
  ...['Double', 'Float', 'Int64', 'UInt64', 'Int32', 'UInt32', 'Bool', 'String', 'Bytes'].map(
    (k) => [`.google.protobuf.${k}Value`, wrapperCodec] as [string, WktCodec],
  ),
]);
