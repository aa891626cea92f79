/**
 * `classifyPublish` and `diagnosePubSub` on recorded error shapes: what grpc-js / google-gax
 * hand the adapter for each answer of the Pub/Sub service (wording as reported by users of the
 * real service, sources beside each case), what the emulator answered when we tried, and the
 * adapter's own credentials errors. Pure: no network.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { EncodedEntry, Verdict } from '../src/delivery/adapter.js';
import { classifyPublish, diagnosePubSub, MixedOrderingKeysError, PubSubCredentialsError, PubSubPublishError } from '../src/sinks/pubsub/index.js';

const entries = (n: number, size = 10): EncodedEntry[] =>
  Array.from({ length: n }, (_, i) => ({ seq: i + 1, logId: `l${i}`, partitionKey: 'acct', data: Buffer.alloc(size) }));

/** A grpc-js ServiceError as google-gax rejects with it (code, details, metadata, message). */
function grpcError(code: number, details: string, extra: Record<string, unknown> = {}): Error {
  const names: Record<number, string> = {
    3: 'INVALID_ARGUMENT',
    4: 'DEADLINE_EXCEEDED',
    5: 'NOT_FOUND',
    7: 'PERMISSION_DENIED',
    8: 'RESOURCE_EXHAUSTED',
    10: 'ABORTED',
    13: 'INTERNAL',
    14: 'UNAVAILABLE',
    16: 'UNAUTHENTICATED',
    2: 'UNKNOWN',
    1: 'CANCELLED',
    9: 'FAILED_PRECONDITION',
    12: 'UNIMPLEMENTED',
  };
  return Object.assign(new Error(`${code} ${names[code]}: ${details}`), { code, details, metadata: { 'content-type': 'application/grpc' }, ...extra });
}

const wrap = (e: Error & { code: number; details: string }): PubSubPublishError =>
  new PubSubPublishError(e.code, e.details, { topic: 'projects/p-123456/topics/audit', serviceAccount: 'pub@p-123456.iam.gserviceaccount.com' }, { cause: e });

function kindOf(error: unknown, n = 3): Verdict {
  return classifyPublish({ error }, entries(n));
}

describe('classifyPublish: answers', () => {
  test('one message id per message is ok', () => {
    assert.deepEqual(classifyPublish({ value: { messageIds: ['1', '2', '3'] } }, entries(3)), { kind: 'ok' });
  });
  test('fewer ids than messages is resent, never counted as delivered', () => {
    assert.equal(classifyPublish({ value: { messageIds: ['1'] } }, entries(3)).kind, 'retry');
  });
});

