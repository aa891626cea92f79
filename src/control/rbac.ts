/**
 * Who may call what: one table, after Temporal Cloud's published "Permissions reference"
 * (docs.temporal.io/cloud/manage-access/permissions-reference, checked against
 * temporalio/documentation docs/cloud/manage-access/permissions-reference.mdx). It drives both
 * enforcement (`authorize`) and the generated allowed/denied tests for every RPC
 * (test/control-rbac.test.ts).
 *
 * Account roles: Owner, Global Admin (`ROLE_ADMIN`), Developer, Finance Admin, Read-Only
 * (`ROLE_READ`), Metrics Read. Namespace permissions: Admin, Write, Read. Owner and Global Admin
 * are Namespace Admin everywhere ("Users with the Global Admin and Account Owner roles
 * automatically have Namespace Admin permissions on all Namespaces in the account"). Audit log
 * sinks, GetAuditLogs, replay and export: Owner and Global Admin (docs/decisions/0009; the reference
 * agrees for the sink RPCs and GetAuditLogs).
 *
 * Metrics Read ("Metrics Read-Only") has no column in the reference's Cloud Ops API table: it is
 * the role for scraping the metrics endpoint, "controlled separately and ... not tied to the
 * standard account-level role hierarchy". So it gets no Cloud Ops permission beyond the ones every
 * principal needs: who am I, the state of an operation, and rotating its own API key
 * (docs.temporal.io/cloud/api-keys: "Service Accounts can rotate their own API keys irrespective
 * of their configured permissions", but cannot list, change or delete them without the role).
 */
import { permissionDenied } from '../errors.js';
import type { AccountCaller } from '../api/auth.js';

export const ACCOUNT_ROLES = ['ROLE_OWNER', 'ROLE_ADMIN', 'ROLE_DEVELOPER', 'ROLE_FINANCE_ADMIN', 'ROLE_READ', 'ROLE_METRICS_READ'] as const;
export type AccountRole = (typeof ACCOUNT_ROLES)[number];

export const NAMESPACE_PERMISSIONS = ['PERMISSION_ADMIN', 'PERMISSION_WRITE', 'PERMISSION_READ'] as const;
export type NamespacePermission = (typeof NAMESPACE_PERMISSIONS)[number];

/** Lower-case spelling of enum names, for the `*Deprecated` string twins and messages. */
export const ROLE_LABEL: Record<AccountRole, string> = {
  ROLE_OWNER: 'owner',
  ROLE_ADMIN: 'admin',
  ROLE_DEVELOPER: 'developer',
  ROLE_FINANCE_ADMIN: 'financeadmin',
  ROLE_READ: 'read',
  ROLE_METRICS_READ: 'metricsread',
};
export const PERMISSION_LABEL: Record<NamespacePermission, string> = {
  PERMISSION_ADMIN: 'admin',
  PERMISSION_WRITE: 'write',
  PERMISSION_READ: 'read',
};

const ADMINS: readonly AccountRole[] = ['ROLE_OWNER', 'ROLE_ADMIN'];
const NON_METRICS: readonly AccountRole[] = ['ROLE_OWNER', 'ROLE_ADMIN', 'ROLE_DEVELOPER', 'ROLE_FINANCE_ADMIN', 'ROLE_READ'];
const ALL: readonly AccountRole[] = ACCOUNT_ROLES;

export type Rule =
  /** One of these account roles. */
  | { kind: 'account'; roles: readonly AccountRole[] }
  /** At least this permission on the target namespace (Owner and Global Admin always have Admin). */
  | { kind: 'namespace'; permission: NamespacePermission }
  /**
   * Acting on one's own resource (an API key one owns) needs one of `selfRoles`; on anyone
   * else's, one of `roles`.
   */
  | { kind: 'owner'; selfRoles: readonly AccountRole[]; roles: readonly AccountRole[] };

