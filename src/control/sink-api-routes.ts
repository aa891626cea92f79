/**
 * `/api/v1/sinks`: sink management for every kind the registry knows, and for filters — what
 * Temporal's `AuditLogSinkSpec` cannot carry (it has Kinesis and Pub/Sub only). Same service, same
 * RBAC rules (the sink RPCs'), same `UpdateAccount` audit record as the Cloud Ops API handlers.
 *
 * Bodies and answers are snake_case JSON: `{"spec": {"name", "enabled", "<kind>_sink": {...},
 * "filter": {...}}, "resource_version"}`. Secrets are shown once, in the answer of the call that
 * made them (`signing_secret`), and reads show them as `"set"`.
 */
import type { FastifyInstance } from 'fastify';
import { invalidArgument } from '../errors.js';
import { httpContext } from '../api/cloud/http-routes.js';
import type { AuditLogSinkSpec } from '../sinks/spec.js';
import { sinkRegistry } from '../sinks/registry.js';
import { sinkDetails } from './handlers/sinks.js';
import {
  awaitSinkDeleted,
  createSink,
  deleteSink,
  DELETE_WAIT_MS,
  getSink,
  listSinks,
  updateSink,
  type AuditLogSinkView,
  type CreatedSink,
} from './sinks-service.js';
import type { ControlPlane } from './context.js';
import { runMutation, runRead } from './mutation.js';

type NameParams = { name: string };
type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
const camel = (k: string): string => k.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
const snake = (k: string): string => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** Converts the keys (never the values) of nested objects. */
function rekey(v: unknown, f: (k: string) => string): unknown {
  if (Array.isArray(v)) return v.map((x) => rekey(x, f));
  if (!isObject(v)) return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [f(k), rekey(x, f)]));
}

/** A request's `spec` as the service's spec: each kind's driver parses its own destination. */
export function specFromBody(body: unknown, name?: string): AuditLogSinkSpec {
  if (!isObject(body) || !isObject(body['spec'])) throw invalidArgument('spec is required (an object)');
  const raw = rekey(body['spec'], camel) as Json;
  const specName = name ?? raw['name'];
  if (name !== undefined && raw['name'] !== undefined && raw['name'] !== name)
    throw invalidArgument(`spec.name "${String(raw['name'])}" differs from the sink in the path "${name}"`);
  const spec = { name: typeof specName === 'string' ? specName : '', enabled: raw['enabled'] === undefined ? true : raw['enabled'] } as AuditLogSinkSpec;
  for (const d of sinkRegistry.drivers()) {
    const dest = raw[d.specKey];
    if (dest === undefined || dest === null) continue;
    if (!isObject(dest)) throw invalidArgument(`spec.${d.wireKey} must be an object`);
    (spec as unknown as Json)[d.specKey] = d.parse(dest);
  }
  const known = new Set(['name', 'enabled', 'filter', ...sinkRegistry.drivers().map((d) => d.specKey)]);
  for (const k of Object.keys(raw)) if (!known.has(k)) throw invalidArgument(`spec.${snake(k)} is not a sink spec field`);
  if (raw['filter'] !== undefined && raw['filter'] !== null) spec.filter = raw['filter'] as AuditLogSinkSpec['filter'] & object;
  return spec;
}

/** A sink as `/api/v1` shows it (snake_case; secrets as "set"). */
export function apiSinkView(v: AuditLogSinkView): Json {
  return {
    name: v.name,
    kind: v.kind,
    resource_version: v.resourceVersion,
    state: v.state,
    spec: rekey(v.spec, snake),
    health: v.health,
    error_kind: v.errorKind,
    error_message: v.errorMessage,
    last_succeeded_time: v.lastSucceededMs === null ? null : new Date(v.lastSucceededMs).toISOString(),
  };
}

const withSecrets = (v: CreatedSink): Json => ({ ...apiSinkView(v), ...v.shownOnce });

