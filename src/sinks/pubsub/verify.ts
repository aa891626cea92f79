/**
 * Verify for Pub/Sub: publish one test record to the sink's topic only (never to the chain), and
 * name the cause when it fails, so the UI can say what to fix:
 *
 * | what happened                                            | cause                  |
 * |----------------------------------------------------------|------------------------|
 * | IAM Credentials refused the token (no Token Creator)     | `role_not_assumable`   |
 * | the customer's service account does not exist            | `role_not_assumable`   |
 * | auditstream's own credentials are unusable               | `role_not_assumable`   |
 * | Publish: NOT_FOUND                                       | `destination_not_found`|
 * | Publish: PERMISSION_DENIED / UNAUTHENTICATED             | `permission_denied`    |
 * | Publish or IAM: UNAVAILABLE, DEADLINE_EXCEEDED, no answer| `endpoint_unreachable` |
 * | Publish: INVALID_ARGUMENT, mixed ordering keys           | `invalid_spec`         |
 */
import type { Verdict, VerifyCause, VerifyResult } from '../../delivery/adapter.js';
import { GrpcCode } from '../../errors.js';
import type { AdapterDeps, SendOutcome } from '../../delivery/adapter.js';
import type { PubSubSinkSpec } from '../spec.js';
import { createPubSubAdapter, type PubSubAdapterOptions } from './adapter.js';
import { grpcErrorOf } from './classify.js';
import { MixedOrderingKeysError, PubSubCredentialsError } from './errors.js';
import { pubSubSpecProblems } from './names.js';

/** Turns a failed verify send into the cause a UI names; `ok` when the verdict is `ok`. */
export function diagnosePubSub(outcome: SendOutcome, verdict: Verdict): VerifyResult {
  if (verdict.kind === 'ok') return { ok: true };
  const fail = (cause: VerifyCause, message: string): VerifyResult => ({ ok: false, cause, message });
  const error = outcome.error;
  if (error instanceof PubSubCredentialsError) {
    if (error.failure === 'unreachable' || error.failure === 'throttled') return fail('endpoint_unreachable', error.message);
    return fail('role_not_assumable', error.message);
  }
  if (error instanceof MixedOrderingKeysError) return fail('invalid_spec', error.message);
  const g = grpcErrorOf(error);
  if (g) {
    switch (g.code) {
      case GrpcCode.NOT_FOUND:
        return fail('destination_not_found', verdict.reason);
      case GrpcCode.PERMISSION_DENIED:
      case GrpcCode.UNAUTHENTICATED:
        return fail('permission_denied', verdict.reason);
      case GrpcCode.UNAVAILABLE:
      case GrpcCode.DEADLINE_EXCEEDED:
        return fail('endpoint_unreachable', `Pub/Sub endpoint unreachable: ${verdict.reason}`);
      case GrpcCode.INVALID_ARGUMENT:
        return fail('invalid_spec', verdict.reason);
      default:
        return fail('unknown', verdict.reason);
    }
  }
  return fail('unknown', verdict.reason);
}

/**
 * Publishes one test record (`recordJson`, the engine's `VerifyAuditLogSink` record) to the topic
 * with a fresh adapter and reports the outcome. For callers without the engine (the CLI, tests);
 * the engine's `verifySink` does the same through the registered driver.
 */
export async function verifyPubSub(
  spec: PubSubSinkSpec,
  deps: Pick<AdapterDeps, 'accountId'> & Partial<AdapterDeps>,
  test: { logId: string; recordJson: string },
  options: PubSubAdapterOptions = {},
): Promise<VerifyResult> {
  const problems = pubSubSpecProblems(spec);
  if (problems.length > 0) return { ok: false, cause: 'invalid_spec', message: problems.map((p) => p.message).join('; ') };
  const adapter = createPubSubAdapter(spec, deps, options);
  try {
    const entries = [adapter.encode(deps.accountId, 0, test.logId, test.recordJson)];
    let outcome: SendOutcome;
    try {
      outcome = { value: await adapter.send(entries) };
    } catch (error) {
      outcome = { error };
    }
    return diagnosePubSub(outcome, adapter.classify(outcome, entries));
  } finally {
    await adapter.close();
  }
}
