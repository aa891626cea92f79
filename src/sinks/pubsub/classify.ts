/**
 * Reads a Publish answer (or error) into the engine's verdict. Pure, so it is unit-tested on
 * recorded error shapes (test/pubsub-classify.test.ts) as well as on the emulator's real errors.
 *
 * gRPC status → verdict (status codes: https://cloud.google.com/pubsub/docs/reference/error-codes):
 * - RESOURCE_EXHAUSTED → throttle (publish quota or the 1 MB/s per ordering key), after the
 *   server's RetryInfo delay when it sends one.
 * - UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL, ABORTED, CANCELLED, UNKNOWN, DATA_LOSS → retry
 *   (the official client retries the same set on Publish: publisher_client_config.json).
 * - NOT_FOUND → fatal "topic not found"; PERMISSION_DENIED, UNAUTHENTICATED → fatal.
 * - INVALID_ARGUMENT about size → reject the entries that cannot fit; other INVALID_ARGUMENT
 *   (too many messages, a schema the records do not match, a bad name) → fatal: the records are
 *   not at fault, the configuration or the limits are.
 * - FAILED_PRECONDITION (e.g. the topic's KMS key is disabled), UNIMPLEMENTED, OUT_OF_RANGE → fatal.
 *
 * Publish is all or nothing: a request either stores every message or none, so there is never a
 * partial `retry`.
 */
import type { EncodedEntry, Verdict } from '../../delivery/adapter.js';
import { GrpcCode } from '../../errors.js';
import { MixedOrderingKeysError, PubSubCredentialsError } from './errors.js';
import { PUBSUB_HARD_LIMITS } from './limits.js';

/** What classify needs of a gRPC error (grpc-js ServiceError, gax GoogleError, PubSubPublishError). */
export interface GrpcErrorLike {
  code: number;
  details?: string;
  message?: string;
  topic?: string;
  serviceAccount?: string;
  statusDetails?: unknown[];
}

/** The gRPC status of an error, or `undefined` when it carries none. */
export function grpcErrorOf(error: unknown): GrpcErrorLike | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'number' || !Number.isInteger(code) || code < 0 || code > 16) return undefined;
  return error as GrpcErrorLike;
}

const RETRYABLE: ReadonlySet<number> = new Set([
  GrpcCode.UNAVAILABLE,
  GrpcCode.DEADLINE_EXCEEDED,
  GrpcCode.INTERNAL,
  GrpcCode.ABORTED,
  GrpcCode.CANCELLED,
  GrpcCode.UNKNOWN,
  GrpcCode.DATA_LOSS,
]);

const CODE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(GrpcCode).map(([k, v]) => [v, k]));

/** Too-large answers: the service's `request_size` / `message_size` wording and gRPC's own. */
const TOO_LARGE = /too large|exceeds the limit|larger than max|exceeds maximum size/i;

/** Reads `send`'s outcome for `entries` (the batch sent) into a verdict. */
export function classifyPublish(result: { value?: unknown; error?: unknown }, entries: EncodedEntry[]): Verdict {
  if (result.error === undefined) return classifyValue(result.value, entries);
  const error = result.error;
  if (error instanceof PubSubCredentialsError) return classifyCredentials(error);
  if (error instanceof MixedOrderingKeysError) return { kind: 'fatal', reason: error.message };
  if (isAbort(error)) return { kind: 'retry', reason: `publish aborted by the engine (${(error as Error).message})` };
  const g = grpcErrorOf(error);
  if (!g) {
    const message = error instanceof Error ? error.message : String(error);
    return { kind: 'fatal', reason: `publish failed before reaching Pub/Sub: ${message}` };
  }
  return classifyStatus(g, entries);
}

/** The engine aborted the send (its deadline or lease): not the destination's answer. */
function isAbort(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name;
  return name === 'AbortError' || name === 'TimeoutError';
}

