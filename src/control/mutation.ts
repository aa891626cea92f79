/**
 * How every audited control-plane mutation runs. Invariants enforced here, once, for all RPCs:
 *
 * - The change, its AsyncOperation row and its audit record commit in ONE transaction; if the
 *   record cannot be written the operation fails. No window where one exists without the other.
 * - Idempotency: the AsyncOperation row is claimed first, inside the same transaction, keyed by
 *   the caller's `async_operation_id`. A retry with the same id and request by the same principal
 *   gets the stored response and adds no record; the same id with another request (or from
 *   another principal) is INVALID_ARGUMENT. On
 *   PostgreSQL a concurrent duplicate blocks on that row until the first commits.
 * - A refusal after authentication (permission denied, invalid argument, not found, conflict,
 *   failed precondition) rolls everything back and leaves exactly one ERROR record, written in
 *   its own transaction.
 */
import { randomUUID } from 'node:crypto';
import { AuditError, invalidArgument, isAuditError } from '../errors.js';
import { formatEmitTime, newLogId, type AuditRecord, type Category } from '../record/record.js';
import { buildCallerIpChain } from '../record/caller-ip.js';
import { canonicalJson } from '../chain/hash.js';
import { sha256Hex } from './secrets.js';
import type { AccountCaller } from '../api/auth.js';
import type { CallContext, CloudRequest, CloudResponse } from '../api/cloud/handlers.js';
import { timestampFromDate } from '../api/cloud/handlers.js';
import type { PlainMessage } from '../api/cloud/plain-types.js';
import type { temporal } from '@temporalio/proto';
import type { StoreTx } from '../store/store.js';
import type { ControlPlane } from './context.js';
import { authorize, type AuthorizeTarget } from './rbac.js';

/** Codes that mean "refused": audited as ERROR. Anything else is an outage, not a refusal. */
const REFUSALS = new Set([
  'AS_ERR_INVALID_ARGUMENT',
  'AS_ERR_PERMISSION_DENIED',
  'AS_ERR_NOT_FOUND',
  'AS_ERR_ALREADY_EXISTS',
  'AS_ERR_FAILED_PRECONDITION',
  'AS_ERR_INVALID_RECORD',
]);

export interface RecordInput {
  operation: string;
  details: Record<string, unknown>;
  status: 'OK' | 'ERROR';
  category?: Category;
  requestId?: string | undefined;
}

/** The audit record of a call by `caller`, in the seeds' format. */
export function buildRecord(
  cp: ControlPlane,
  caller: AccountCaller,
  ctx: Pick<CallContext, 'peer' | 'forwardedFor'>,
  input: RecordInput,
  now = Date.now(),
): AuditRecord {
  const record: AuditRecord = {
    emit_time: formatEmitTime(now),
    level: input.status === 'OK' ? 'LOG_LEVEL_INFO' : 'LOG_LEVEL_ERROR',
    user_email: caller.email,
    caller_ip_address: buildCallerIpChain(ctx.forwardedFor, ctx.peer, cp.config.maxCallerIpEntries),
    operation: input.operation,
    details: input.details,
    status: input.status,
    category: input.category ?? 'LOG_CATEGORY_ADMIN',
    version: 1,
    log_id: newLogId(),
    principal: { ...caller.principal },
  };
  if (input.requestId) record.request_id = input.requestId;
  return record;
}

export interface MutationSpec {
  /** The RPC, e.g. `CreateUser` (the RBAC rule and the AsyncOperation's type). */
  rpc: string;
  /** The audited operation, e.g. `InviteUsers`. */
  operation: string;
  request: CloudRequest;
  /** Namespace / resource owner the RBAC rule looks at. */
  target?: AuthorizeTarget | undefined;
  /**
   * Runs before the RBAC check: refuse with NOT_FOUND here what the caller may not even know
   * exists (another account's resource, a namespace it has no permission on), so that the
   * PERMISSION_DENIED of the rule never reveals that a name is taken.
   */
  precheck?: (tx: StoreTx) => Promise<void>;
  /** `details` of the ERROR record if the call is refused (built from the request only). */
  refusedDetails: () => Record<string, unknown>;
  /**
   * Checks and applies the change inside the transaction. Throws `AuditError` to refuse.
   * Returns the record's details and the response (without `asyncOperation`, added here).
   */
  apply(tx: StoreTx, op: { id: string; now: number }): Promise<MutationResult>;
  /** Where the response carries the AsyncOperation (default `asyncOperation`). */
  operationField?: string;
}

