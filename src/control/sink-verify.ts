/**
 * Verify (ValidateAccountAuditLogSink, the UI's Verify button): writes ONE test record —
 * operation `VerifyAuditLogSink`, category `LOG_CATEGORY_SYSTEM`, valid against the emitted
 * schema — to that destination only, and answers ok or the exact cause (role cannot be assumed,
 * destination not found, permission denied, wrong region, endpoint unreachable). The record is
 * not stored in the chain: it is a probe, like Temporal Cloud's "Success" check.
 */
import type { AuditStore } from '../store/store.js';
import { AuditError, isAuditError } from '../errors.js';
import type { AdapterDeps, SinkAdapter, VerifyResult } from '../delivery/adapter.js';
import type { AuditLogSinkSpec } from '../sinks/spec.js';
import { sinkRegistry, type SinkRegistry } from '../sinks/registry.js';
import { ensureExternalId } from '../delivery/external-id.js';
import { formatEmitTime, newLogId, normalizeRecord, serializeRecord, type AuditRecord, type Principal } from '../record/record.js';
import { buildDetails } from '../record/operations.js';
import { validateEmitted } from '../record/schema.js';

export interface VerifyOptions {
  /** Longest the test write may take. Default 15 s. */
  timeoutMs?: number;
  /** Who asked (goes into the test record's principal); default auditstream itself. */
  principal?: Principal;
  userEmail?: string;
  /** auditstream's own GCP identity (`Config.gcpServiceAccount`), for a Pub/Sub sink. */
  gcpServiceAccount?: string | undefined;
  /** The kinds known (default: this build's registry). */
  registry?: SinkRegistry;
  /** Adapter factory override (tests). */
  createAdapter?: (spec: AuditLogSinkSpec, deps: AdapterDeps) => SinkAdapter;
}

/** The test record Verify writes. */
export function verifyRecord(sinkName: string, opts: Pick<VerifyOptions, 'principal' | 'userEmail'> = {}, now = Date.now()): AuditRecord {
  const record = normalizeRecord(
    {
      emit_time: formatEmitTime(now),
      level: 'LOG_LEVEL_INFO',
      user_email: opts.userEmail ?? '',
      caller_ip_address: '',
      operation: 'VerifyAuditLogSink',
      details: buildDetails('VerifyAuditLogSink', { sink_name: sinkName }),
      status: 'OK',
      category: 'LOG_CATEGORY_SYSTEM',
      principal: opts.principal ?? { id: 'auditstream', type: 'serviceaccount', name: 'auditstream' },
    },
    newLogId(),
  );
  const check = validateEmitted(record);
  if (!check.ok) throw new AuditError('AS_ERR_INTERNAL', `verify record is invalid: ${check.message}`);
  return record;
}

/** Writes the test record; never throws for a destination problem (that is the answer). */
export async function verifySink(
  store: AuditStore,
  accountId: string,
  spec: AuditLogSinkSpec,
  opts: VerifyOptions = {},
): Promise<VerifyResult & { logId?: string }> {
  const registry = opts.registry ?? sinkRegistry;
  try {
    registry.validate(spec);
  } catch (err) {
    if (!isAuditError(err)) throw err;
    return { ok: false, cause: /region .* does not match/.test(err.message) ? 'wrong_region' : 'invalid_spec', message: err.message };
  }
  const driver = registry.driverOf(spec);
  if (!driver && !opts.createAdapter) return { ok: false, cause: 'unknown', message: 'this deployment has no adapter for that destination' };
  const externalId = await store.transaction((tx) => ensureExternalId(tx, accountId));
  const deps: AdapterDeps = { accountId, sinkName: spec.name, externalId, ...(opts.gcpServiceAccount ? { gcpServiceAccount: opts.gcpServiceAccount } : {}) };
  const adapter = opts.createAdapter ? opts.createAdapter(spec, deps) : await registry.createAdapter(spec, deps);
  try {
    const record = verifyRecord(spec.name, opts);
    const entry = adapter.encode(accountId, 0, record.log_id, serializeRecord(record));
    const signal = AbortSignal.timeout(opts.timeoutMs ?? 15_000);
    const outcome = await (adapter.probe ? adapter.probe(entry, signal) : adapter.send([entry], signal)).then(
      (value: unknown) => ({ value }),
      (error: unknown) => ({ error }),
    );
    const verdict = adapter.classify(outcome, [entry]);
    if (verdict.kind === 'ok') return { ok: true, logId: record.log_id };
    const loaded = driver ? await registry.load(driver) : undefined;
    const explained: VerifyResult = loaded?.diagnose?.(outcome, verdict) ?? { ok: false, cause: 'unknown', message: verdict.reason };
    return { ...explained, logId: record.log_id };
  } finally {
    await adapter.close().catch(() => {});
  }
}