describe('classifyPublish: gRPC statuses', () => {
  const cases: [string, Error, Verdict['kind'], RegExp?][] = [
    // The emulator's answers, recorded in this repo's tests (pubsub-emulator.test.ts).
    ['emulator NOT_FOUND', grpcError(5, 'Topic not found'), 'fatal', /not found \(NOT_FOUND: Topic not found\)/],
    ['emulator too many messages', grpcError(3, 'Too many messages to publish'), 'fatal', /Too many messages/],
    // Real service throttling (publisher quota / per-ordering-key throughput).
    ['RESOURCE_EXHAUSTED quota', grpcError(8, 'Request throttled due to user QPS limit reached.'), 'throttle'],
    ['RESOURCE_EXHAUSTED ordering key', grpcError(8, 'Publish rate for ordering key exceeded.'), 'throttle'],
    // Transient.
    ['UNAVAILABLE (grpc-js, connection refused)', grpcError(14, 'No connection established. Last error: connect ECONNREFUSED 127.0.0.1:9'), 'retry'],
    ['DEADLINE_EXCEEDED (client deadline)', grpcError(4, 'Deadline exceeded after 60.010s,name resolution: 0.013s'), 'retry'],
    ['INTERNAL', grpcError(13, 'An internal error occurred'), 'retry'],
    ['ABORTED', grpcError(10, 'The operation was aborted.'), 'retry'],
    ['CANCELLED', grpcError(1, 'The operation was cancelled.'), 'retry'],
    ['UNKNOWN', grpcError(2, 'Stream removed'), 'retry'],
    // Configuration.
    ['PERMISSION_DENIED', grpcError(7, 'User not authorized to perform this action.'), 'fatal', /grant it roles\/pubsub.publisher/],
    ['UNAUTHENTICATED', grpcError(16, 'Request had invalid authentication credentials. Expected OAuth 2 access token'), 'fatal'],
    ['FAILED_PRECONDITION (KMS key disabled)', grpcError(9, 'Cloud KMS key is disabled.'), 'fatal'],
    ['UNIMPLEMENTED (not a Pub/Sub endpoint)', grpcError(12, 'Method not found.'), 'fatal'],
    ['INVALID_ARGUMENT schema', grpcError(3, 'Invalid data in message: Message failed schema validation.'), 'fatal'],
  ];
  for (const [name, err, kind, reason] of cases) {
    test(`${name} → ${kind}`, () => {
      for (const e of [err, wrap(err as Error & { code: number; details: string })]) {
        const v = kindOf(e);
        assert.equal(v.kind, kind);
        if (reason && 'reason' in v) assert.match(v.reason, reason);
      }
    });
  }

  test('the wrapped error names the topic and service account', () => {
    const v = kindOf(wrap(grpcError(5, 'Topic not found') as Error & { code: number; details: string }));
    assert.equal(v.kind, 'fatal');
    assert.match((v as { reason: string }).reason, /^topic projects\/p-123456\/topics\/audit not found/);
    const d = kindOf(wrap(grpcError(7, 'User not authorized to perform this action.') as Error & { code: number; details: string }));
    assert.match(
      (d as { reason: string }).reason,
      /service account pub@p-123456\.iam\.gserviceaccount\.com may not publish to topic projects\/p-123456\/topics\/audit/,
    );
  });

  test('RESOURCE_EXHAUSTED with RetryInfo waits as long as the server asks', () => {
    const e = grpcError(8, 'Quota exceeded', { statusDetails: [{ retryDelay: { seconds: '2', nanos: 500_000_000 } }] });
    assert.deepEqual(kindOf(e), { kind: 'throttle', afterMs: 2500, reason: 'Pub/Sub is throttling (RESOURCE_EXHAUSTED: Quota exceeded)' });
  });

  test('a token refresh failing inside the call is a retry (the next send re-checks credentials)', () => {
    assert.equal(kindOf(grpcError(2, 'Getting metadata from plugin failed with error: unable to impersonate: socket hang up')).kind, 'retry');
  });
});

describe('classifyPublish: too large', () => {
  // gRPC wording of the real service (GoogleCloudPlatform/pubsub#267).
  const requestTooLarge = grpcError(3, 'The value for request_size is too large. You passed 10000558 in the request, but the maximum value is 10000000.');
  // REST wording (apache/beam#19384), and the emulator's gRPC frame limit (logged by the emulator).
  const restTooLarge = grpcError(3, 'Request payload size exceeds the limit: 10485760 bytes.');
  const frameTooLarge = grpcError(8, 'gRPC message exceeds maximum size 11000000: 11000045');

  test('one record alone too large → reject it (dead letter), never wedge the sink', () => {
    for (const e of [requestTooLarge, restTooLarge, frameTooLarge]) {
      assert.deepEqual(classifyPublish({ error: e }, entries(1)), {
        kind: 'reject',
        only: [0],
        reason: `record too large for Pub/Sub (${e.message.replace(/^\d+ /, '')})`,
      });
    }
  });
  test('in a batch, only the entries over the message limit are rejected', () => {
    const batch = entries(3);
    batch[1] = { ...batch[1]!, data: Buffer.alloc(10_000_001) };
    assert.deepEqual(classifyPublish({ error: requestTooLarge }, batch).kind, 'reject');
    assert.deepEqual((classifyPublish({ error: requestTooLarge }, batch) as { only: number[] }).only, [1]);
  });
  test('a batch too large although each record fits means the limits are wrong: fatal', () => {
    assert.equal(classifyPublish({ error: requestTooLarge }, entries(3)).kind, 'fatal');
  });
});

