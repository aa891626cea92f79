/**
 * Reads a PutRecords answer (or error) into a verdict, and a failed verify into a cause. Pure:
 * unit-tested on responses recorded from moto and from the AWS API reference
 * (test/kinesis-classify.test.ts, test/fixtures/kinesis-responses.json).
 *
 * PutRecords answers 200 even when some entries failed: `FailedRecordCount` > 0 and those
 * entries carry `ErrorCode` ProvisionedThroughputExceededException (throttled) or InternalFailure
 * (retry). Source: https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html
 */
import type { EncodedEntry, Verdict, VerifyResult } from '../../delivery/adapter.js';
import type { SendOutcome } from '../../delivery/adapter.js';
import { awsErrorName as errorName, isNetworkError as isNetwork, type AwsErrorLike as ErrorLike } from '../aws/errors.js';

interface PutRecordsResultEntry {
  SequenceNumber?: string;
  ShardId?: string;
  ErrorCode?: string;
  ErrorMessage?: string;
}
interface PutRecordsAnswer {
  FailedRecordCount?: number;
  Records?: PutRecordsResultEntry[];
}

/** Error names (SDK v3 `err.name`, the service's `__type`) by what they mean. */
const THROTTLE = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'LimitExceededException',
  'KMSThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
]);
const NOT_FOUND = new Set(['ResourceNotFoundException']);
const DENIED = new Set([
  'AccessDeniedException',
  'AccessDenied',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'IncompleteSignature',
  'MissingAuthenticationToken',
  'KMSAccessDeniedException',
  'KMSDisabledException',
  'KMSInvalidStateException',
  'KMSNotFoundException',
  'KMSOptInRequired',
  'KMSInvalidKeyUsageException',
]);
const EXPIRED = new Set(['ExpiredToken', 'ExpiredTokenException', 'RequestExpired']);
const TRANSIENT = new Set(['InternalFailure', 'InternalFailureException', 'ServiceUnavailable', 'ServiceUnavailableException', 'ResourceInUseException']);
/** Entry indexes named in a ValidationException ("Value at 'records.2.member.data' ..."), 0-based. */
function validationIndexes(message: string, n: number): number[] {
  const out = new Set<number>();
  for (const m of message.matchAll(/records\.(\d+)\.member/g)) {
    const i = Number(m[1]) - 1;
    if (i >= 0 && i < n) out.add(i);
  }
  return [...out].sort((a, b) => a - b);
}

export function classifyPutRecords(outcome: SendOutcome, entries: readonly EncodedEntry[]): Verdict {
  if (outcome.error !== undefined) return classifyError(outcome.error as ErrorLike, entries.length);
  const answer = (outcome.value ?? {}) as PutRecordsAnswer;
  if (!answer.FailedRecordCount) return { kind: 'ok' };
  const records = answer.Records ?? [];
  const throttled: number[] = [];
  const failed: number[] = [];
  let sample = '';
  records.forEach((r, i) => {
    if (!r.ErrorCode) return;
    failed.push(i);
    if (THROTTLE.has(r.ErrorCode)) throttled.push(i);
    sample ||= `${r.ErrorCode}: ${r.ErrorMessage ?? ''}`.trim();
  });
  if (failed.length === 0) {
    // FailedRecordCount without per-entry codes: trust the count, resend everything.
    return { kind: 'retry', reason: `PutRecords reported ${answer.FailedRecordCount} failed records without error codes` };
  }
  const reason = `PutRecords: ${failed.length} of ${entries.length} records failed (${sample})`;
  if (throttled.length > 0) return { kind: 'throttle', only: failed, reason };
  return { kind: 'retry', only: failed, reason };
}

function classifyError(e: ErrorLike, n: number): Verdict {
  if (e.name === 'RoleAssumptionError') {
    const inner = (e.cause ?? {}) as ErrorLike;
    if (isNetwork(inner) || inner.$fault === 'server') return { kind: 'retry', reason: `STS unreachable: ${e.message}` };
    if (THROTTLE.has(errorName(inner))) return { kind: 'throttle', reason: e.message ?? 'AssumeRole throttled' };
    return { kind: 'fatal', reason: e.message ?? 'cannot assume role' };
  }
  const name = errorName(e);
  const msg = `${name}: ${e.message ?? ''}`.trim();
  if (THROTTLE.has(name)) return { kind: 'throttle', reason: msg };
  if (NOT_FOUND.has(name)) return { kind: 'fatal', reason: `stream not found: ${msg}` };
  if (DENIED.has(name)) return { kind: 'fatal', reason: `permission denied: ${msg}` };
  if (EXPIRED.has(name)) return { kind: 'retry', reason: `credentials expired, refreshing: ${msg}` };
  if (name === 'ValidationException' || name === 'InvalidArgumentException') {
    const idx = validationIndexes(e.message ?? '', n);
    if (idx.length > 0) return { kind: 'reject', only: idx, reason: msg };
    if (n === 1) return { kind: 'reject', only: [0], reason: msg };
    return { kind: 'fatal', reason: msg };
  }
  if (TRANSIENT.has(name) || e.$fault === 'server' || (e.$metadata?.httpStatusCode ?? 0) >= 500) return { kind: 'retry', reason: msg };
  if (isNetwork(e)) return { kind: 'retry', reason: `endpoint unreachable: ${msg}` };
  return { kind: 'retry', reason: msg };
}

/** Names the cause of a failed verify (the UI shows `message`). */
export function diagnoseKinesis(outcome: SendOutcome, verdict: Verdict): VerifyResult {
  const reason = verdict.kind === 'ok' ? 'ok' : verdict.reason;
  const e = (outcome.error ?? {}) as ErrorLike;
  if (outcome.error === undefined) return { ok: false, cause: 'unknown', message: reason };
  if (e.name === 'RoleAssumptionError') {
    const inner = (e.cause ?? {}) as ErrorLike;
    if (isNetwork(inner)) return { ok: false, cause: 'endpoint_unreachable', message: `AWS STS is unreachable: ${inner.message ?? ''}` };
    return {
      ok: false,
      cause: 'role_not_assumable',
      message: `${e.message}. Check that the role exists and its trust policy allows auditstream's principal with this account's ExternalId`,
    };
  }
  const name = errorName(e);
  if (NOT_FOUND.has(name))
    return {
      ok: false,
      cause: 'destination_not_found',
      message: `the Kinesis stream was not found (check the stream ARN, its account and region): ${e.message ?? ''}`,
    };
  if (DENIED.has(name))
    return {
      ok: false,
      cause: 'permission_denied',
      message: `the role may not write to the stream (it needs kinesis:PutRecords on it): ${name}: ${e.message ?? ''}`,
    };
  if (/region/i.test(e.message ?? '') && (name === 'InvalidArgumentException' || name === 'ValidationException')) {
    return { ok: false, cause: 'wrong_region', message: `${name}: ${e.message ?? ''}` };
  }
  if (isNetwork(e)) return { ok: false, cause: 'endpoint_unreachable', message: `the Kinesis endpoint is unreachable: ${e.message ?? e.code ?? name}` };
  return { ok: false, cause: 'unknown', message: reason };
}