export interface MutationResult {
  details: Record<string, unknown>;
  response: CloudResponse;
  /**
   * The change is committed but takes effect later (a sink delete waiting for its delivering
   * process): the operation is stored STATE_IN_PROGRESS, tied to this resource id, and whoever
   * finishes the work marks it STATE_FULFILLED (src/delivery/sql/finish-deletion.ts).
   */
  inProgressOn?: string;
}

/** An `async_operations` row, as GetAsyncOperation and replays read it. */
export interface OperationRow {
  id: string;
  operation_type: string;
  state: string;
  failure_reason: string;
  started_ms: number;
  finished_ms: number | null;
  /** The resource an in-progress operation waits on (a sink id), else null. */
  resource_id: string | null;
}

interface StoredOperation extends OperationRow {
  fingerprint: string;
  response_json: string;
}

const STATE_LABEL: Record<string, string> = {
  STATE_PENDING: 'pending',
  STATE_IN_PROGRESS: 'in_progress',
  STATE_FAILED: 'failed',
  STATE_CANCELLED: 'cancelled',
  STATE_FULFILLED: 'fulfilled',
  STATE_REJECTED: 'rejected',
};

const OPERATION_COLUMNS = 'id, operation_type, state, failure_reason, started_ms, finished_ms, resource_id';

/** The AsyncOperation message of a stored operation, in its current state. */
export function operationMessage(row: OperationRow): PlainMessage<temporal.api.cloud.operation.v1.IAsyncOperation> {
  const op: PlainMessage<temporal.api.cloud.operation.v1.IAsyncOperation> = {
    id: row.id,
    state: row.state,
    stateDeprecated: STATE_LABEL[row.state] ?? '',
    operationType: row.operation_type,
    failureReason: row.failure_reason,
    startedTime: timestampFromDate(Number(row.started_ms)),
  };
  if (row.finished_ms !== null) op.finishedTime = timestampFromDate(Number(row.finished_ms));
  return op;
}

/** One operation of an account, or undefined. */
export async function readOperation(sql: Pick<StoreTx, 'get'>, accountId: string, id: string): Promise<OperationRow | undefined> {
  return sql.get<OperationRow>(`SELECT ${OPERATION_COLUMNS} FROM async_operations WHERE account_id = ? AND id = ?`, [accountId, id]);
}

export async function runMutation(cp: ControlPlane, caller: AccountCaller, ctx: CallContext, spec: MutationSpec): Promise<CloudResponse> {
  const given = typeof spec.request['asyncOperationId'] === 'string' ? (spec.request['asyncOperationId'] as string) : '';
  if (given.length > 128) throw invalidArgument('async_operation_id must be at most 128 characters');
  const opId = given || randomUUID();
  const requestId = given || ctx.requestId;
  const { asyncOperationId: _ignored, ...rest } = spec.request;
  // The caller is part of the fingerprint: only the same principal replays an operation; anyone
  // else reusing the id is refused (INVALID_ARGUMENT), so a replay never shows one caller's
  // result to another, and a caller who lost a permission through its own call can still retry it.
  const fingerprint = sha256Hex(canonicalJson({ rpc: spec.rpc, principal: caller.principal.id, request: jsonSafe(rest) }));
  const started = Date.now();

  try {
    const outcome = await cp.store.transaction(async (tx): Promise<{ replayed: boolean; response: CloudResponse }> => {
      const claimed = await tx.run(
        `INSERT INTO async_operations (account_id, id, operation_type, fingerprint, state, failure_reason, response_json, started_ms)
         VALUES (?, ?, ?, ?, 'STATE_IN_PROGRESS', '', '{}', ?) ON CONFLICT (account_id, id) DO NOTHING`,
        [caller.accountId, opId, spec.rpc, fingerprint, started],
      );
      if (claimed.changes === 0) {
        const prior = await tx.get<StoredOperation>(
          `SELECT ${OPERATION_COLUMNS}, fingerprint, response_json FROM async_operations WHERE account_id = ? AND id = ?`,
          [caller.accountId, opId],
        );
        if (prior && prior.fingerprint === fingerprint) {
          // The stored response, with the operation as it stands now (it may have finished since).
          const response = JSON.parse(prior.response_json) as CloudResponse;
          return { replayed: true, response: { ...response, [spec.operationField ?? 'asyncOperation']: operationMessage(prior) } };
        }
        throw invalidArgument(`async_operation_id ${opId} was already used for a different request`);
      }
      if (spec.precheck) await spec.precheck(tx);
      authorize(caller, spec.rpc, spec.target);
      const now = Date.now();
      const { details, response, inProgressOn } = await spec.apply(tx, { id: opId, now });
      const row: OperationRow = {
        id: opId,
        operation_type: spec.rpc,
        state: inProgressOn === undefined ? 'STATE_FULFILLED' : 'STATE_IN_PROGRESS',
        failure_reason: '',
        started_ms: started,
        finished_ms: inProgressOn === undefined ? now : null,
        resource_id: inProgressOn ?? null,
      };
      const full: CloudResponse = { ...response, [spec.operationField ?? 'asyncOperation']: operationMessage(row) };
      await tx.run('UPDATE async_operations SET state = ?, response_json = ?, finished_ms = ?, resource_id = ? WHERE account_id = ? AND id = ?', [
        row.state,
        JSON.stringify(full),
        row.finished_ms,
        row.resource_id,
        caller.accountId,
        opId,
      ]);
      await tx.append({
        accountId: caller.accountId,
        records: [buildRecord(cp, caller, ctx, { operation: spec.operation, details, status: 'OK', requestId }, now)],
        ingestedBy: null,
        clientLogIds: false,
      });
      return { replayed: false, response: full };
    });
    if (!outcome.replayed) cp.onCommit(caller.accountId);
    return outcome.response;
  } catch (err) {
    if (isAuditError(err) && REFUSALS.has(err.code)) await recordRefusal(cp, caller, ctx, spec.operation, spec.refusedDetails(), err, requestId);
    throw err;
  }
}