describe('classifyPublish: before Publish', () => {
  const ctx = { targetServiceAccount: 'pub@p-123456.iam.gserviceaccount.com', sourceServiceAccount: 'auditstream@ops-123.iam.gserviceaccount.com' };
  test('impersonation refused / account missing / ADC unusable → fatal', () => {
    for (const f of ['impersonation_denied', 'service_account_not_found', 'source_unavailable', 'invalid_request'] as const) {
      assert.equal(kindOf(new PubSubCredentialsError(f, `x ${f}`, ctx)).kind, 'fatal', f);
    }
  });
  test('IAM Credentials unreachable → retry; throttled → throttle', () => {
    assert.equal(kindOf(new PubSubCredentialsError('unreachable', 'x', ctx)).kind, 'retry');
    assert.equal(kindOf(new PubSubCredentialsError('throttled', 'x', ctx)).kind, 'throttle');
  });
  test('the engine aborting the send (deadline, lease) → retry', () => {
    assert.equal(kindOf(AbortSignal.timeout(0).reason ?? new DOMException('timed out', 'TimeoutError')).kind, 'retry');
    assert.equal(kindOf(new DOMException('This operation was aborted', 'AbortError')).kind, 'retry');
  });
  test('mixed ordering keys → fatal; a programming error (no gRPC status) → fatal', () => {
    assert.equal(kindOf(new MixedOrderingKeysError(['a', 'b'])).kind, 'fatal');
    assert.equal(kindOf(new TypeError('boom')).kind, 'fatal');
  });
});

describe('diagnosePubSub: verify causes', () => {
  const ctx = { targetServiceAccount: 'pub@p-123456.iam.gserviceaccount.com' };
  const cases: [string, unknown, string][] = [
    ['impersonation denied', new PubSubCredentialsError('impersonation_denied', 'cannot impersonate', ctx), 'role_not_assumable'],
    ['service account missing', new PubSubCredentialsError('service_account_not_found', 'no such account', ctx), 'role_not_assumable'],
    ['ADC unusable', new PubSubCredentialsError('source_unavailable', 'no ADC', ctx), 'role_not_assumable'],
    ['IAM unreachable', new PubSubCredentialsError('unreachable', 'IAM down', ctx), 'endpoint_unreachable'],
    ['topic not found', grpcError(5, 'Topic not found'), 'destination_not_found'],
    ['permission denied', grpcError(7, 'User not authorized to perform this action.'), 'permission_denied'],
    ['unauthenticated', grpcError(16, 'Request had invalid authentication credentials.'), 'permission_denied'],
    ['unreachable', grpcError(14, 'No connection established'), 'endpoint_unreachable'],
    ['deadline', grpcError(4, 'Deadline exceeded'), 'endpoint_unreachable'],
    ['invalid argument', grpcError(3, 'Invalid [topics] name'), 'invalid_spec'],
    ['mixed keys', new MixedOrderingKeysError(['a', 'b']), 'invalid_spec'],
    ['internal', grpcError(13, 'oops'), 'unknown'],
  ];
  for (const [name, error, cause] of cases) {
    test(`${name} → ${cause}`, () => {
      const outcome = { error };
      const r = diagnosePubSub(outcome, classifyPublish(outcome, entries(1)));
      assert.equal(r.ok, false);
      assert.equal(!r.ok && r.cause, cause);
      assert.ok(!r.ok && r.message.length > 0);
    });
  }
  test('ok → ok', () => {
    assert.deepEqual(diagnosePubSub({ value: { messageIds: ['1'] } }, { kind: 'ok' }), { ok: true });
  });
});
