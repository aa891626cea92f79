/**
 * `X-Request-Id` (HTTP header, gRPC metadata): the caller's id for a call, stored as the record's
 * `request_id`. Bounded so a caller cannot park kilobytes of its own text in the audit log: 1 to
 * 128 printable ASCII characters (0x21-0x7E, no spaces). Anything else is refused with 400 /
 * INVALID_ARGUMENT naming the header, never silently cut.
 */

/** Longest X-Request-Id accepted. */
export const MAX_REQUEST_ID_CHARS = 128;

const REQUEST_ID = /^[\x21-\x7e]+$/;

/** Why an X-Request-Id value is refused, or undefined when it is fine (or absent). */
export function requestIdProblem(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value.length === 0) return 'X-Request-Id is empty: send 1 to 128 printable ASCII characters, or leave the header out';
  if (value.length > MAX_REQUEST_ID_CHARS) return `X-Request-Id is ${value.length} characters long: at most ${MAX_REQUEST_ID_CHARS} printable ASCII characters`;
  if (!REQUEST_ID.test(value)) return 'X-Request-Id must be printable ASCII characters without spaces (0x21-0x7E)';
  return undefined;
}
