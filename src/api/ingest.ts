/**
 * `POST /api/v1/audit-logs`: other control planes store their audit records here.
 *
 * A body is validated whole before anything is stored, then stored whole or not at all, and
 * only then acknowledged with 201 (durable). Re-sending a record with a stored `log_id` and the
 * same content is an idempotent retry; other content is a 409 naming the record.
 *
 * Every check that depends only on the request runs here, before the store's group commit, so a
 * bad request is refused alone and never shares a transaction with other callers' records.
 */
import type { FastifyInstance } from 'fastify';
import { AuditError } from '../errors.js';
import { PROVENANCE_DETAILS_KEY } from '../record/provenance.js';
import { newLogId, normalizeRecord, type AcceptedRecord, type AuditRecord } from '../record/record.js';
import { createRecordValidators, type RecordValidators } from '../record/schema.js';
import { getOperation } from '../record/operations.js';
import { callerIpChainProblem } from '../record/caller-ip.js';
import { ACCOUNT_ID_PATTERN } from '../store/chain-append.js';
import type { AuditStore } from '../store/store.js';
import type { Authenticator } from './auth.js';
import type { RouteAuthorizer } from './app.js';
import type { Config } from '../config.js';
import { DEFAULT_INGEST_POLICY, enforceIngestPolicy, readIngestPolicy } from './ingest-policy.js';
import type { ApiMetrics } from './metrics.js';

/** Most records one request may carry (each batch is one transaction). */
export const MAX_RECORDS_PER_REQUEST = 10_000;

export interface IngestDeps {
  store: AuditStore;
  auth: Authenticator;
  config: Readonly<Config>;
  metrics: ApiMetrics;
  /** The access table's check (rule `IngestAuditLogs`), recording refusals. */
  authorize: RouteAuthorizer;
  onCommit?: (accountId: string) => void;
}

/** The 201 answer. `accepted` and `duplicates` are disjoint and add up to the records sent. */
export interface IngestAnswer {
  /** Records newly stored by this request. */
  accepted: number;
  /** Records already stored with identical content (idempotent retries), not stored again. */
  duplicates: number;
  /** Every record's `log_id`, in request order (stored now or before). */
  log_ids: string[];
}

function invalid(index: number, field: string, message: string): AuditError {
  return new AuditError('AS_ERR_INVALID_RECORD', `record ${index}: ${message}`, { index, field });
}

// Validators depend on the configured caller-IP limit; compile once per limit.
const validators = new Map<number, RecordValidators>();
function validatorsFor(config: Readonly<Config>): RecordValidators {
  let v = validators.get(config.maxCallerIpEntries);
  if (!v) validators.set(config.maxCallerIpEntries, (v = createRecordValidators({ maxCallerIpEntries: config.maxCallerIpEntries })));
  return v;
}

