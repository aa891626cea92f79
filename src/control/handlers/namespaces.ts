/**
 * Namespaces: GetNamespaces, GetNamespace, CreateNamespace, UpdateNamespace (also certificates,
 * certificate filters, custom search attributes and retention), RenameCustomSearchAttribute,
 * FailoverNamespaceRegion (audited as FailoverNamespace) and DeleteNamespace.
 *
 * A namespace's id is `<name>.<account id>`, as in Temporal Cloud. A namespace of another account,
 * or one the caller has no permission on at all, is NOT_FOUND, exactly like one that does not
 * exist: existence never leaks. A caller who can see the namespace but lacks the permission the
 * RPC needs (Read trying UpdateNamespace) gets PERMISSION_DENIED.
 *
 * The spec is stored as JSON (`namespaces.spec_json`) in a normalised form (`StoredSpec`; it,
 * the rules, the validation, the message and the storage writes are in ../namespaces/).
 * UpdateNamespace replaces the spec as a whole (Temporal Cloud semantics: send what GetNamespace
 * returned, changed), except that an empty region list and a zero retention mean "unchanged".
 */
import type { temporal } from '@temporalio/proto';
import { AuditError, failedPrecondition, invalidArgument, notFound } from '../../errors.js';
import { buildDetails } from '../../record/operations.js';
import type { CallContext, CloudHandlers, CloudRequest, CloudResponse } from '../../api/cloud/handlers.js';
import { plainRequest, type PlainMessage } from '../../api/cloud/plain-types.js';
import type { AccountCaller } from '../../api/auth.js';
import type { StoreTx } from '../../store/store.js';
import type { ControlPlane } from '../context.js';
import { runMutation, runRead } from '../mutation.js';
import { newResourceVersion, type NamespaceRow, type UserRow } from '../model.js';
import { decodePageToken, pageOf, pageSizeOf } from '../paging.js';
import { isNamespaceAdminEverywhere, namespacePermission } from '../rbac.js';
import { checkVersion, namespaceRow } from '../validate.js';
import { fingerprintsOfStored } from '../ca-bundle.js';
import { namespaceMessage } from '../namespaces/message.js';
import { SEARCH_ATTRIBUTE_TYPES } from '../namespaces/rules.js';
import { parseStored } from '../namespaces/spec.js';
import { editAccess, saveNamespace } from '../namespaces/storage.js';
import { checkSearchAttributeName, checkSpec, checkTags } from '../namespaces/validate-spec.js';

const clip = (s: string, n: number) => (s.length > n ? s.slice(0, n) : s);

/** Owner and Global Admin: Namespace Admin everywhere (the access table says who). */
const isAccountAdmin = (caller: AccountCaller) => isNamespaceAdminEverywhere(caller.role);

const sameSet = (a: readonly string[], b: readonly string[]) => a.length === b.length && [...a].sort().join() === [...b].sort().join();

export interface NamespaceMutation {
  rpc: string;
  operation: string;
  request: CloudRequest;
  namespace: string;
  refusedDetails: () => Record<string, unknown>;
  apply(tx: StoreTx, op: { id: string; now: number }, row: NamespaceRow): Promise<{ details: Record<string, unknown>; response: CloudResponse }>;
}

/**
 * A mutation of one existing namespace. Order of checks: idempotent replay (runMutation), then
 * NOT_FOUND for a namespace the caller cannot see (none in this account, another account's, or
 * one the caller has no permission on at all: its existence must not leak), then the RBAC rule
 * (PERMISSION_DENIED), then the RPC's own checks.
 */
export function namespaceMutation(cp: ControlPlane, caller: AccountCaller, ctx: CallContext, m: NamespaceMutation): Promise<CloudResponse> {
  let row: NamespaceRow | undefined;
  return runMutation(cp, caller, ctx, {
    rpc: m.rpc,
    operation: m.operation,
    request: m.request,
    target: { namespace: m.namespace },
    refusedDetails: m.refusedDetails,
    // apply runs in the precheck's transaction: the row it read is the one to change.
    precheck: async (tx) => {
      if (m.namespace === '') throw invalidArgument('namespace is required');
      if (namespacePermission(caller, m.namespace) === undefined) throw notFound(`namespace ${m.namespace} not found`);
      row = await namespaceRow(tx, caller.accountId, m.namespace);
    },
    apply: async (tx, op) => m.apply(tx, op, row!),
  });
}