/** Writes the one ERROR record of a refused call. The refusal reaches the caller either way. */
export async function recordRefusal(
  cp: ControlPlane,
  caller: AccountCaller,
  ctx: Pick<CallContext, 'peer' | 'forwardedFor'>,
  operation: string,
  details: Record<string, unknown>,
  err: AuditError,
  requestId?: string,
): Promise<void> {
  try {
    await cp.store.append({
      accountId: caller.accountId,
      records: [
        buildRecord(cp, caller, ctx, { operation, details: { ...details, reason: `${err.code}: ${err.message}`.slice(0, 1024) }, status: 'ERROR', requestId }),
      ],
      ingestedBy: null,
      clientLogIds: false,
    });
    cp.onCommit(caller.accountId);
  } catch (recordErr) {
    // The caller still gets the refusal; an unrecorded refusal is logged loudly.
    cp.logger?.error({ err: recordErr, operation }, 'could not record a refused operation');
    throw new AuditError('AS_ERR_UNAVAILABLE', 'the audit store is unavailable; nothing was changed', undefined, { cause: recordErr });
  }
}

/** Buffers and other non-JSON values in a request, made hashable. */
function jsonSafe(v: unknown): unknown {
  // Bytes may arrive as a Buffer or a plain Uint8Array (after structuredClone): hash them alike.
  if (v instanceof Uint8Array) return { $bytes: Buffer.from(v).toString('base64') };
  if (Array.isArray(v)) return v.map(jsonSafe);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonSafe(x)]));
  return v;
}

/**
 * Runs a read: authorize, then `fn`. Allowed reads are not audited (as in Temporal Cloud); a read
 * the access table refuses leaves one ERROR record named after the RPC, in the caller's account
 * (rate-limited per principal, src/control/refusals.ts).
 */
export async function runRead<T>(caller: AccountCaller, rpc: string, target: AuthorizeTarget | undefined, fn: () => Promise<T>): Promise<T> {
  try {
    authorize(caller, rpc, target);
  } catch (err) {
    if (isAuditError(err) && caller.refusedRead) {
      const t = target ?? {};
      const details: Record<string, unknown> = {};
      if (t.namespace) details['namespace'] = t.namespace.slice(0, 256);
      if (t.ownerId && t.ownerId !== '*') details['target_users'] = [t.ownerId.slice(0, 512)];
      if (t.accountId !== undefined) details['requested_account'] = t.accountId.slice(0, 64);
      await caller.refusedRead(rpc, details, err);
    }
    throw err;
  }
  return fn();
}
