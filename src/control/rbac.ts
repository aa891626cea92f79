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
import type { AccountCaller, RouteTarget } from '../api/auth.js';

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
  /** auditstream extension: GET/PUT /api/v1/api-keys/:id/ingest-policy (what a key may ingest): Global Admin, Owner. */
  SetApiKeyIngestPolicy: { kind: 'account', roles: ADMINS },

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

/**
 * Rules of auditstream's own `/api/v1` calls that have no Cloud Ops RPC. Reading and exporting
 * audit logs is GetAuditLogs' right (Owner, Global Admin); ingest by API key is Owner, Global
 * Admin and Developer (a Developer's services forward their records).
 */
export const API_RULES: Readonly<Record<string, Rule>> = {
  QueryAuditLogs: { kind: 'account', roles: ADMINS },
  ExportAuditLogs: { kind: 'account', roles: ADMINS },
  IngestAuditLogs: { kind: 'account', roles: ['ROLE_OWNER', 'ROLE_ADMIN', 'ROLE_DEVELOPER'] },
  /** Recomputing the account's chain against its signed checkpoints (the console's "Verify now"): like reading it. */
  VerifyAuditLogs: { kind: 'account', roles: ADMINS },
};

/** One HTTP route of auditstream's own API and the rule that authorizes it. */
export interface RouteAccess {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  /** Name of its rule in `RBAC` or `API_RULES`; null when the route needs no authorization. */
  rule: string | null;
  /** Whether the deployment ingest token (which has no role) may call it. */
  ingestToken?: boolean;
  /** Whether an allowed call is audited (a mutation); refused calls always are. */
  audited?: boolean;
}

/**
 * Every `/api/v1` and `/auth` route. Handlers authorize through `authorize(caller, rule)` with
 * the rule named here, never by comparing roles themselves; test/api-rbac.test.ts generates an
 * allowed and a denied call per route and role from this list, and checks that the app serves
 * exactly these routes.
 */
export const API_ROUTES: readonly RouteAccess[] = [
  { method: 'POST', url: '/api/v1/audit-logs', rule: 'IngestAuditLogs', ingestToken: true, audited: false },
  { method: 'GET', url: '/api/v1/audit-logs', rule: 'QueryAuditLogs', ingestToken: true },
  { method: 'GET', url: '/api/v1/audit-logs/records/:log_id', rule: 'QueryAuditLogs', ingestToken: true },
  { method: 'GET', url: '/api/v1/audit-logs/export', rule: 'ExportAuditLogs', ingestToken: true },
  { method: 'POST', url: '/api/v1/users/:id/invitation', rule: 'ReissueInvitation', audited: true },
  { method: 'GET', url: '/api/v1/audit-log-sinks/:name/status', rule: 'GetAccountAuditLogSink' },
  { method: 'POST', url: '/api/v1/audit-log-sinks/:name/verify', rule: 'ValidateAccountAuditLogSink' },
  { method: 'POST', url: '/api/v1/audit-log-sinks/:name/replay', rule: 'ReplayAccountAuditLogSink', audited: true },
  { method: 'GET', url: '/api/v1/audit-log-sinks/:name/dead-letters', rule: 'GetAccountAuditLogSink' },
  { method: 'POST', url: '/api/v1/audit-log-sinks/:name/dead-letters/replay', rule: 'ReplayAccountAuditLogSink', audited: true },
  { method: 'GET', url: '/api/v1/audit-log-sinks/:name/setup', rule: 'GetAccountAuditLogSink' },
  { method: 'GET', url: '/api/v1/api-keys/:id/ingest-policy', rule: 'SetApiKeyIngestPolicy' },
  { method: 'PUT', url: '/api/v1/api-keys/:id/ingest-policy', rule: 'SetApiKeyIngestPolicy', audited: true },
  { method: 'POST', url: '/api/v1/integrity/verify', rule: 'VerifyAuditLogs' },
  // Every sink kind and filters (the Cloud Ops API carries Kinesis and Pub/Sub only): the sink RPCs' rules.
  { method: 'GET', url: '/api/v1/sinks', rule: 'GetAccountAuditLogSinks' },
  { method: 'GET', url: '/api/v1/sinks/:name', rule: 'GetAccountAuditLogSink' },
  { method: 'POST', url: '/api/v1/sinks', rule: 'CreateAccountAuditLogSink', audited: true },
  { method: 'POST', url: '/api/v1/sinks/:name', rule: 'UpdateAccountAuditLogSink', audited: true },
  { method: 'DELETE', url: '/api/v1/sinks/:name', rule: 'DeleteAccountAuditLogSink', audited: true },
  { method: 'GET', url: '/api/v1/audit-log-sinks/:name/extensions', rule: 'GetAccountAuditLogSink' },
  { method: 'POST', url: '/api/v1/audit-log-sinks/:name/extensions', rule: 'UpdateAccountAuditLogSink', audited: true },
  // Public keys that sign checkpoints: any authenticated caller (every role, the ingest token).
  { method: 'GET', url: '/api/v1/signing-keys', rule: null },
  // Authentication itself: anyone may try (rate-limited), nothing to authorize.
  { method: 'POST', url: '/auth/login', rule: null },
  { method: 'POST', url: '/auth/logout', rule: null },
  // The console's "who am I" (with the session's CSRF token); answers signed-out without a session.
  { method: 'GET', url: '/auth/session', rule: null },
  { method: 'POST', url: '/auth/accept-invite', rule: null },
];

