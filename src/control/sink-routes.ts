/**
 * auditstream's own sink extensions under `/api/v1` (the Cloud Ops API has no messages for them):
 * - `GET  /api/v1/audit-log-sinks/:name/status`: health, since-when, last success, backlog, lag,
 *   dead letters, records expired undelivered, replays — what a UI needs for the "On" badge or
 *   the error above the page.
 * - `POST /api/v1/audit-log-sinks/:name/verify`: writes one test record to an existing sink.
 * - `POST /api/v1/audit-log-sinks/:name/replay` {since, until}: re-delivers a stored time range
 *   (audited as UpdateAccount).
 * - `GET  /api/v1/audit-log-sinks/:name/dead-letters`, `POST .../dead-letters/replay`.
 * - `GET  /api/v1/audit-log-sinks/:name/setup`: what the kind's driver says the customer must set
 *   up (Kinesis: ExternalId, CloudFormation quick-create link and template; Pub/Sub: the gcloud
 *   commands; webhook: the signature scheme).
 * - `GET|POST /api/v1/audit-log-sinks/:name/extensions` {<switch>: bool, resource_version?}:
 *   auditstream's own on/off settings the Ops API's AuditLogSinkSpec has no field for, each kind's
 *   `switches` (src/sinks/driver.ts; today Kinesis `kinesis_aggregate`, KPL aggregation); the
 *   POST is audited as UpdateAccount, and Ops API updates keep them.
 * All are Owner / Global Admin only, like the sink RPCs.
 */
import type { FastifyInstance } from 'fastify';
import { failedPrecondition, invalidArgument } from '../errors.js';
import { buildDetails } from '../record/operations.js';
import { httpContext } from '../api/cloud/http-routes.js';
import { parseTimeBound } from '../store/filters.js';
import {
  deadLetters,
  ensureExternalId,
  extensionsOf,
  getSink,
  replayDeadLetters,
  replaySink,
  setSinkExtensions,
  sinkStatus,
  storedSpec,
  verifySink,
} from './sinks-service.js';
import { sinkRegistry } from '../sinks/registry.js';
import { switchField } from '../sinks/driver.js';
import type { ControlPlane } from './context.js';
import { runMutation, runRead } from './mutation.js';

type NameParams = { name: string };

