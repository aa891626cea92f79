/**
 * Audit log sinks through the Cloud Ops API: Create/Get/GetAll/Update/Delete/Validate
 * AccountAuditLogSink. Every change is audited as `UpdateAccount` naming the sink (as Temporal
 * Cloud's guide lists "Configure Audit Logging: UpdateAccount"). The work is in
 * src/control/sinks-service.ts; here are only the messages, RBAC and the audit record.
 */
import { failedPrecondition, invalidArgument } from '../../errors.js';
import { buildDetails } from '../../record/operations.js';
import type { temporal } from '@temporalio/proto';
import { timestampFromDate, type CloudHandlers, type CloudResponse } from '../../api/cloud/handlers.js';
import { plainRequest, type PlainMessage } from '../../api/cloud/plain-types.js';
import type { AuditLogSinkSpec } from '../../sinks/spec.js';
import { sinkRegistry } from '../../sinks/registry.js';
import {
  awaitSinkDeleted,
  DELETE_WAIT_MS,
  createSink,
  deleteSink,
  getSink,
  listSinks,
  updateSink,
  verifySink,
  type AuditLogSinkView,
} from '../sinks-service.js';
import { pageSizeOf } from '../paging.js';
import type { ControlPlane } from '../context.js';
import { operationMessage, readOperation, runMutation, runRead } from '../mutation.js';

/** An `AuditLogSinkSpec` request message as the service's spec type. */
export function specOf(raw: PlainMessage<temporal.api.cloud.account.v1.IAuditLogSinkSpec> | null | undefined): AuditLogSinkSpec {
  const s = raw ?? {};
  const spec: AuditLogSinkSpec = { name: s.name ?? '', enabled: s.enabled === true };
  const k = s.kinesisSink;
  const p = s.pubSubSink;
  if (k) spec.kinesisSink = { roleName: k.roleName ?? '', destinationUri: k.destinationUri ?? '', region: k.region ?? '' };
  if (p) spec.pubSubSink = { serviceAccountId: p.serviceAccountId ?? '', topicName: p.topicName ?? '', gcpProjectId: p.gcpProjectId ?? '' };
  return spec;
}

const HEALTH: Record<string, string> = { user_configuration: 'HEALTH_ERROR_USER_CONFIGURATION', internal: 'HEALTH_ERROR_INTERNAL' };

/** The Cloud API's `AuditLogSink` message. */
export function sinkMessage(v: AuditLogSinkView): PlainMessage<temporal.api.cloud.account.v1.IAuditLogSink> {
  const msg: PlainMessage<temporal.api.cloud.account.v1.IAuditLogSink> = {
    name: v.name,
    resourceVersion: v.resourceVersion,
    state: v.state === 'deleting' ? 'RESOURCE_STATE_DELETING' : 'RESOURCE_STATE_ACTIVE',
    // Temporal's spec carries its own two destinations only; a filter and auditstream's other
    // kinds are served by /api/v1/sinks.
    spec: {
      name: v.spec.name,
      enabled: v.spec.enabled,
      // The Ops API's KinesisSpec has no `aggregate` (an auditstream extension).
      ...(v.spec.kinesisSink
        ? { kinesisSink: { roleName: v.spec.kinesisSink.roleName, destinationUri: v.spec.kinesisSink.destinationUri, region: v.spec.kinesisSink.region } }
        : {}),
      ...(v.spec.pubSubSink ? { pubSubSink: v.spec.pubSubSink } : {}),
    },
    health: v.health === 'ok' ? 'HEALTH_OK' : (HEALTH[v.errorKind ?? 'internal'] ?? 'HEALTH_ERROR_INTERNAL'),
    errorMessage: v.health === 'ok' ? '' : v.errorMessage,
  };
  if (v.lastSucceededMs !== null) msg.lastSucceededTime = timestampFromDate(v.lastSucceededMs);
  return msg;
}

/** The audit details of a sink change: name, action, destination, switch (and filter, when set). */
export function sinkDetails(name: string, action: string, spec?: AuditLogSinkSpec): Record<string, unknown> {
  const destination = spec ? sinkRegistry.describe(spec) : undefined;
  return buildDetails('UpdateAccount', {
    sink_name: name,
    sink_action: action,
    ...(destination ? { sink_destination: destination } : {}),
    ...(spec ? { sink_enabled: spec.enabled } : {}),
    ...(spec?.filter ? { sink_filter: spec.filter } : {}),
  });
}

