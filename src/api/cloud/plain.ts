/**
 * Messages to and from the plain objects handlers see (conventions in handlers.ts). The response
 * side checks the handler's object strictly first: `Type.fromObject` silently drops unknown keys,
 * turns an unknown enum name into the zero value and a `Date` into the epoch, and a response
 * that quietly loses data is worse than a logged INTERNAL.
 */
import protobuf from 'protobufjs';
import { AuditError } from '../../errors.js';
import { PLAIN_OPTIONS, type CloudRequest } from './handlers.js';

/** A decoded request as the `CloudRequest` handlers receive. */
export function requestToPlain(type: protobuf.Type, message: protobuf.Message): CloudRequest {
  return type.toObject(message, PLAIN_OPTIONS);
}

/** A handler's response as a message; throws AS_ERR_INTERNAL (a server bug) when it does not fit `type`. */
export function responseFromPlain(type: protobuf.Type, plain: unknown): protobuf.Message {
  const problem = checkMessage(type, plain, '');
  if (problem) throw new AuditError('AS_ERR_INTERNAL', `handler response is not a valid ${type.fullName.slice(1)}: ${problem}`);
  return type.fromObject(plain as Record<string, unknown>);
}

const at = (path: string) => path || '(root)';

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Date) return 'a Date (use timestampFromDate)';
  return typeof v;
}

function checkMessage(type: protobuf.Type, value: unknown, path: string): string | undefined {
  if (value instanceof protobuf.Message) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Date) {
    return `${at(path)}: expected an object for ${type.name}, got ${kindOf(value)}`;
  }
  for (const [key, v] of Object.entries(value)) {
    if (v === undefined) continue;
    const field = Object.hasOwn(type.fields, key) ? type.fields[key] : undefined;
    const p = path ? `${path}.${key}` : key;
    if (!field) {
      // the virtual oneof key toObject({ oneofs: true }) adds, e.g. when echoing a request
      if (type.oneofs && Object.hasOwn(type.oneofs, key) && (v === null || typeof v === 'string')) continue;
      return `${p}: not a field of ${type.name} (keys are lowerCamelCase)`;
    }
    if (v === null) continue;
    const problem = checkField(field, v, p);
    if (problem) return problem;
  }
  return undefined;
}

function checkField(field: protobuf.Field, value: unknown, path: string): string | undefined {
  field.resolve();
  if (field.map) {
    if (typeof value !== 'object' || Array.isArray(value)) return `${path}: expected an object (map), got ${kindOf(value)}`;
    for (const [k, v] of Object.entries(value as object)) {
      const problem = checkSingle(field, v, `${path}[${JSON.stringify(k)}]`);
      if (problem) return problem;
    }
    return undefined;
  }
  if (field.repeated) {
    if (!Array.isArray(value)) return `${path}: expected an array, got ${kindOf(value)}`;
    for (let i = 0; i < value.length; i++) {
      const problem = checkSingle(field, value[i], `${path}[${i}]`);
      if (problem) return problem;
    }
    return undefined;
  }
  return checkSingle(field, value, path);
}

const INT = /^-?\d+$/;

function checkSingle(field: protobuf.Field, v: unknown, path: string): string | undefined {
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Type) return checkMessage(rt, v, path);
  if (rt instanceof protobuf.Enum) {
    if (typeof v === 'number' && Number.isInteger(v)) return undefined;
    if (typeof v === 'string' && Object.hasOwn(rt.values, v)) return undefined;
    return `${path}: ${JSON.stringify(v)} is not a value of ${rt.name}`;
  }
  let ok: boolean;
  switch (field.type) {
    case 'string':
      ok = typeof v === 'string';
      break;
    case 'bool':
      ok = typeof v === 'boolean';
      break;
    case 'bytes':
      ok = v instanceof Uint8Array || typeof v === 'string';
      break;
    case 'double':
    case 'float':
      ok = typeof v === 'number';
      break;
    case 'int64':
    case 'uint64':
    case 'sint64':
    case 'fixed64':
    case 'sfixed64':
      // strings, safe numbers, bigints or Long objects
      ok =
        (typeof v === 'string' && INT.test(v)) ||
        Number.isSafeInteger(v) ||
        typeof v === 'bigint' ||
        (typeof v === 'object' && v !== null && 'low' in v && 'high' in v);
      break;
    default:
      ok = Number.isInteger(v) || (typeof v === 'string' && INT.test(v));
  }
  return ok ? undefined : `${path}: expected ${field.type}, got ${kindOf(v)} ${typeof v === 'object' ? '' : JSON.stringify(String(v))}`.trimEnd();
}