export function registerSinkRoutes(app: FastifyInstance, cp: ControlPlane): void {
  const { store } = cp;
  const base = '/api/v1/audit-log-sinks/:name';

  app.get(`${base}/status`, async (req) => {
    const caller = await cp.authenticate(httpContext('GetAccountAuditLogSink', req));
    return runRead(caller, 'GetAccountAuditLogSink', undefined, () => sinkStatus(store.sql, caller.accountId, (req.params as NameParams).name));
  });

  app.post(`${base}/verify`, async (req) => {
    const caller = await cp.authenticate(httpContext('ValidateAccountAuditLogSink', req));
    return runRead(caller, 'ValidateAccountAuditLogSink', undefined, async () => {
      // The stored spec: its sealed secrets are opened by the adapter, never shown.
      const spec = await storedSpec(store.sql, caller.accountId, (req.params as NameParams).name);
      const result = await verifySink(store, caller.accountId, spec, {
        principal: caller.principal,
        userEmail: caller.email,
        gcpServiceAccount: cp.config.gcpServiceAccount,
      });
      return result.ok ? { status: 'Success', log_id: result.logId ?? null } : { status: 'Failed', cause: result.cause, message: result.message };
    });
  });

  app.post(`${base}/replay`, async (req) => {
    const ctx = httpContext('ReplayAccountAuditLogSink', req);
    const caller = await cp.authenticate(ctx);
    const name = (req.params as NameParams).name;
    const body = (req.body ?? {}) as { since?: unknown; until?: unknown };
    let replay: Awaited<ReturnType<typeof replaySink>> | undefined;
    await runMutation(cp, caller, ctx, {
      rpc: 'ReplayAccountAuditLogSink',
      operation: 'UpdateAccount',
      // Each call starts a new replay: never a retry of an earlier one.
      request: { name, since: body.since ?? null, until: body.until ?? null, asyncOperationId: '' },
      refusedDetails: () => buildDetails('UpdateAccount', { sink_name: name, sink_action: 'replay' }),
      // The window is read after the RBAC check, so a caller without the role learns nothing
      // more than PERMISSION_DENIED, and a bad window is a refusal like any other (one ERROR record).
      apply: async (tx) => {
        if (typeof body.since !== 'string') throw invalidArgument('since is required (RFC 3339 or relative like 24h)');
        if (body.until !== undefined && body.until !== null && typeof body.until !== 'string')
          throw invalidArgument('until must be RFC 3339 or relative like 1h');
        const fromMs = parseTimeBound(body.since, 'since');
        const toMs = typeof body.until === 'string' ? parseTimeBound(body.until, 'until') : Date.now() + 1;
        replay = await replaySink(tx, caller.accountId, name, fromMs, toMs);
        return {
          details: buildDetails('UpdateAccount', {
            sink_name: name,
            sink_action: 'replay',
            replay_from: new Date(fromMs).toISOString(),
            replay_until: new Date(toMs).toISOString(),
          }),
          response: {},
        };
      },
    });
    cp.delivery.sinksChanged(caller.accountId);
    return { replay_id: replay!.id, from_seq: replay!.fromSeq, to_seq: replay!.toSeq, state: replay!.state };
  });

  app.get(`${base}/dead-letters`, async (req) => {
    const caller = await cp.authenticate(httpContext('GetAccountAuditLogSink', req));
    return runRead(caller, 'GetAccountAuditLogSink', undefined, async () => ({
      dead_letters: await deadLetters(store.sql, caller.accountId, (req.params as NameParams).name, 1000),
    }));
  });

  app.post(`${base}/dead-letters/replay`, async (req) => {
    const ctx = httpContext('ReplayAccountAuditLogSink', req);
    const caller = await cp.authenticate(ctx);
    const name = (req.params as NameParams).name;
    let replayId: string | null = null;
    await runMutation(cp, caller, ctx, {
      rpc: 'ReplayAccountAuditLogSink',
      operation: 'UpdateAccount',
      request: { name, deadLetters: true, asyncOperationId: '' },
      refusedDetails: () => buildDetails('UpdateAccount', { sink_name: name, sink_action: 'replay-dead-letters' }),
      apply: async (tx) => {
        replayId = (await replayDeadLetters(tx, caller.accountId, name))?.id ?? null;
        return { details: buildDetails('UpdateAccount', { sink_name: name, sink_action: 'replay-dead-letters' }), response: {} };
      },
    });
    cp.delivery.sinksChanged(caller.accountId);
    return { replay_id: replayId };
  });

  // Each kind's switches (src/sinks/driver.ts `SinkSwitch`), by their /api/v1 field: the routes name no kind.
  const switches = sinkRegistry.switches().map(({ sw }) => ({ key: sw.key, field: switchField(sw.key) }));
  const extensionsView = (v: Awaited<ReturnType<typeof getSink>>) => {
    const ext = extensionsOf(v.spec);
    return { ...Object.fromEntries(switches.map((s) => [s.field, ext[s.key] === true])), resource_version: v.resourceVersion };
  };

  app.get(`${base}/extensions`, async (req) => {
    const caller = await cp.authenticate(httpContext('GetAccountAuditLogSink', req));
    return runRead(caller, 'GetAccountAuditLogSink', undefined, async () =>
      extensionsView(await getSink(store.sql, caller.accountId, (req.params as NameParams).name)),
    );
  });

  app.post(`${base}/extensions`, async (req) => {
    const ctx = httpContext('UpdateAccountAuditLogSink', req);
    const caller = await cp.authenticate(ctx);
    const name = (req.params as NameParams).name;
    const body = (req.body ?? {}) as Record<string, unknown>;
    let updated: Awaited<ReturnType<typeof setSinkExtensions>> | undefined;
    await runMutation(cp, caller, ctx, {
      rpc: 'UpdateAccountAuditLogSink',
      operation: 'UpdateAccount',
      // Each call is its own change, never a retry of an earlier one.
      request: { name, ...Object.fromEntries(switches.map((s) => [s.key, body[s.field] ?? null])), asyncOperationId: '' },
      refusedDetails: () => buildDetails('UpdateAccount', { sink_name: name, sink_action: 'update-extensions' }),
      apply: async (tx) => {
        const known = new Set([...switches.map((s) => s.field), 'resource_version']);
        const unknown = Object.keys(body).find((k) => !known.has(k));
        if (unknown !== undefined)
          throw invalidArgument(`unknown field "${unknown}": the extensions are ${switches.map((s) => s.field).join(', ')} (and resource_version)`);
        const given = switches.filter((s) => body[s.field] !== undefined);
        for (const s of given) if (typeof body[s.field] !== 'boolean') throw invalidArgument(`${s.field} must be true or false`);
        if (body['resource_version'] !== undefined && typeof body['resource_version'] !== 'string') throw invalidArgument('resource_version must be a string');
        updated = await setSinkExtensions(
          tx,
          caller.accountId,
          name,
          Object.fromEntries(given.map((s) => [s.key, body[s.field] as boolean])),
          (body['resource_version'] as string | undefined) ?? '',
        );
        return {
          details: buildDetails('UpdateAccount', {
            sink_name: name,
            sink_action: 'update-extensions',
            ...Object.fromEntries(given.map((s) => [`sink_${s.field}`, body[s.field]])),
          }),
          response: {},
        };
      },
    });
    cp.delivery.sinksChanged(caller.accountId);
    return extensionsView(updated!);
  });

  app.get(`${base}/setup`, async (req) => {
    const caller = await cp.authenticate(httpContext('GetAccountAuditLogSink', req));
    return runRead(caller, 'GetAccountAuditLogSink', undefined, async () => {
      const sink = await getSink(store.sql, caller.accountId, (req.params as NameParams).name);
      const driver = sinkRegistry.driverOf(sink.spec);
      if (!driver) throw failedPrecondition(`audit log sink ${sink.name} names no destination this build knows`);
      return driver.setup(sinkRegistry.destinationOf(sink.spec, driver), sink.name, {
        externalId: () => store.transaction((tx) => ensureExternalId(tx, caller.accountId)),
        settings: cp.config,
      });
    });
  });
}