type GetNamespacesResponse = PlainMessage<temporal.api.cloud.cloudservice.v1.IGetNamespacesResponse>;
type GetNamespaceResponse = PlainMessage<temporal.api.cloud.cloudservice.v1.IGetNamespaceResponse>;
type CreateNamespaceResponse = PlainMessage<temporal.api.cloud.cloudservice.v1.ICreateNamespaceResponse>;

export function namespaceHandlers(cp: ControlPlane): CloudHandlers {
  const sql = cp.store.sql;
  return {
    GetNamespaces: async (req, ctx) => {
      const caller = await cp.authenticate(ctx);
      const r = plainRequest<temporal.api.cloud.cloudservice.v1.IGetNamespacesRequest>(req);
      return runRead(caller, 'GetNamespaces', undefined, async () => {
        const limit = pageSizeOf(r.pageSize);
        const after = decodePageToken(r.pageToken);
        const name = r.name ?? '';
        // `name` is the namespace's name; a full `name.account` id is accepted too.
        const only = name === '' ? undefined : name.includes('.') ? name : `${name}.${caller.accountId}`;
        // Owner and Global Admin see every namespace; anyone else those they have a permission on.
        const allowed = isAccountAdmin(caller) ? undefined : Object.keys(caller.namespaceAccess);
        if (allowed && allowed.length === 0) return { namespaces: [], nextPageToken: '' } satisfies GetNamespacesResponse;
        const where = ['account_id = ?', 'namespace > ?'];
        const params: unknown[] = [caller.accountId, after];
        if (only !== undefined) {
          where.push('namespace = ?');
          params.push(only);
        }
        if (allowed) {
          where.push(`namespace IN (${allowed.map(() => '?').join(', ')})`);
          params.push(...allowed);
        }
        const rows = await sql.all<NamespaceRow>(`SELECT * FROM namespaces WHERE ${where.join(' AND ')} ORDER BY namespace LIMIT ?`, [...params, limit + 1]);
        const page = pageOf(rows, limit, (r) => r.namespace);
        return { namespaces: page.items.map(namespaceMessage), nextPageToken: page.nextPageToken } satisfies GetNamespacesResponse;
      });
    },

    GetNamespace: async (req, ctx) => {
      const caller = await cp.authenticate(ctx);
      const namespace = plainRequest<temporal.api.cloud.cloudservice.v1.IGetNamespaceRequest>(req).namespace ?? '';
      if (namespace === '') throw invalidArgument('namespace is required');
      // No permission at all reads as "does not exist", as does another account's namespace; the
      // attempt is still a refused read, recorded in the caller's account.
      if (namespacePermission(caller, namespace) === undefined) {
        const err = notFound(`namespace ${namespace} not found`);
        await caller.refusedRead?.('GetNamespace', { namespace: namespace.slice(0, 256) }, err);
        throw err;
      }
      const row = await namespaceRow(sql, caller.accountId, namespace);
      return runRead(caller, 'GetNamespace', { namespace }, async () => ({ namespace: namespaceMessage(row) }) satisfies GetNamespaceResponse);
    },

    CreateNamespace: async (req, ctx) => {
      const caller = await cp.authenticate(ctx);
      const r = plainRequest<temporal.api.cloud.cloudservice.v1.ICreateNamespaceRequest>(req);
      const rawSpec = r.spec;
      const name = rawSpec?.name ?? '';
      const namespace = name ? `${name}.${caller.accountId}` : '';
      return runMutation(cp, caller, ctx, {
        rpc: 'CreateNamespace',
        operation: 'CreateNamespace',
        request: req,
        refusedDetails: () => buildDetails('CreateNamespace', { namespace: clip(namespace, 256) }),
        apply: async (tx, op) => {
          const { spec, fingerprints } = checkSpec(rawSpec, undefined, op.now);
          const tags = checkTags(r.tags);
          // ON CONFLICT: a concurrent create of the same name (another process) is ALREADY_EXISTS too, never a raw key violation.
          const inserted = await tx.run(
            `INSERT INTO namespaces (namespace, account_id, spec_json, tags_json, active_region, resource_version, async_operation_id, created_ms, modified_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (namespace) DO NOTHING`,
            [namespace, caller.accountId, JSON.stringify(spec), JSON.stringify(tags), spec.regions[0], newResourceVersion(), op.id, op.now, op.now],
          );
          if (inserted.changes !== 1) throw new AuditError('AS_ERR_ALREADY_EXISTS', `namespace ${namespace} already exists`);
          // Owner and Global Admin are Namespace Admin everywhere; anyone else who creates a
          // namespace becomes its Admin, in the same transaction.
          if (!isAccountAdmin(caller)) {
            await editAccess(tx, caller.userId, op.now, (access) => {
              access[namespace] = 'PERMISSION_ADMIN';
              return true;
            });
          }
          const added = Object.fromEntries(Object.entries(spec.searchAttributes).map(([n, t]) => [n, SEARCH_ATTRIBUTE_TYPES[t] ?? t]));
          return {
            details: buildDetails('CreateNamespace', {
              namespace,
              client_ca_fingerprints: fingerprints.length > 0 ? fingerprints : undefined,
              regions: spec.regions,
              retention_days: spec.retentionDays,
              search_attribute_update: added,
            }),
            response: { namespace } satisfies CreateNamespaceResponse,
          };
        },
      });
    },

    UpdateNamespace: async (req, ctx) => {
      const caller = await cp.authenticate(ctx);
      const r = plainRequest<temporal.api.cloud.cloudservice.v1.IUpdateNamespaceRequest>(req);
      const namespace = r.namespace ?? '';
      return namespaceMutation(cp, caller, ctx, {
        rpc: 'UpdateNamespace',
        operation: 'UpdateNamespace',
        request: req,
        namespace,
        refusedDetails: () => buildDetails('UpdateNamespace', { namespace: clip(namespace, 256) }),
        apply: async (tx, op, row) => {
          checkVersion(r.resourceVersion ?? '', row.resource_version, `namespace ${namespace}`);
          const current = parseStored(row);
          const { spec, fingerprints } = checkSpec(r.spec, current, op.now);
          // Custom search attributes can be added, never removed or retyped.
          for (const [n, t] of Object.entries(current.searchAttributes)) {
            const next = spec.searchAttributes[n];
            if (next === undefined) throw invalidArgument(`custom search attribute ${n} cannot be removed`);
            if (next !== t)
              throw invalidArgument(`custom search attribute ${n} cannot change type (${SEARCH_ATTRIBUTE_TYPES[t]} to ${SEARCH_ATTRIBUTE_TYPES[next]})`);
          }
          const added: Record<string, string> = {};
          for (const [n, t] of Object.entries(spec.searchAttributes)) if (current.searchAttributes[n] === undefined) added[n] = SEARCH_ATTRIBUTE_TYPES[t] ?? t;
          const caChanged = !sameSet(fingerprintsOfStored(current.mtlsAuth?.acceptedClientCa ?? ''), fingerprints);
          await saveNamespace(tx, row, { spec }, op);
          return {
            details: buildDetails('UpdateNamespace', {
              namespace,
              client_ca_fingerprints: caChanged ? fingerprints : undefined,
              retention_days: spec.retentionDays !== current.retentionDays ? spec.retentionDays : undefined,
              search_attribute_update: added,
            }),
            response: {},
          };
        },
      });
    },

    RenameCustomSearchAttribute: async (req, ctx) => {
      const caller = await cp.authenticate(ctx);
      const r = plainRequest<temporal.api.cloud.cloudservice.v1.IRenameCustomSearchAttributeRequest>(req);
      const namespace = r.namespace ?? '';
      const oldName = r.existingCustomSearchAttributeName ?? '';
      const newName = r.newCustomSearchAttributeName ?? '';
      return namespaceMutation(cp, caller, ctx, {
        rpc: 'RenameCustomSearchAttribute',
        operation: 'RenameCustomSearchAttribute',
        request: req,
        namespace,
        refusedDetails: () =>
          buildDetails('RenameCustomSearchAttribute', { namespace: clip(namespace, 256), old_name: clip(oldName, 256), new_name: clip(newName, 256) }),
        apply: async (tx, op, row) => {
          checkVersion(r.resourceVersion ?? '', row.resource_version, `namespace ${namespace}`);
          if (oldName === '') throw invalidArgument('existing_custom_search_attribute_name is required');
          if (newName === '') throw invalidArgument('new_custom_search_attribute_name is required');
          const spec = parseStored(row);
          const type = spec.searchAttributes[oldName];
          if (type === undefined) throw invalidArgument(`namespace ${namespace} has no custom search attribute named ${oldName}`);
          checkSearchAttributeName(newName, 'new_custom_search_attribute_name');
          if (newName === oldName) throw invalidArgument('new_custom_search_attribute_name is the current name');
          if (spec.searchAttributes[newName] !== undefined)
            throw new AuditError('AS_ERR_ALREADY_EXISTS', `namespace ${namespace} already has a custom search attribute named ${newName}`);
          // Keep the attribute's position in the map.
          const renamed = Object.fromEntries(Object.entries(spec.searchAttributes).map(([n, t]) => [n === oldName ? newName : n, t]));
          await saveNamespace(tx, row, { spec: { ...spec, searchAttributes: renamed } }, op);
          return { details: buildDetails('RenameCustomSearchAttribute', { namespace, old_name: oldName, new_name: newName }), response: {} };
        },
      });
    },

    FailoverNamespaceRegion: async (req, ctx) => {
      const caller = await cp.authenticate(ctx);
      const r = plainRequest<temporal.api.cloud.cloudservice.v1.IFailoverNamespaceRegionRequest>(req);
      const namespace = r.namespace ?? '';
      const region = r.region ?? '';
      return namespaceMutation(cp, caller, ctx, {
        rpc: 'FailoverNamespaceRegion',
        operation: 'FailoverNamespace',
        request: req,
        namespace,
        refusedDetails: () => buildDetails('FailoverNamespace', { namespace: clip(namespace, 256), region: clip(region, 64) }),
        apply: async (tx, op, row) => {
          if (region === '') throw invalidArgument('region is required');
          const spec = parseStored(row);
          if (spec.regions.length < 2)
            throw failedPrecondition(`namespace ${namespace} has a single region (${spec.regions[0]}): there is nothing to fail over to`);
          if (!spec.regions.includes(region))
            throw failedPrecondition(`region ${region} is not a region of namespace ${namespace} (${spec.regions.join(', ')})`);
          if (region === row.active_region) throw failedPrecondition(`region ${region} is already the active region of namespace ${namespace}`);
          await saveNamespace(tx, row, { activeRegion: region }, op);
          return { details: buildDetails('FailoverNamespace', { namespace, region }), response: {} };
        },
      });
    },

    DeleteNamespace: async (req, ctx) => {
      const caller = await cp.authenticate(ctx);
      const r = plainRequest<temporal.api.cloud.cloudservice.v1.IDeleteNamespaceRequest>(req);
      const namespace = r.namespace ?? '';
      return namespaceMutation(cp, caller, ctx, {
        rpc: 'DeleteNamespace',
        operation: 'DeleteNamespace',
        request: req,
        namespace,
        refusedDetails: () => buildDetails('DeleteNamespace', { namespace: clip(namespace, 256) }),
        apply: async (tx, op, row) => {
          checkVersion(r.resourceVersion ?? '', row.resource_version, `namespace ${namespace}`);
          if (parseStored(row).lifecycle?.enableDeleteProtection) {
            throw failedPrecondition(`namespace ${namespace} has delete protection enabled: turn off spec.lifecycle.enable_delete_protection first`);
          }
          const deleted = await tx.run('DELETE FROM namespaces WHERE namespace = ? AND resource_version = ?', [namespace, row.resource_version]);
          if (deleted.changes !== 1) throw failedPrecondition(`namespace ${namespace} was modified concurrently: read it again and retry`);
          // Nobody keeps a permission on a namespace that is gone (a new one of the same name starts clean).
          const users = await tx.all<Pick<UserRow, 'id' | 'namespace_access_json'>>('SELECT id, namespace_access_json FROM users WHERE account_id = ?', [
            caller.accountId,
          ]);
          for (const u of users) {
            if (!(namespace in (JSON.parse(u.namespace_access_json) as Record<string, string>))) continue;
            await editAccess(tx, u.id, op.now, (access) => {
              if (!(namespace in access)) return false;
              delete access[namespace];
              return true;
            });
          }
          return { details: buildDetails('DeleteNamespace', { namespace }), response: {} };
        },
      });
    },
  };
}
