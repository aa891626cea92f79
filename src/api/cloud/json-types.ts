/** JSON value types and the error helpers shared by the proto3 JSON converters. */
import { AuditError } from '../../errors.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** A protobufjs plain object (what `Type.toObject` returns and `Type.fromObject` accepts). */
export type Plain = Record<string, unknown>;

export function isJsonObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** `spec.name`, `users[2]`; the path the caller wrote, for error messages. */
export function joinPath(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** A short description of a JSON value for "expected X, got Y" messages (never the whole value). */
export function describeJson(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'number' || typeof v === 'boolean') return `${typeof v} ${String(v)}`;
  if (typeof v === 'object') return 'an object';
  return typeof v;
}

/** The caller's mistake at `path`: INVALID_ARGUMENT / 400, message `field <path>: <what>`. */
export function invalidField(path: string, message: string): AuditError {
  return new AuditError('AS_ERR_INVALID_ARGUMENT', path === '' ? message : `field ${path}: ${message}`);
}
