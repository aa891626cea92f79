/**
 * What the AWS kinds read from an SDK v3 error, shared by their classifiers (kinesis/classify.ts,
 * s3/classify.ts): the error's name as the service spelled it, and whether it is a network
 * failure (no answer at all) rather than an answer.
 */

/** The fields of an SDK v3 error (or a Node network error) the classifiers read. */
export interface AwsErrorLike {
  name?: string;
  message?: string;
  code?: string;
  Code?: string;
  __type?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number };
  cause?: unknown;
  roleArn?: string;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
]);

/** The service's error name (`__type` of JSON protocols, else the SDK's `name`). */
export function awsErrorName(e: AwsErrorLike): string {
  const t = e.__type ? e.__type.split('#').pop()! : undefined;
  return t ?? e.name ?? 'Error';
}

/** No answer came back: refused, reset, timed out, unresolvable. */
export function isNetworkError(e: AwsErrorLike): boolean {
  if (e.code && NETWORK_CODES.has(e.code)) return true;
  if (e.name === 'TimeoutError' || e.name === 'AbortError' || e.name === 'RequestTimeout') return true;
  // The SDK's "socket hang up" and handler timeouts carry no HTTP status.
  return !e.$metadata?.httpStatusCode && !e.$fault && /socket|ECONN|timed? ?out|network|hang up/i.test(e.message ?? '');
}
