/**
 * Reads a PutObject answer (or error) into a verdict, and a failed Verify into a cause. Pure:
 * unit-tested on errors shaped as the SDK raises them (test/s3-sink.test.ts).
 * - SlowDown / 503 / throttling names: `throttle` (the engine halves its rate and resends);
 * - 5xx, RequestTimeout, expired credentials and network failures: `retry`;
 * - AccessDenied (and other signature/credential/KMS refusals), NoSuchBucket, a wrong region, a role
 *   that cannot be assumed: `fatal`, the cause in the sink's status;
 * - any other 4xx: `fatal` (the request is wrong for this bucket: retrying will not help).
 * Error codes: https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
 */
import type { EncodedEntry, SendOutcome, Verdict, VerifyCause, VerifyResult } from '../../delivery/adapter.js';
import { awsErrorName, isNetworkError, type AwsErrorLike } from '../aws/errors.js';

const THROTTLE = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'RequestLimitExceeded', 'TooManyRequestsException', 'KMS.ThrottlingException']);
const NOT_FOUND = new Set(['NoSuchBucket']);
const DENIED = new Set([
  'AccessDenied',
  'AllAccessDisabled',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidToken',
  'AccountProblem',
  'InvalidObjectState',
  'KMS.AccessDeniedException',
  'KMS.DisabledException',
  'KMS.NotFoundException',
  'KMS.KMSInvalidStateException',
]);
const WRONG_REGION = new Set(['PermanentRedirect', 'AuthorizationHeaderMalformed', 'IllegalLocationConstraintException', 'Redirect', 'TemporaryRedirect']);
const EXPIRED = new Set(['ExpiredToken', 'TokenRefreshRequired', 'RequestExpired']);

function s3Name(e: AwsErrorLike): string {
  return e.Code ?? awsErrorName(e);
}

const status = (e: AwsErrorLike): number => e.$metadata?.httpStatusCode ?? 0;

export function classifyS3(outcome: SendOutcome, _entries?: readonly EncodedEntry[]): Verdict {
  if (outcome.error === undefined) return { kind: 'ok' };
  const e = outcome.error as AwsErrorLike;
  if (e.name === 'RoleAssumptionError') {
    const inner = (e.cause ?? {}) as AwsErrorLike;
    if (isNetworkError(inner) || inner.$fault === 'server') return { kind: 'retry', reason: `STS unreachable: ${e.message}` };
    if (THROTTLE.has(awsErrorName(inner))) return { kind: 'throttle', reason: e.message ?? 'AssumeRole throttled' };
    return { kind: 'fatal', reason: e.message ?? 'cannot assume role' };
  }
  const name = s3Name(e);
  const msg = `${name}: ${e.message ?? ''}`.trim();
  if (THROTTLE.has(name) || status(e) === 503) return { kind: 'throttle', reason: msg };
  if (NOT_FOUND.has(name)) return { kind: 'fatal', reason: `bucket not found: ${msg}` };
  if (DENIED.has(name) || name.startsWith('KMS.')) return { kind: 'fatal', reason: `permission denied: ${msg}` };
  if (WRONG_REGION.has(name) || status(e) === 301) return { kind: 'fatal', reason: `wrong region for the bucket: ${msg}` };
  if (EXPIRED.has(name)) return { kind: 'retry', reason: `credentials expired, refreshing: ${msg}` };
  if (name === 'RequestTimeout' || name === 'InternalError' || e.$fault === 'server' || status(e) >= 500) return { kind: 'retry', reason: msg };
  if (isNetworkError(e)) return { kind: 'retry', reason: `endpoint unreachable: ${msg}` };
  if (status(e) >= 400) return { kind: 'fatal', reason: msg };
  return { kind: 'retry', reason: msg };
}

/** Verify's cause for a failed test write. */
export function diagnoseS3(outcome: SendOutcome, verdict: Verdict): VerifyResult {
  const reason = verdict.kind === 'ok' ? 'ok' : verdict.reason;
  const fail = (cause: VerifyCause, message: string): VerifyResult => ({ ok: false, cause, message });
  if (outcome.error === undefined) return fail('unknown', reason);
  const e = outcome.error as AwsErrorLike;
  if (e.name === 'RoleAssumptionError') {
    const inner = (e.cause ?? {}) as AwsErrorLike;
    if (isNetworkError(inner)) return fail('endpoint_unreachable', `AWS STS is unreachable: ${inner.message ?? ''}`);
    return fail(
      'role_not_assumable',
      `${e.message}. Check that the role exists and its trust policy allows auditstream's principal with this account's ExternalId`,
    );
  }
  const name = s3Name(e);
  if (NOT_FOUND.has(name)) return fail('destination_not_found', `the bucket does not exist (check its name and account): ${e.message ?? name}`);
  if (DENIED.has(name) || name.startsWith('KMS.'))
    return fail(
      'permission_denied',
      `the role may not write the test object (it needs s3:PutObject on <bucket>/<prefix>/* and s3:DeleteObject on the verify objects): ${name}: ${e.message ?? ''}`,
    );
  if (WRONG_REGION.has(name) || status(e) === 301) return fail('wrong_region', `the bucket is in another region: ${name}: ${e.message ?? ''}`);
  if (isNetworkError(e)) return fail('endpoint_unreachable', `the S3 endpoint is unreachable: ${e.message ?? e.code ?? name}`);
  return fail('unknown', reason);
}
