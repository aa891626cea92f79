/**
 * GetAsyncOperation and GetAuditLogs: reads, not audited. Operations are stored, so a
 * GetAsyncOperation after a restart answers truthfully.
 */
import type { temporal } from '@temporalio/proto';
import { invalidArgument, notFound } from '../../errors.js';
import { dateFromTimestamp, structFromJson, timestampFromDate, type CloudHandlers } from '../../api/cloud/handlers.js';
import type { JsonObject } from '../../api/cloud/json-types.js';
import { plainRequest, type PlainMessage } from '../../api/cloud/plain-types.js';
import { PROVENANCE_DETAILS_KEY } from '../../record/provenance.js';
import type { AuditRecord } from '../../record/record.js';
import type { StoredRecord } from '../../store/store.js';
import type { ControlPlane } from '../context.js';
import { operationMessage, readOperation, runRead } from '../mutation.js';
import { pageSizeOf } from '../paging.js';
import { isAuditError } from '../../errors.js';

/**
 * A stored record as the Cloud API's `auditlog.v1.LogRecord`. LogRecord has no field for
 * provenance, so `raw_details` carries it under PROVENANCE_DETAILS_KEY on every record: `null`
 * for the control plane's own records, `apikey:<id>`, `user:<id>` or `token:deployment` for
 * ingested ones. Ingest refuses details using that key, so the value always comes from here.
 */
export function logRecordMessage(stored: StoredRecord): PlainMessage<temporal.api.cloud.auditlog.v1.ILogRecord> {
  const r = JSON.parse(stored.recordJson) as AuditRecord;
  const details: JsonObject = { ...(r.details as JsonObject), [PROVENANCE_DETAILS_KEY]: stored.ingestedBy };
  return {
    emitTime: timestampFromDate(Date.parse(r.emit_time)),
    operation: r.operation,
    status: r.status,
    version: r.version,
    logId: r.log_id,
    principal: { type: r.principal.type, id: r.principal.id, name: r.principal.name, apiKeyId: r.principal.api_key_id ?? '' },
    rawDetails: structFromJson(details),
    xForwardedFor: r.caller_ip_address,
    asyncOperationId: r.request_id ?? '',
  };
}

export function operationHandlers(cp: ControlPlane): CloudHandlers {
  const sql = cp.store.sql;
  return {
    GetAsyncOperation: async (req, ctx) => {
      const caller = await cp.authenticate(ctx);
      const r = plainRequest<temporal.api.cloud.cloudservice.v1.IGetAsyncOperationRequest>(req);
      return runRead(caller, 'GetAsyncOperation', undefined, async () => {
        const id = r.asyncOperationId ?? '';
        if (!id) throw invalidArgument('async_operation_id is required');
        const row = await readOperation(sql, caller.accountId, id);
        if (!row) throw notFound(`async operation ${id} not found`);
        return { asyncOperation: operationMessage(row) } satisfies PlainMessage<temporal.api.cloud.cloudservice.v1.IGetAsyncOperationResponse>;
      });
    },

    GetAuditLogs: async (req, ctx) => {
      const caller = await cp.authenticate(ctx);
      const r = plainRequest<temporal.api.cloud.cloudservice.v1.IGetAuditLogsRequest>(req);
      return runRead(caller, 'GetAuditLogs', undefined, async () => {
        const start = dateFromTimestamp(r.startTimeInclusive);
        const end = dateFromTimestamp(r.endTimeExclusive);
        const sinceMs = start && start.getTime() > 0 ? start.getTime() : undefined;
        const untilMs = end && end.getTime() > 0 ? end.getTime() : undefined;
        if (sinceMs !== undefined && untilMs !== undefined && sinceMs >= untilMs)
          throw invalidArgument('start_time_inclusive must be before end_time_exclusive');
        const token = r.pageToken ?? '';
        try {
          const page = await cp.store.query(
            { accountId: caller.accountId, ...(sinceMs !== undefined ? { sinceMs } : {}), ...(untilMs !== undefined ? { untilMs } : {}) },
            { order: 'asc', limit: pageSizeOf(r.pageSize), ...(token ? { cursor: token } : {}) },
          );
          return {
            logs: page.items.map(logRecordMessage),
            nextPageToken: page.nextCursor ?? '',
          } satisfies PlainMessage<temporal.api.cloud.cloudservice.v1.IGetAuditLogsResponse>;
        } catch (err) {
          // A cursor from another query is the caller's mistake: INVALID_ARGUMENT, never retried.
          if (isAuditError(err) && err.code === 'AS_ERR_INVALID_CURSOR') throw invalidArgument(`page_token: ${err.message}`);
          throw err;
        }
      });
    },
  };
}
