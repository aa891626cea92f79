/**
 * Types for the plain objects handlers receive and return (conventions: handlers.ts), derived
 * from the interfaces `@temporalio/proto` generates for each message, so that a handler reads
 * `req.pageToken` of a `temporal.api.cloud.cloudservice.v1.IGetApiKeysRequest` instead of a
 * string key the compiler cannot check.
 *
 * The generated interfaces describe protobufjs messages: enums as numbers, 64-bit integers as
 * `Long | number`, bytes as `Uint8Array`. The plain objects differ where `PLAIN_OPTIONS` says so:
 * an enum is its value name (or a number the schema does not know), a 64-bit integer is a
 * decimal string, bytes are a `Buffer`. Every field stays optional: the transports fill every
 * field (`defaults: true`), but in-process callers (tests, the `/api/v1` routes) may pass only
 * the fields they mean, so a handler still supplies its own default (`req.pageToken ?? ''`).
 *
 * @example
 * import type { temporal } from '@temporalio/proto';
 * type GetApiKeysRequest = PlainMessage<temporal.api.cloud.cloudservice.v1.IGetApiKeysRequest>;
 * const r = plainRequest<temporal.api.cloud.cloudservice.v1.IGetApiKeysRequest>(req);
 * const owner = r.ownerId ?? '';
 */
import type { CloudRequest } from './handlers.js';

/** What protobufjs's `Long` looks like (the package is not a dependency of ours). */
interface LongLike {
  low: number;
  high: number;
  unsigned: boolean;
}

/** A numeric enum (a union of member literals) rather than `number` itself. */
type IsNumericEnum<T> = `${number}` extends `${T & number}` ? false : true;

/** One field's value in the plain form. */
export type PlainField<F> = [Extract<F, LongLike>] extends [never]
  ? F extends Uint8Array
    ? Buffer
    : F extends number
      ? IsNumericEnum<F> extends true
        ? string | number
        : number
      : F extends string | boolean
        ? F
        : F extends readonly (infer U)[]
          ? PlainField<NonNullable<U>>[]
          : F extends object
            ? string extends keyof F
              ? { [key: string]: PlainField<NonNullable<F[string & keyof F]>> }
              : PlainMessage<F> | null
            : F
  : string;

/** A message in the plain form: the generated interface's fields, converted by `PlainField`. */
export type PlainMessage<T> = { [K in keyof T]?: PlainField<NonNullable<T[K]>> | null };

/**
 * A handler's request as the plain form of its generated request interface. The transports
 * build it from a decoded message (`requestToPlain`), so its fields have these types.
 */
export function plainRequest<T>(req: CloudRequest): PlainMessage<T> {
  return req as PlainMessage<T>;
}
