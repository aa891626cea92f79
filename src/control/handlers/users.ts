/**
 * Users: GetUsers, GetUser, CreateUser (audited as InviteUsers), UpdateUser, DeleteUser,
 * SetUserNamespaceAccess (audited as UpdateUserNamespacePermissions).
 */
import { AuditError, failedPrecondition, invalidArgument, notFound, permissionDenied } from '../../errors.js';
import { buildDetails } from '../../record/operations.js';
import type { temporal } from '@temporalio/proto';
import type { CloudHandlers } from '../../api/cloud/handlers.js';
import { plainRequest, type PlainMessage } from '../../api/cloud/plain-types.js';
import type { StoreTx, Sql } from '../../store/store.js';
import type { AccountCaller } from '../../api/auth.js';
import type { ControlPlane } from '../context.js';
import { runMutation, runRead } from '../mutation.js';
import { newResourceVersion, userMessage, type UserRow } from '../model.js';
import { decodePageToken, pageOf, pageSizeOf } from '../paging.js';
import { newToken, newUserId, sha256Hex } from '../secrets.js';
import { checkEmail, checkNamespaceAccess, checkRole, checkVersion, namespaceRow, requireField } from '../validate.js';
import { NAMESPACE_PERMISSIONS, guardRank, isNamespaceAdminEverywhere, namespacePermission } from '../rbac.js';

/** Invitations are valid for 7 days (docs/decisions/0008). */
export const INVITATION_TTL_MS = 7 * 86_400_000;

export async function userOf(sql: Sql, accountId: string, userId: string): Promise<UserRow> {
  if (userId === '') throw invalidArgument('user_id is required');
  const row = await sql.get<UserRow>('SELECT * FROM users WHERE id = ? AND account_id = ?', [userId, accountId]);
  if (!row) throw notFound(`user ${userId} not found`);
  return row;
}

async function ownerCount(tx: Sql, accountId: string): Promise<number> {
  const r = await tx.get<{ n: number }>("SELECT COUNT(*) AS n FROM users WHERE account_id = ? AND role = 'ROLE_OWNER'", [accountId]);
  return Number(r?.n ?? 0);
}

/**
 * Only an Owner may make or unmake an Owner, and nobody grants a role above their own or
 * changes a user ranked above themselves (a Global Admin cannot reach the Owner's account).
 */
function guardOwnerRole(caller: AccountCaller, from: string | undefined, to: string): void {
  if ((to === 'ROLE_OWNER' || from === 'ROLE_OWNER') && from !== to && caller.role !== 'ROLE_OWNER') {
    throw permissionDenied('only an account owner may grant or revoke the owner role');
  }
  if (from !== undefined) guardRank(caller, from, 'this change');
  if (to !== 'deleted') guardRank(caller, to, 'granting this role');
}

/** A new one-time invitation token for a user; the caller shows it once. */
export async function issueInvitation(tx: Sql, userId: string, now = Date.now()): Promise<{ token: string; expiresMs: number }> {
  const token = newToken();
  const expiresMs = now + INVITATION_TTL_MS;
  await tx.run('UPDATE users SET invite_token_hash = ?, invite_created_ms = ?, invite_expires_ms = ? WHERE id = ?', [sha256Hex(token), now, expiresMs, userId]);
  return { token, expiresMs };
}

