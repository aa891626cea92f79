/** Checks on request fields shared by the handlers; each failure is INVALID_ARGUMENT naming the field. */
import { invalidArgument, notFound } from '../errors.js';
import type { Sql } from '../store/store.js';
import type { NamespaceRow } from './model.js';
import { ACCOUNT_ROLES, NAMESPACE_PERMISSIONS, type AccountRole } from './rbac.js';

const EMAIL = /^[^\s@"<>,;]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

export function requireField(value: string, field: string): string {
  if (value === '') throw invalidArgument(`${field} is required`);
  return value;
}

export function checkEmail(email: string, field = 'spec.email'): string {
  const e = email.trim().toLowerCase();
  if (!EMAIL.test(e) || e.length > 320) throw invalidArgument(`${field} "${email}" is not a valid email address`);
  return e;
}

export function checkRole(role: unknown, field = 'spec.access.account_access.role'): AccountRole {
  if (typeof role !== 'string' || !(ACCOUNT_ROLES as readonly string[]).includes(role)) {
    throw invalidArgument(`${field} must be one of ${ACCOUNT_ROLES.join(', ')}`);
  }
  return role as AccountRole;
}

export { checkVersion } from '../resource-version.js';

/** Validates a map of namespace → {permission}; every namespace must exist in the account. */
export async function checkNamespaceAccess(sql: Sql, accountId: string, raw: unknown, field: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  if (raw === undefined || raw === null) return out;
  if (typeof raw !== 'object') throw invalidArgument(`${field} must be a map`);
  for (const [ns, v] of Object.entries(raw as Record<string, unknown>)) {
    const permission = (v as { permission?: unknown } | null)?.permission;
    if (typeof permission !== 'string' || !(NAMESPACE_PERMISSIONS as readonly string[]).includes(permission)) {
      throw invalidArgument(`${field}[${ns}].permission must be one of ${NAMESPACE_PERMISSIONS.join(', ')}`);
    }
    await namespaceRow(sql, accountId, ns);
    out[ns] = permission;
  }
  return out;
}

/** The namespace's row; NOT_FOUND unless it exists in this account (another account's is "not found" too). */
export async function namespaceRow(sql: Sql, accountId: string, namespace: string): Promise<NamespaceRow> {
  if (namespace === '') throw invalidArgument('namespace is required');
  const row = await sql.get<NamespaceRow>('SELECT * FROM namespaces WHERE namespace = ? AND account_id = ?', [namespace, accountId]);
  if (!row) throw notFound(`namespace ${namespace} not found`);
  return row;
}