/** The rule of an RPC or `/api/v1` call, if it has one. */
export function ruleOf(name: string): Rule | undefined {
  // Own entries only: `constructor` or `__proto__` must never read as a rule.
  if (Object.hasOwn(RBAC, name)) return RBAC[name];
  return Object.hasOwn(API_RULES, name) ? API_RULES[name] : undefined;
}

/**
 * How far up a role reaches, for credential and role changes: nobody may obtain or change a
 * credential of (or grant a role to) a user ranked above themselves. Owner over Global Admin over
 * every other role; the others are peers (none of them may manage users at all).
 */
export const ROLE_RANK: Readonly<Record<AccountRole, number>> = {
  ROLE_OWNER: 3,
  ROLE_ADMIN: 2,
  ROLE_DEVELOPER: 1,
  ROLE_FINANCE_ADMIN: 1,
  ROLE_READ: 1,
  ROLE_METRICS_READ: 1,
};

const rankOf = (role: string): number => ROLE_RANK[role as AccountRole] ?? 0;

/**
 * Throws PERMISSION_DENIED when `subjectRole` (the role of the user whose invitation, key, role
 * or record `what` issues or changes, or the role being granted) ranks above the caller's own.
 * Unknown roles rank highest, so a typo never opens a path.
 */
export function guardRank(caller: AccountCaller, subjectRole: string, what: string): void {
  const subject = subjectRole in ROLE_RANK ? rankOf(subjectRole) : Number.MAX_SAFE_INTEGER;
  if (subject > rankOf(caller.role)) {
    throw permissionDenied(
      `${what} concerns a user with role ${ROLE_LABEL[subjectRole as AccountRole] ?? subjectRole}, above the caller's role ${ROLE_LABEL[caller.role as AccountRole] ?? caller.role}`,
    );
  }
}

/** Owner and Global Admin: Namespace Admin on every namespace of the account. */
export function isNamespaceAdminEverywhere(role: string): boolean {
  return (ADMINS as readonly string[]).includes(role);
}

/** Whether `rpc` (an `owner` rule) lets the caller act on other users' resources, not only its own. */
export function actsForOthers(caller: AccountCaller, rpc: string): boolean {
  const rule = ruleOf(rpc);
  return rule?.kind === 'owner' && rule.roles.includes(caller.role as AccountRole);
}

const RANK: Record<NamespacePermission, number> = { PERMISSION_READ: 1, PERMISSION_WRITE: 2, PERMISSION_ADMIN: 3 };

/** The caller's effective permission on a namespace, if any. */
export function namespacePermission(caller: AccountCaller, namespace: string): NamespacePermission | undefined {
  if (isNamespaceAdminEverywhere(caller.role)) return 'PERMISSION_ADMIN';
  const p = caller.namespaceAccess[namespace];
  return p && p in RANK ? (p as NamespacePermission) : undefined;
}

/** What a decision may depend on besides the caller (defined with the API's authenticator). */
export type AuthorizeTarget = RouteTarget;

/**
 * Throws PERMISSION_DENIED unless `caller` may call `rpc` on `target`. An RPC without a rule is
 * denied: a new RPC must be given one on purpose.
 */
export function authorize(caller: AccountCaller, rpc: string, target: AuthorizeTarget = {}): void {
  const rule = ruleOf(rpc);
  if (!rule) throw permissionDenied(`${rpc} has no access rule`);
  if (target.accountId !== undefined && target.accountId !== caller.accountId) {
    throw permissionDenied(`this credential belongs to account ${caller.accountId}, not to the account requested`);
  }
  const role = caller.role as AccountRole;
  switch (rule.kind) {
    case 'account':
      if (!rule.roles.includes(role))
        throw permissionDenied(`${rpc} needs account role ${rule.roles.map((r) => ROLE_LABEL[r]).join(' or ')}; caller has ${ROLE_LABEL[role] ?? role}`);
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
    default:
      throw permissionDenied(`${rpc} has no access rule`);
  }
}