export function registerSinkApiRoutes(app: FastifyInstance, cp: ControlPlane): void {
  const { store } = cp;

  app.get('/api/v1/sinks', async (req) => {
    const caller = await cp.authenticate(httpContext('GetAccountAuditLogSinks', req));
    return runRead(caller, 'GetAccountAuditLogSinks', undefined, async () => {
      const all: Json[] = [];
      let token = '';
      do {
        const page = await listSinks(store.sql, caller.accountId, 1000, token);
        all.push(...page.sinks.map(apiSinkView));
        token = page.nextPageToken;
      } while (token);
      return { sinks: all };
    });
  });

  app.get('/api/v1/sinks/:name', async (req) => {
    const caller = await cp.authenticate(httpContext('GetAccountAuditLogSink', req));
    return runRead(caller, 'GetAccountAuditLogSink', undefined, async () =>
      apiSinkView(await getSink(store.sql, caller.accountId, (req.params as NameParams).name)),
    );
  });

  app.post('/api/v1/sinks', async (req, reply) => {
    const ctx = httpContext('CreateAccountAuditLogSink', req);
    const caller = await cp.authenticate(ctx);
    const body = req.body;
    const nameOf = (): string => (isObject(body) && isObject(body['spec']) && typeof body['spec']['name'] === 'string' ? body['spec']['name'] : '(none)');
    let created: CreatedSink | undefined;
    await runMutation(cp, caller, ctx, {
      rpc: 'CreateAccountAuditLogSink',
      operation: 'UpdateAccount',
      // Each call is its own create (a retry is refused ALREADY_EXISTS); secrets never reach the fingerprint.
      request: { asyncOperationId: '' },
      refusedDetails: () => sinkDetails(nameOf(), 'create'),
      apply: async (tx) => {
        const spec = specFromBody(body);
        created = await createSink(tx, caller.accountId, spec);
        return { details: sinkDetails(spec.name, 'create', created.spec), response: {} };
      },
    });
    cp.delivery.sinksChanged(caller.accountId);
    reply.code(201);
    return withSecrets(created!);
  });

  app.post('/api/v1/sinks/:name', async (req) => {
    const ctx = httpContext('UpdateAccountAuditLogSink', req);
    const caller = await cp.authenticate(ctx);
    const name = (req.params as NameParams).name;
    const body = req.body;
    let updated: CreatedSink | undefined;
    await runMutation(cp, caller, ctx, {
      rpc: 'UpdateAccountAuditLogSink',
      operation: 'UpdateAccount',
      request: { asyncOperationId: '' },
      refusedDetails: () => sinkDetails(name, 'update'),
      apply: async (tx) => {
        const spec = specFromBody(body, name);
        const rv = isObject(body) && typeof body['resource_version'] === 'string' ? body['resource_version'] : '';
        updated = await updateSink(tx, caller.accountId, spec, rv);
        return { details: sinkDetails(name, 'update', updated.spec), response: {} };
      },
    });
    cp.delivery.sinksChanged(caller.accountId);
    return withSecrets(updated!);
  });

  app.delete('/api/v1/sinks/:name', async (req) => {
    const ctx = httpContext('DeleteAccountAuditLogSink', req);
    const caller = await cp.authenticate(ctx);
    const name = (req.params as NameParams).name;
    let deletion: Awaited<ReturnType<typeof deleteSink>> | undefined;
    await runMutation(cp, caller, ctx, {
      rpc: 'DeleteAccountAuditLogSink',
      operation: 'UpdateAccount',
      request: { name, asyncOperationId: '' },
      refusedDetails: () => sinkDetails(name, 'delete'),
      apply: async (tx) => {
        deletion = await deleteSink(tx, caller.accountId, name, '');
        return { details: sinkDetails(name, 'delete'), response: {}, inProgressOn: deletion.sinkId };
      },
    });
    const done = await awaitSinkDeleted(store, deletion!, {
      engine: cp.delivery,
      waitMs: cp.delivery.deleteWaitMs ?? DELETE_WAIT_MS,
      ...(cp.delivery.leaseTtlMs ? { leaseTtlMs: cp.delivery.leaseTtlMs } : {}),
    });
    return { name, state: done ? 'deleted' : 'deleting' };
  });
}