function classifyValue(value: unknown, entries: EncodedEntry[]): Verdict {
  const ids = (value as { messageIds?: unknown } | undefined)?.messageIds;
  const n = Array.isArray(ids) ? ids.length : 0;
  if (n === entries.length) return { kind: 'ok' };
  // Never seen: Publish answers one id per message or fails whole. Resend rather than lose.
  return { kind: 'retry', reason: `Pub/Sub acknowledged ${n} of ${entries.length} messages` };
}

function classifyStatus(g: GrpcErrorLike, entries: EncodedEntry[]): Verdict {
  const details = g.details ?? g.message ?? '';
  const name = CODE_NAMES[g.code] ?? String(g.code);
  const said = `${name}: ${details}`;
  const topic = g.topic ? `topic ${g.topic}` : 'the topic';
  const who = g.serviceAccount ? `service account ${g.serviceAccount}` : 'the service account';

  if (/Getting metadata from plugin failed/.test(details)) {
    // The token could not be refreshed in the middle of the call (send fetches one first).
    return { kind: 'retry', reason: `refreshing the impersonated token failed: ${details}` };
  }
  switch (g.code) {
    case GrpcCode.RESOURCE_EXHAUSTED: {
      if (TOO_LARGE.test(details)) return tooLarge(said, entries);
      const afterMs = retryDelayMs(g.statusDetails);
      return afterMs === undefined
        ? { kind: 'throttle', reason: `Pub/Sub is throttling (${said})` }
        : { kind: 'throttle', afterMs, reason: `Pub/Sub is throttling (${said})` };
    }
    case GrpcCode.NOT_FOUND:
      return { kind: 'fatal', reason: `${topic} not found (${said})` };
    case GrpcCode.PERMISSION_DENIED:
      return { kind: 'fatal', reason: `${who} may not publish to ${topic}: grant it roles/pubsub.publisher on the topic (${said})` };
    case GrpcCode.UNAUTHENTICATED:
      return { kind: 'fatal', reason: `Pub/Sub rejected the credentials of ${who} (${said})` };
    case GrpcCode.INVALID_ARGUMENT:
      if (TOO_LARGE.test(details)) return tooLarge(said, entries);
      return { kind: 'fatal', reason: `Pub/Sub refused the request (${said})` };
    default:
      if (RETRYABLE.has(g.code)) return { kind: 'retry', reason: `Pub/Sub did not take the batch (${said})` };
      return { kind: 'fatal', reason: `Pub/Sub refused the request (${said})` };
  }
}

/**
 * A size refusal. One entry alone is that record's fault: reject it (dead letter). In a larger
 * batch, entries whose own message could never fit are rejected; if none is, the batch limits are
 * wrong, which no resend fixes: fatal, so it is seen.
 */
function tooLarge(said: string, entries: EncodedEntry[]): Verdict {
  if (entries.length === 1) return { kind: 'reject', only: [0], reason: `record too large for Pub/Sub (${said})` };
  const only = entries.flatMap((e, i) => (e.data.length > PUBSUB_HARD_LIMITS.messageDataBytes ? [i] : []));
  if (only.length > 0) return { kind: 'reject', only, reason: `records too large for Pub/Sub (${said})` };
  return { kind: 'fatal', reason: `publish request over Pub/Sub's size limit although every record fits: batch limits are wrong (${said})` };
}

/** The delay of a google.rpc.RetryInfo detail, when the server sent one. */
function retryDelayMs(statusDetails: unknown[] | undefined): number | undefined {
  for (const d of statusDetails ?? []) {
    const delay = (d as { retryDelay?: { seconds?: number | string | { toString(): string }; nanos?: number } } | null)?.retryDelay;
    if (delay) return Number(String(delay.seconds ?? 0)) * 1000 + Math.ceil((delay.nanos ?? 0) / 1e6);
  }
  return undefined;
}

function classifyCredentials(e: PubSubCredentialsError): Verdict {
  switch (e.failure) {
    case 'throttled':
      return { kind: 'throttle', reason: e.message };
    case 'unreachable':
      return { kind: 'retry', reason: e.message };
    default:
      return { kind: 'fatal', reason: e.message };
  }
}
