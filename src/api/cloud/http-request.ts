/**
 * Assembles a request message (as a plain object) from an HTTP call the way the
 * `google.api.http` rules describe: the JSON body (`body: "*"` is the whole message, `body: "f"`
 * is field f), then the path variables (which win over the body, as in grpc-gateway), then, when
 * the body is not the whole message, query parameters for the remaining fields.
 *
 * Query keys are field paths in proto or JSON names (`page_size`, `pageSize`, `spec.name`);
 * repeated fields take the key once per element. Stricter than grpc-gateway, which ignores what
 * it cannot map: an unknown key, a key naming a path-bound field, a repeated singular key and any
 * query parameter on a `body: "*"` route are INVALID_ARGUMENT, so a mistyped filter is reported
 * instead of silently widening a query.
 */
import protobuf from 'protobufjs';
import { invalidField, type Plain } from './json-types.js';
import type { CompiledPath } from './http-template.js';
import type { HttpRule } from './proto.js';
import { fieldByKey, fieldFromJson, fieldFromText, fromProto3Json } from './proto-json.js';

export interface HttpInput {
  /** Path parameters by Fastify name (already percent-decoded). */
  params: Record<string, string>;
  query: URLSearchParams;
  /** Parsed JSON body, or undefined when none was sent. */
  body: unknown;
}

interface Resolved {
  /** Object path from the request root, as protobufjs field names. */
  names: string[];
  field: protobuf.Field;
}

function resolve(type: protobuf.Type, keys: string[], display: string): Resolved {
  const names: string[] = [];
  let current = type;
  for (let i = 0; i < keys.length; i++) {
    const field = fieldByKey(current, keys[i]!);
    if (!field) throw invalidField(display, 'unknown field');
    field.resolve();
    names.push(field.name);
    if (i === keys.length - 1) return { names, field };
    if (!(field.resolvedType instanceof protobuf.Type) || field.repeated || field.map) {
      throw invalidField(display, `${keys[i]} has no sub-fields that can be set here`);
    }
    current = field.resolvedType;
  }
  throw invalidField(display, 'empty field path');
}

function assign(root: Plain, { names, field }: Resolved, value: unknown, display: string, override: boolean): void {
  let obj = root;
  for (const name of names.slice(0, -1)) {
    const next = obj[name];
    obj = (typeof next === 'object' && next !== null ? next : (obj[name] = {})) as Plain;
  }
  const name = field.name;
  if (field.map) throw invalidField(display, 'map fields cannot be set from the URL');
  if (field.repeated) {
    const list = Array.isArray(obj[name]) && !override ? (obj[name] as unknown[]) : (obj[name] = []);
    list.push(value);
    return;
  }
  if (!override && obj[name] !== undefined) throw invalidField(display, 'given more than once');
  const oneof = field.partOf;
  const rival = oneof?.oneof.find((member) => member !== name && obj[member] !== undefined);
  if (rival !== undefined) {
    if (!override) throw invalidField(display, `cannot be set together with ${rival} (oneof ${oneof!.name})`);
    delete obj[rival];
  }
  obj[name] = value;
}

/** The request for `rule` as a plain object ready for `Type.fromObject`. */
export function buildHttpRequest(type: protobuf.Type, rule: HttpRule, path: CompiledPath, input: HttpInput): Plain {
  let root: Plain = {};
  let bodyField: string | undefined;
  if (rule.body === '*') {
    if (input.body !== undefined) root = fromProto3Json(type, input.body);
  } else if (rule.body !== undefined) {
    const target = resolve(type, [rule.body], rule.body);
    bodyField = target.field.name;
    if (input.body !== undefined) root[bodyField] = fieldFromJson(target.field, input.body, target.field.jsonName);
  } else if (input.body !== undefined) {
    throw invalidField('', `${rule.method} ${rule.path} takes no request body`);
  }

  const bound = new Set<string>();
  for (const variable of path.variables) {
    const display = variable.fieldPath.join('.');
    const target = resolve(type, variable.fieldPath, display);
    const text = input.params[variable.param] ?? '';
    if (text === '') throw invalidField(display, 'is empty in the URL path');
    assign(root, target, fieldFromText(target.field, text, display), display, true);
    bound.add(target.names.join('.'));
  }

  for (const [key, text] of input.query) {
    if (rule.body === '*') {
      throw invalidField(key, 'query parameters are not accepted here; send every field in the JSON body');
    }
    const target = resolve(type, key.split('.'), key);
    const canonical = target.names.join('.');
    if (bound.has(canonical)) throw invalidField(key, 'is already given by the URL path');
    if (bodyField !== undefined && target.names[0] === bodyField) throw invalidField(key, 'belongs in the request body');
    assign(root, target, fieldFromText(target.field, text, key), key, false);
  }
  return root;
}