export function userHandlers(cp: ControlPlane): CloudHandlers {
  const sql = cp.store.sql;
  return {
    GetUsers: async (req, ctx) => {
      const caller = await cp.authenticate(ctx);
      const r = plainRequest<temporal.api.cloud.cloudservice.v1.IGetUsersRequest>(req);
      return runRead(caller, 'GetUsers', undefined, async () => {
        const limit = pageSizeOf(r.pageSize);
        const after = decodePageToken(r.pageToken);
        const email = (r.email ?? '').trim().toLowerCase();
        const namespace = r.namespace ?? '';
        // Filtering by a namespace the caller cannot see is "not found", like the namespace RPCs.
        if (namespace && namespacePermission(caller, namespace) === undefined) throw notFound(`namespace ${namespace} not found`);
        if (namespace) await namespaceRow(sql, caller.accountId, namespace);
        const rows = await sql.all<UserRow>(`SELECT * FROM users WHERE account_id = ? AND id > ? ${email ? 'AND email = ?' : ''} ORDER BY id LIMIT ?`, [
          caller.accountId,
          after,
          ...(email ? [email] : []),
          limit + 1 + (namespace ? 10_000 : 0),
        ]);
        // Namespace filter: users with an explicit permission there (Owner/Admin have it implicitly).
        const filtered = namespace
          ? rows.filter((u) => isNamespaceAdminEverywhere(u.role) || namespace in (JSON.parse(u.namespace_access_json) as object))
          : rows;
        const page = pageOf(filtered, limit, (u) => u.id);
        return {
          users: page.items.map(userMessage),
          nextPageToken: page.nextPageToken,
        } satisfies PlainMessage<temporal.api.cloud.cloudservice.v1.IGetUsersResponse>;
      });
    },

    GetUser: async (req, ctx) => {
      const caller = await cp.authenticate(ctx);
      const userId = plainRequest<temporal.api.cloud.cloudservice.v1.IGetUserRequest>(req).userId ?? '';
      return runRead(
        caller,
        'GetUser',
        undefined,
        async () =>
          ({ user: userMessage(await userOf(sql, caller.accountId, userId)) }) satisfies PlainMessage<temporal.api.cloud.cloudservice.v1.IGetUserResponse>,
      );
    },

    CreateUser: async (req, ctx) => {
      const caller = await cp.authenticate(ctx);
      const spec = plainRequest<temporal.api.cloud.cloudservice.v1.ICreateUserRequest>(req).spec ?? {};
      const rawEmail = spec.email ?? '';
      return runMutation(cp, caller, ctx, {
        rpc: 'CreateUser',
        operation: 'InviteUsers',
        request: req,
        refusedDetails: () => buildDetails('InviteUsers', { target_users: rawEmail ? [rawEmail] : [] }),
        apply: async (tx, op) => {
          const email = checkEmail(requireField(rawEmail, 'spec.email'));
          const access = spec.access ?? {};
          const role = checkRole(access.accountAccess?.role);
          guardOwnerRole(caller, undefined, role);
          const nsAccess = await checkNamespaceAccess(tx, caller.accountId, access.namespaceAccesses, 'spec.access.namespace_accesses');
          if (await tx.get('SELECT id FROM users WHERE account_id = ? AND email = ?', [caller.accountId, email])) {
            throw new AuditError('AS_ERR_ALREADY_EXISTS', `a user with email ${email} already exists in this account`);
          }
          const id = newUserId();
          await tx.run(
            `INSERT INTO users (id, account_id, email, role, namespace_access_json, resource_version, async_operation_id, created_ms, modified_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
            [id, caller.accountId, email, role, JSON.stringify(nsAccess), newResourceVersion(), op.id, op.now, op.now],
          );
          // The invitation exists from now on; its one-time token is handed out by
          // POST /api/v1/users/{id}/invitation (shown once, rotating it).
          await issueInvitation(tx, id, op.now);
          return {
            details: buildDetails('InviteUsers', { target_users: [email], account_role: role }),
            response: { userId: id } satisfies PlainMessage<temporal.api.cloud.cloudservice.v1.ICreateUserResponse>,
          };
        },
      });
    },

    UpdateUser: async (req, ctx) => {
      const caller = await cp.authenticate(ctx);
      const r = plainRequest<temporal.api.cloud.cloudservice.v1.IUpdateUserRequest>(req);
      const userId = r.userId ?? '';
      const spec = r.spec ?? {};
      return runMutation(cp, caller, ctx, {
        rpc: 'UpdateUser',
        operation: 'UpdateUser',
        request: req,
        refusedDetails: () => buildDetails('UpdateUser', { target_users: [spec.email || userId] }),
        apply: async (tx, op) => {
          const user = await userOf(tx, caller.accountId, userId);
          checkVersion(r.resourceVersion ?? '', user.resource_version, `user ${userId}`);
          const email = checkEmail(requireField(spec.email ?? '', 'spec.email'));
          const access = spec.access ?? {};
          const role = checkRole(access.accountAccess?.role);
          // Only an Owner changes an Owner at all (email included: it is the Owner's login).
          if (user.role === 'ROLE_OWNER' && caller.role !== 'ROLE_OWNER') throw permissionDenied('only an account owner may change an owner');
          guardOwnerRole(caller, user.role, role);
          if (user.role === 'ROLE_OWNER' && role !== 'ROLE_OWNER' && (await ownerCount(tx, caller.accountId)) <= 1) {
            throw failedPrecondition('the account must keep at least one owner');
          }
          if (email !== user.email && (await tx.get('SELECT id FROM users WHERE account_id = ? AND email = ?', [caller.accountId, email]))) {
            throw new AuditError('AS_ERR_ALREADY_EXISTS', `a user with email ${email} already exists in this account`);
          }
          const nsAccess = await checkNamespaceAccess(tx, caller.accountId, access.namespaceAccesses, 'spec.access.namespace_accesses');
          await tx.run(
            'UPDATE users SET email = ?, role = ?, namespace_access_json = ?, resource_version = ?, async_operation_id = ?, modified_ms = ? WHERE id = ?',
            [email, role, JSON.stringify(nsAccess), newResourceVersion(), op.id, op.now, user.id],
          );
          return { details: buildDetails('UpdateUser', { target_users: [email], account_role: role }), response: {} };
        },
      });
    },

    DeleteUser: async (req, ctx) => {
      const caller = await cp.authenticate(ctx);
      const r = plainRequest<temporal.api.cloud.cloudservice.v1.IDeleteUserRequest>(req);
      const userId = r.userId ?? '';
      return runMutation(cp, caller, ctx, {
        rpc: 'DeleteUser',
        operation: 'DeleteUser',
        request: req,
        refusedDetails: () => buildDetails('DeleteUser', { target_users: [userId] }),
        apply: async (tx) => {
          const user = await userOf(tx, caller.accountId, userId);
          checkVersion(r.resourceVersion ?? '', user.resource_version, `user ${userId}`);
          guardOwnerRole(caller, user.role, 'deleted');
          if (user.role === 'ROLE_OWNER' && (await ownerCount(tx, caller.accountId)) <= 1)
            throw failedPrecondition('cannot delete the last owner of the account');
          // The user's credentials go with it.
          await tx.run('DELETE FROM api_keys WHERE owner_id = ?', [user.id]);
          await tx.run('DELETE FROM sessions WHERE user_id = ?', [user.id]);
          await tx.run('DELETE FROM users WHERE id = ?', [user.id]);
          return { details: buildDetails('DeleteUser', { target_users: [user.id] }), response: {} };
        },
      });
    },

    SetUserNamespaceAccess: async (req, ctx) => {
      const caller = await cp.authenticate(ctx);
      const r = plainRequest<temporal.api.cloud.cloudservice.v1.ISetUserNamespaceAccessRequest>(req);
      const namespace = r.namespace ?? '';
      const userId = r.userId ?? '';
      return runMutation(cp, caller, ctx, {
        rpc: 'SetUserNamespaceAccess',
        operation: 'UpdateUserNamespacePermissions',
        request: req,
        target: { namespace },
        refusedDetails: () => buildDetails('UpdateUserNamespacePermissions', { namespace, target_users: [userId] }),
        // A namespace the caller has no permission on is "not found", like in the namespace RPCs.
        precheck: async (tx) => {
          if (namespace !== '' && namespacePermission(caller, namespace) === undefined) throw notFound(`namespace ${namespace} not found`);
          await namespaceRow(tx, caller.accountId, namespace);
        },
        apply: async (tx: StoreTx, op) => {
          const user = await userOf(tx, caller.accountId, userId);
          checkVersion(r.resourceVersion ?? '', user.resource_version, `user ${userId}`);
          const permission = r.access?.permission;
          const access = JSON.parse(user.namespace_access_json) as Record<string, string>;
          // PERMISSION_UNSPECIFIED (or no access message) removes the user's access to the namespace.
          if (permission === undefined || permission === 'PERMISSION_UNSPECIFIED') delete access[namespace];
          else if (typeof permission === 'string' && (NAMESPACE_PERMISSIONS as readonly string[]).includes(permission)) access[namespace] = permission;
          else throw invalidArgument(`access.permission must be one of ${NAMESPACE_PERMISSIONS.join(', ')}`);
          await tx.run('UPDATE users SET namespace_access_json = ?, resource_version = ?, async_operation_id = ?, modified_ms = ? WHERE id = ?', [
            JSON.stringify(access),
            newResourceVersion(),
            op.id,
            op.now,
            user.id,
          ]);
          return {
            details: buildDetails('UpdateUserNamespacePermissions', {
              namespace,
              target_users: [user.email],
              ...(access[namespace] ? { permission: access[namespace] } : {}),
            }),
            response: {},
          };
        },
      });
    },
  };
}