/** Validates a parsed body and returns the normalized records (emitted shape). */
export function prepareRecords(body: unknown, config: Readonly<Config>): { accountId: unknown; records: AuditRecord[]; clientLogIds: boolean } {
  const { validateAccepted } = validatorsFor(config);
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new AuditError('AS_ERR_INVALID_ARGUMENT', 'body must be a JSON object {"records": [...]}');
  }
  const b = body as Record<string, unknown>;
  for (const k of Object.keys(b)) {
    if (k !== 'records' && k !== 'account_id')
      throw new AuditError('AS_ERR_INVALID_ARGUMENT', `unknown body field ${JSON.stringify(k)} (expected records, account_id)`, { field: k });
  }
  const list = b['records'];
  if (!Array.isArray(list)) throw new AuditError('AS_ERR_INVALID_ARGUMENT', 'body.records must be an array of audit records', { field: 'records' });
  if (list.length === 0) throw new AuditError('AS_ERR_INVALID_ARGUMENT', 'body.records is empty', { field: 'records' });
  if (list.length > MAX_RECORDS_PER_REQUEST) {
    throw new AuditError('AS_ERR_PAYLOAD_TOO_LARGE', `body.records has ${list.length} records; at most ${MAX_RECORDS_PER_REQUEST} per request`);
  }
  let clientLogIds = false;
  const records = list.map((raw, i) => {
    // Validation comes first: it also refuses unstorable strings and nesting beyond
    // MAX_RECORD_DEPTH, so measuring the size (which serializes, recursively) is safe after it.
    const check = validateAccepted(raw);
    if (!check.ok) throw invalid(i, check.field, check.message);
    const encoded = Buffer.byteLength(JSON.stringify(raw));
    if (encoded > config.maxRecordBytes) {
      throw new AuditError('AS_ERR_PAYLOAD_TOO_LARGE', `record ${i}: ${encoded} bytes encoded, over the ${config.maxRecordBytes}-byte limit`, { index: i });
    }
    const rec = raw as AcceptedRecord;
    // Signed system records (checkpoints, purges) are auditstream's own: one planted by a client
    // would make its chain fail verification.
    if (getOperation(rec.operation)?.reserved) throw invalid(i, 'operation', `operation ${rec.operation} is written only by auditstream itself`);
    if (rec.details !== undefined && Object.hasOwn(rec.details, PROVENANCE_DETAILS_KEY)) {
      throw invalid(
        i,
        `details.${PROVENANCE_DETAILS_KEY}`,
        `details.${PROVENANCE_DETAILS_KEY} is reserved: auditstream sets it to show where a record came from`,
      );
    }
    // Each hop must be something a hop can be (an address, a host name, `unknown`, `_obfuscated`):
    // the same rule the server applies to the X-Forwarded-For chains it records itself.
    if (typeof rec.caller_ip_address === 'string') {
      const problem = callerIpChainProblem(rec.caller_ip_address, config.maxCallerIpEntries);
      if (problem) throw invalid(i, 'caller_ip_address', `caller_ip_address ${problem}`);
    }
    if (rec.log_id !== undefined) clientLogIds = true;
    return normalizeRecord(rec, rec.log_id ?? newLogId());
  });
  return { accountId: b['account_id'], records, clientLogIds };
}

export function registerIngestRoute(app: FastifyInstance, deps: IngestDeps): void {
  app.post('/api/v1/audit-logs', async (req, reply) => {
    const caller = await deps.auth.authenticate(req.headers.authorization);
    const ctype = req.headers['content-type'] ?? '';
    if (!/^application\/json\b/i.test(ctype)) {
      throw new AuditError('AS_ERR_UNSUPPORTED_MEDIA_TYPE', 'Content-Type must be application/json');
    }
    const { accountId: bodyAccount, records, clientLogIds } = prepareRecords(req.body, deps.config);

    // Who may ingest, and for which account: the access table decides (IngestAuditLogs).
    if (bodyAccount !== undefined && (typeof bodyAccount !== 'string' || !ACCOUNT_ID_PATTERN.test(bodyAccount))) {
      throw new AuditError('AS_ERR_INVALID_ARGUMENT', 'account_id must be 1-64 letters, digits, ".", "_" or "-"', { field: 'account_id' });
    }
    await deps.authorize(req, caller, 'IngestAuditLogs', bodyAccount !== undefined ? { accountId: bodyAccount } : {});
    let accountId: string;
    let ingestedBy: string;
    if (caller.kind === 'ingest-token') {
      if (bodyAccount === undefined) {
        throw new AuditError('AS_ERR_INVALID_ARGUMENT', 'account_id is required with the deployment ingest token', { field: 'account_id' });
      }
      accountId = bodyAccount as string;
      ingestedBy = 'token:deployment';
    } else {
      accountId = caller.accountId;
      ingestedBy = caller.keyId ? `apikey:${caller.keyId}` : `user:${caller.principal.id}`;
      // Sessions have no key to attach a policy to: they get the default.
      const policy = caller.keyId ? await readIngestPolicy(deps.store.sql, accountId, caller.keyId) : DEFAULT_INGEST_POLICY;
      enforceIngestPolicy(policy, caller.role, records);
    }

    // prepareRecords refused unstorable text and deep nesting (validateAccepted checks them first).
    const result = await deps.store.append({ accountId, records, ingestedBy, clientLogIds, textChecked: true });
    const accepted = records.length - result.duplicates;
    if (accepted > 0) deps.onCommit?.(accountId);
    deps.metrics.ingestedRecords.inc(accepted);
    deps.metrics.ingestDuplicates.inc(result.duplicates);
    const answer: IngestAnswer = { accepted, duplicates: result.duplicates, log_ids: records.map((r) => r.log_id) };
    return reply.code(201).send(answer);
  });
}