export function sinkHandlers(cp: ControlPlane): CloudHandlers {
  const { store } = cp;
  return {
    GetAccountAuditLogSinks: async (req, ctx) => {
      const caller = await cp.authenticate(ctx);
      const r = plainRequest<temporal.api.cloud.cloudservice.v1.IGetAccountAuditLogSinksRequest>(req);
      return runRead(caller, 'GetAccountAuditLogSinks', undefined, async () => {
        const page = await listSinks(store.sql, caller.accountId, pageSizeOf(r.pageSize), r.pageToken ?? '');
        return {
          sinks: page.sinks.map(sinkMessage),
          nextPageToken: page.nextPageToken,
        } satisfies PlainMessage<temporal.api.cloud.cloudservice.v1.IGetAccountAuditLogSinksResponse>;
      });
    },

    GetAccountAuditLogSink: async (req, ctx) => {
      const caller = await cp.authenticate(ctx);
      const r = plainRequest<temporal.api.cloud.cloudservice.v1.IGetAccountAuditLogSinkRequest>(req);
      return runRead(caller, 'GetAccountAuditLogSink', undefined, async () => {
        const name = r.name ?? '';
        if (!name) throw invalidArgument('name is required');
        return {
          sink: sinkMessage(await getSink(store.sql, caller.accountId, name)),
        } satisfies PlainMessage<temporal.api.cloud.cloudservice.v1.IGetAccountAuditLogSinkResponse>;
      });
    },

    CreateAccountAuditLogSink: async (req, ctx) => {
      const caller = await cp.authenticate(ctx);
      const spec = specOf(plainRequest<temporal.api.cloud.cloudservice.v1.ICreateAccountAuditLogSinkRequest>(req).spec);
      const res = await runMutation(cp, caller, ctx, {
        rpc: 'CreateAccountAuditLogSink',
        operation: 'UpdateAccount',
        request: req,
        refusedDetails: () => sinkDetails(spec.name || '(none)', 'create'),
        // The sink starts at the head before this call's own record: that record is the first it delivers.
        apply: async (tx) => {
          await createSink(tx, caller.accountId, spec);
          return { details: sinkDetails(spec.name, 'create', spec), response: {} };
        },
      });
      cp.delivery.sinksChanged(caller.accountId);
      return res;
    },

    UpdateAccountAuditLogSink: async (req, ctx) => {
      const caller = await cp.authenticate(ctx);
      const r = plainRequest<temporal.api.cloud.cloudservice.v1.IUpdateAccountAuditLogSinkRequest>(req);
      const spec = specOf(r.spec);
      const res = await runMutation(cp, caller, ctx, {
        rpc: 'UpdateAccountAuditLogSink',
        operation: 'UpdateAccount',
        request: req,
        refusedDetails: () => sinkDetails(spec.name || '(none)', 'update'),
        apply: async (tx) => {
          // The Ops API cannot express a filter: an update through it keeps the stored one.
          await updateSink(tx, caller.accountId, spec, r.resourceVersion ?? '', Date.now(), { keepFilter: true });
          return { details: sinkDetails(spec.name, 'update', spec), response: {} };
        },
      });
      cp.delivery.sinksChanged(caller.accountId);
      return res;
    },

    DeleteAccountAuditLogSink: async (req, ctx) => {
      const caller = await cp.authenticate(ctx);
      const r = plainRequest<temporal.api.cloud.cloudservice.v1.IDeleteAccountAuditLogSinkRequest>(req);
      const name = r.name ?? '';
      const res = await runMutation(cp, caller, ctx, {
        rpc: 'DeleteAccountAuditLogSink',
        operation: 'UpdateAccount',
        request: req,
        refusedDetails: () => sinkDetails(name || '(none)', 'delete'),
        apply: async (tx) => {
          if (!name) throw invalidArgument('name is required');
          const deletion = await deleteSink(tx, caller.accountId, name, r.resourceVersion ?? '');
          return { details: sinkDetails(name, 'delete'), response: {}, inProgressOn: deletion.sinkId };
        },
      });
      // Done only once no process can send for this sink any more: its holder lets go right after
      // its in-flight send, so this is usually quick. A holder that died blocks until its lease
      // expires: then the answer is STATE_IN_PROGRESS, and GetAsyncOperation (or a retry with the
      // same async_operation_id) shows STATE_FULFILLED once an engine has removed the sink.
      const answered = res['asyncOperation'] as CloudResponse;
      if (answered['state'] !== 'STATE_IN_PROGRESS') return res;
      const opId = answered['id'] as string;
      const op = await readOperation(store.sql, caller.accountId, opId); // for the sink id, also on a replay
      if (op?.state === 'STATE_IN_PROGRESS' && op.resource_id) {
        const deletion = { sinkId: op.resource_id, accountId: caller.accountId, name };
        await awaitSinkDeleted(store, deletion, {
          engine: cp.delivery,
          waitMs: cp.delivery.deleteWaitMs ?? DELETE_WAIT_MS,
          ...(cp.delivery.leaseTtlMs ? { leaseTtlMs: cp.delivery.leaseTtlMs } : {}),
        });
        const now = await readOperation(store.sql, caller.accountId, opId);
        if (now) return { ...res, asyncOperation: operationMessage(now) };
      }
      return res;
    },

    ValidateAccountAuditLogSink: async (req, ctx) => {
      const caller = await cp.authenticate(ctx);
      return runRead(caller, 'ValidateAccountAuditLogSink', undefined, async () => {
        const spec = specOf(plainRequest<temporal.api.cloud.cloudservice.v1.IValidateAccountAuditLogSinkRequest>(req).spec);
        const result = await verifySink(store, caller.accountId, spec, {
          principal: caller.principal,
          userEmail: caller.email,
          gcpServiceAccount: cp.config.gcpServiceAccount,
        });
        if (!result.ok) {
          // A malformed spec is the request's fault (INVALID_ARGUMENT, as Create answers it); any
          // other cause is the destination's state (FAILED_PRECONDITION). Neither is retried.
          const refuse = result.cause === 'invalid_spec' ? invalidArgument : failedPrecondition;
          throw refuse(`verification failed (${result.cause}): ${result.message}`, { cause: result.cause });
        }
        return {};
      });
    },
  };
}
