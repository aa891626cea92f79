/**
 * Rows of the control-plane tables and their Cloud API messages (plain objects in the transport's
 * conventions: lowerCamelCase, enum names, Timestamps as {seconds, nanos}; every enum with a
 * `*Deprecated` string twin gets both filled).
 */
import { timestampFromDate } from '../api/cloud/handlers.js';
import type { CloudResponse } from '../api/cloud/handlers.js';
import { PERMISSION_LABEL, ROLE_LABEL, type AccountRole, type NamespacePermission } from './rbac.js';

export const ACTIVE = { state: 'RESOURCE_STATE_ACTIVE', stateDeprecated: 'active' } as const;

export interface UserRow {
  id: string;
  account_id: string;
  email: string;
  role: string;
  namespace_access_json: string;
  password_hash: string | null;
  invite_token_hash: string | null;
  invite_created_ms: number | null;
  invite_expires_ms: number | null;
  resource_version: string;
  async_operation_id: string;
  created_ms: number;
  modified_ms: number;
}

export function namespaceAccessMessage(access: Record<string, string>): Record<string, CloudResponse> {
  return Object.fromEntries(
    Object.entries(access).map(([ns, p]) => [ns, { permission: p, permissionDeprecated: PERMISSION_LABEL[p as NamespacePermission] ?? '' }]),
  );
}

export function userMessage(u: UserRow): CloudResponse {
  const access = JSON.parse(u.namespace_access_json) as Record<string, string>;
  const msg: CloudResponse = {
    id: u.id,
    resourceVersion: u.resource_version,
    spec: {
      email: u.email,
      access: {
        accountAccess: { role: u.role, roleDeprecated: ROLE_LABEL[u.role as AccountRole] ?? '' },
        namespaceAccesses: namespaceAccessMessage(access),
      },
    },
    ...ACTIVE,
    asyncOperationId: u.async_operation_id,
    createdTime: timestampFromDate(Number(u.created_ms)),
    lastModifiedTime: timestampFromDate(Number(u.modified_ms)),
  };
  if (u.invite_token_hash && u.invite_created_ms !== null && u.invite_expires_ms !== null) {
    msg['invitation'] = { createdTime: timestampFromDate(Number(u.invite_created_ms)), expiredTime: timestampFromDate(Number(u.invite_expires_ms)) };
  }
  return msg;
}

export interface NamespaceRow {
  namespace: string;
  account_id: string;
  spec_json: string;
  tags_json: string;
  active_region: string;
  resource_version: string;
  async_operation_id: string;
  created_ms: number;
  modified_ms: number;
}

export interface ApiKeyRow {
  id: string;
  account_id: string;
  owner_id: string;
  owner_type: string;
  display_name: string;
  description: string;
  expiry_ms: number | null;
  disabled: number;
  resource_version: string;
  async_operation_id: string;
  created_ms: number;
  modified_ms: number;
}

const OWNER_TYPE_LABEL: Record<string, string> = { OWNER_TYPE_USER: 'user', OWNER_TYPE_SERVICE_ACCOUNT: 'service-account' };

export function apiKeyMessage(k: ApiKeyRow): CloudResponse {
  const spec: CloudResponse = {
    ownerId: k.owner_id,
    ownerType: k.owner_type,
    ownerTypeDeprecated: OWNER_TYPE_LABEL[k.owner_type] ?? '',
    displayName: k.display_name,
    description: k.description,
    disabled: Boolean(Number(k.disabled)),
  };
  if (k.expiry_ms !== null && Number(k.expiry_ms) > 0) spec['expiryTime'] = timestampFromDate(Number(k.expiry_ms));
  return {
    id: k.id,
    resourceVersion: k.resource_version,
    spec,
    ...ACTIVE,
    asyncOperationId: k.async_operation_id,
    createdTime: timestampFromDate(Number(k.created_ms)),
    lastModifiedTime: timestampFromDate(Number(k.modified_ms)),
  };
}

export { newResourceVersion } from '../resource-version.js';

export interface AccountRow {
  id: string;
  name: string;
  spec_json: string;
  resource_version: string;
  created_ms: number;
  modified_ms: number;
}