export const RBAC: Readonly<Record<string, Rule>> = {
  // Reference, account-level table: GetCurrentIdentity, GetAccount, GetAsyncOperation, GetUsers,
  // GetUser and GetNamespaces are ✔ for Read-only, Developer, Finance Admin, Global Admin and
  // Account Owner; UpdateAccount, CreateUser, UpdateUser, DeleteUser only Global Admin and Owner.
  GetCurrentIdentity: { kind: 'account', roles: ALL },
  GetAccount: { kind: 'account', roles: NON_METRICS },
  UpdateAccount: { kind: 'account', roles: ADMINS },
  GetAsyncOperation: { kind: 'account', roles: ALL },

  GetUsers: { kind: 'account', roles: NON_METRICS },
  GetUser: { kind: 'account', roles: NON_METRICS },
  CreateUser: { kind: 'account', roles: ADMINS },
  UpdateUser: { kind: 'account', roles: ADMINS },
  DeleteUser: { kind: 'account', roles: ADMINS },
  /** auditstream extension: POST /api/v1/users/:id/invitation ("Invite and re-invite users": Global Admin, Owner). */
  ReissueInvitation: { kind: 'account', roles: ADMINS },
  // Reference, Namespace-level table: SetUserNamespaceAccess needs Namespace Admin.
  SetUserNamespaceAccess: { kind: 'namespace', permission: 'PERMISSION_ADMIN' },

  GetNamespaces: { kind: 'account', roles: NON_METRICS },
  // Namespace-level table: GetNamespace ✔ for Read, Write and Namespace Admin.
  GetNamespace: { kind: 'namespace', permission: 'PERMISSION_READ' },
  // Account-level table: CreateNamespace ✔ for Developer, Global Admin, Account Owner.
  CreateNamespace: { kind: 'account', roles: ['ROLE_OWNER', 'ROLE_ADMIN', 'ROLE_DEVELOPER'] },
  // Namespace-level table: UpdateNamespace, RenameCustomSearchAttribute, FailoverNamespaceRegion
  // and DeleteNamespace need Namespace Admin.
  UpdateNamespace: { kind: 'namespace', permission: 'PERMISSION_ADMIN' },
  RenameCustomSearchAttribute: { kind: 'namespace', permission: 'PERMISSION_ADMIN' },
  FailoverNamespaceRegion: { kind: 'namespace', permission: 'PERMISSION_ADMIN' },
  DeleteNamespace: { kind: 'namespace', permission: 'PERMISSION_ADMIN' },

  // "API key authorization behavior": every role may create, view, update and delete its own
  // keys; only Global Admin and Owner may view, update and delete any key in the account.
  // Nobody creates a key for another user (Temporal allows that only for service accounts, which
  // auditstream does not serve): otherwise a Global Admin could mint a key of the Owner and act,
  // and be logged, as the Owner.
  GetApiKeys: { kind: 'owner', selfRoles: NON_METRICS, roles: ADMINS },
  GetApiKey: { kind: 'owner', selfRoles: NON_METRICS, roles: ADMINS },
  CreateApiKey: { kind: 'owner', selfRoles: ALL, roles: [] },
  UpdateApiKey: { kind: 'owner', selfRoles: NON_METRICS, roles: ADMINS },
  DeleteApiKey: { kind: 'owner', selfRoles: NON_METRICS, roles: ADMINS },

  // Account-level table: GetAuditLogs and every *AccountAuditLogSink RPC: Global Admin, Owner.
  GetAuditLogs: { kind: 'account', roles: ADMINS },
  GetAccountAuditLogSinks: { kind: 'account', roles: ADMINS },
  GetAccountAuditLogSink: { kind: 'account', roles: ADMINS },
  CreateAccountAuditLogSink: { kind: 'account', roles: ADMINS },
  UpdateAccountAuditLogSink: { kind: 'account', roles: ADMINS },
  DeleteAccountAuditLogSink: { kind: 'account', roles: ADMINS },
  ValidateAccountAuditLogSink: { kind: 'account', roles: ADMINS },
  /** auditstream extension: POST /api/v1/audit-log-sinks/:name/replay (docs/decisions/0009: replay is Owner / Global Admin). */
  ReplayAccountAuditLogSink: { kind: 'account', roles: ADMINS },
};

const RANK: Record<NamespacePermission, number> = { PERMISSION_READ: 1, PERMISSION_WRITE: 2, PERMISSION_ADMIN: 3 };

/** The caller's effective permission on a namespace, if any. */
export function namespacePermission(caller: AccountCaller, namespace: string): NamespacePermission | undefined {
  if ((ADMINS as readonly string[]).includes(caller.role)) return 'PERMISSION_ADMIN';
  const p = caller.namespaceAccess[namespace];
  return p && p in RANK ? (p as NamespacePermission) : undefined;
}

export interface AuthorizeTarget {
  namespace?: string;
  /** Owner of the resource acted on (API keys). */
  ownerId?: string;
}

/**
 * Throws PERMISSION_DENIED unless `caller` may call `rpc` on `target`. An RPC without a rule is
 * denied: a new RPC must be given one on purpose.
 */
export function authorize(caller: AccountCaller, rpc: string, target: AuthorizeTarget = {}): void {
  const rule = RBAC[rpc];
  if (!rule) throw permissionDenied(`${rpc} has no access rule`);
  const role = caller.role as AccountRole;
  switch (rule.kind) {
    case 'account':
      if (!rule.roles.includes(role)) throw permissionDenied(`${rpc} needs account role ${rule.roles.map((r) => ROLE_LABEL[r]).join(' or ')}; caller has ${ROLE_LABEL[role] ?? role}`);
      return;
    case 'namespace': {
      const ns = target.namespace ?? '';
      const have = namespacePermission(caller, ns);
      if (!have || RANK[have] < RANK[rule.permission]) {
        throw permissionDenied(`${rpc} needs ${PERMISSION_LABEL[rule.permission]} permission on namespace ${ns}`);
      }
      return;
    }
    case 'owner': {
      const self = target.ownerId === undefined || target.ownerId === caller.userId;
      const allowed = self ? rule.selfRoles.includes(role) || rule.roles.includes(role) : rule.roles.includes(role);
      if (!allowed) {
        throw permissionDenied(
          self
            ? `${rpc} is not allowed for role ${ROLE_LABEL[role] ?? role}`
            : rule.roles.length === 0
              ? `${rpc} is only allowed on one's own resources`
              : `${rpc} on another user's resource needs account role ${rule.roles.map((r) => ROLE_LABEL[r]).join(' or ')}`,
        );
      }
      return;
    }
  }
}
