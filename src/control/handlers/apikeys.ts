/**
 * API keys: GetApiKeys, GetApiKey, CreateApiKey, UpdateApiKey, DeleteApiKey (audited as
 * CreateAPIKey / UpdateAPIKey / DeleteAPIKey). The secret is returned once, by CreateApiKey, and
 * stored only as its SHA-256.
 */
import { invalidArgument, notFound } from '../../errors.js';
import { buildDetails } from '../../record/operations.js';
import type { temporal } from '@temporalio/proto';
import { dateFromTimestamp, type CloudHandlers } from '../../api/cloud/handlers.js';
import { plainRequest, type PlainMessage } from '../../api/cloud/plain-types.js';
import type { Sql } from '../../store/store.js';
import type { ControlPlane } from '../context.js';
import { runMutation, runRead } from '../mutation.js';
import { apiKeyMessage, newResourceVersion, type ApiKeyRow } from '../model.js';
import { decodePageToken, pageOf, pageSizeOf } from '../paging.js';
import { newApiKeyId, newApiKeyToken, sha256Hex } from '../secrets.js';
import { checkVersion, requireField } from '../validate.js';
import { userOf } from './users.js';
import { actsForOthers, guardRank } from '../rbac.js';
import type { AccountCaller } from '../../api/auth.js';

/** Longest lifetime a key may be given (Temporal Cloud allows up to two years). */
export const MAX_KEY_LIFETIME_MS = 2 * 366 * 86_400_000;

async function keyOf(sql: Sql, accountId: string, keyId: string): Promise<ApiKeyRow> {
  if (keyId === '') throw invalidArgument('key_id is required');
  const row = await sql.get<ApiKeyRow>('SELECT * FROM api_keys WHERE id = ? AND account_id = ?', [keyId, accountId]);
  if (!row) throw notFound(`API key ${keyId} not found`);
  return row;
}

/** Another user's key may be changed only by someone ranked at least as high as its owner. */
async function guardKeyOwner(sql: Sql, caller: AccountCaller, key: ApiKeyRow, what: string): Promise<void> {
  if (key.owner_id === caller.userId) return;
  const owner = await sql.get<{ role: string }>('SELECT role FROM users WHERE id = ? AND account_id = ?', [key.owner_id, caller.accountId]);
  if (owner) guardRank(caller, owner.role, what);
}

interface KeySpec {
  ownerId: string;
  displayName: string;
  description: string;
  expiryMs: number | null;
  disabled: boolean;
}

/** Validates an ApiKeySpec; the owner must be a user of this account (service accounts are not served yet). */
async function checkSpec(sql: Sql, accountId: string, spec: PlainMessage<temporal.api.cloud.identity.v1.IApiKeySpec>, now: number): Promise<KeySpec> {
  const ownerId = requireField(spec.ownerId ?? '', 'spec.owner_id');
  if (spec.ownerType === 'OWNER_TYPE_SERVICE_ACCOUNT' || spec.ownerTypeDeprecated === 'service-account') {
    throw invalidArgument('service account API keys are not supported by this server: spec.owner_type must be OWNER_TYPE_USER');
  }
  await userOf(sql, accountId, ownerId);
  const displayName = requireField((spec.displayName ?? '').trim(), 'spec.display_name');
  if (displayName.length > 128) throw invalidArgument('spec.display_name must be at most 128 characters');
  const description = spec.description ?? '';
  if (description.length > 1024) throw invalidArgument('spec.description must be at most 1024 characters');
  const expiry = dateFromTimestamp(spec.expiryTime);
  const expiryMs = expiry && expiry.getTime() > 0 ? expiry.getTime() : null;
  if (expiryMs !== null && expiryMs <= now) throw invalidArgument('spec.expiry_time must be in the future');
  if (expiryMs !== null && expiryMs > now + MAX_KEY_LIFETIME_MS) throw invalidArgument('spec.expiry_time must be at most two years away');
  return { ownerId, displayName, description, expiryMs, disabled: spec.disabled === true };
}

export function apiKeyHandlers(cp: ControlPlane): CloudHandlers {
  const sql = cp.store.sql;
  return {
    GetApiKeys: async (req, ctx) => {
      const caller = await cp.authenticate(ctx);
      const r = plainRequest<temporal.api.cloud.cloudservice.v1.IGetApiKeysRequest>(req);
      const ownerId = r.ownerId ?? '';
      // Listing everyone's keys needs the rule's "others" roles; anyone may list their own.
      const everyone = actsForOthers(caller, 'GetApiKeys');
      return runRead(caller, 'GetApiKeys', { ownerId: ownerId || (everyone ? '*' : caller.userId) }, async () => {
        const limit = pageSizeOf(r.pageSize);
        const after = decodePageToken(r.pageToken);
        const owner = ownerId || (everyone ? '' : caller.userId);
        const rows = await sql.all<ApiKeyRow>(`SELECT * FROM api_keys WHERE account_id = ? AND id > ? ${owner ? 'AND owner_id = ?' : ''} ORDER BY id LIMIT ?`, [
          caller.accountId,
          after,
          ...(owner ? [owner] : []),
          limit + 1,
        ]);
        const page = pageOf(rows, limit, (k) => k.id);
        return { apiKeys: page.items.map(apiKeyMessage), nextPageToken: page.nextPageToken };
      });
    },

    GetApiKey: async (req, ctx) => {
      const caller = await cp.authenticate(ctx);
      const key = await keyOf(sql, caller.accountId, plainRequest<temporal.api.cloud.cloudservice.v1.IGetApiKeyRequest>(req).keyId ?? '');
      return runRead(caller, 'GetApiKey', { ownerId: key.owner_id }, async () => ({ apiKey: apiKeyMessage(key) }));
    },

    CreateApiKey: async (req, ctx) => {
      const caller = await cp.authenticate(ctx);
      const spec = plainRequest<temporal.api.cloud.cloudservice.v1.ICreateApiKeyRequest>(req).spec ?? {};
      const ownerId = spec.ownerId ?? '';
      let token = '';
      const response = await runMutation(cp, caller, ctx, {
        rpc: 'CreateApiKey',
        operation: 'CreateAPIKey',
        request: req,
        target: { ownerId: ownerId || caller.userId },
        refusedDetails: () => buildDetails('CreateAPIKey', { target_users: ownerId ? [ownerId] : [] }),
        // An owner that is not a user of this account is "not found" before any rule applies.
        precheck: async (tx) => {
          if (ownerId) await userOf(tx, caller.accountId, ownerId);
        },
        apply: async (tx, op) => {
          const s = await checkSpec(tx, caller.accountId, spec, op.now);
          const id = newApiKeyId();
          token = newApiKeyToken(id);
          await tx.run(
            `INSERT INTO api_keys (id, account_id, owner_id, owner_type, display_name, description, expiry_ms, disabled, secret_hash,
               resource_version, async_operation_id, created_ms, modified_ms) VALUES (?, ?, ?, 'OWNER_TYPE_USER', ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
            [
              id,
              caller.accountId,
              s.ownerId,
              s.displayName,
              s.description,
              s.expiryMs,
              s.disabled ? 1 : 0,
              sha256Hex(token),
              newResourceVersion(),
              op.id,
              op.now,
              op.now,
            ],
          );
          // The stored response (replayed to a retry with the same async_operation_id) never holds the secret.
          return { details: buildDetails('CreateAPIKey', { target_api_keys: [id], target_users: [s.ownerId] }), response: { keyId: id, token: '' } };
        },
      });
      // A retry of an already-created key cannot show the secret again: it was shown once.
      return token ? { ...response, token } : response;
    },

    UpdateApiKey: async (req, ctx) => {
      const caller = await cp.authenticate(ctx);
      const r = plainRequest<temporal.api.cloud.cloudservice.v1.IUpdateApiKeyRequest>(req);
      const keyId = r.keyId ?? '';
      const existing = await sql.get<ApiKeyRow>('SELECT * FROM api_keys WHERE id = ? AND account_id = ?', [keyId, caller.accountId]);
      return runMutation(cp, caller, ctx, {
        rpc: 'UpdateApiKey',
        operation: 'UpdateAPIKey',
        request: req,
        target: { ownerId: existing?.owner_id ?? caller.userId },
        refusedDetails: () => buildDetails('UpdateAPIKey', { target_api_keys: [keyId] }),
        apply: async (tx, op) => {
          const key = await keyOf(tx, caller.accountId, keyId);
          await guardKeyOwner(tx, caller, key, 'changing this API key');
          checkVersion(r.resourceVersion ?? '', key.resource_version, `API key ${keyId}`);
          const s = await checkSpec(tx, caller.accountId, r.spec ?? {}, op.now);
          if (s.ownerId !== key.owner_id) throw invalidArgument('spec.owner_id cannot change: create a new key for the other owner');
          await tx.run(
            'UPDATE api_keys SET display_name = ?, description = ?, expiry_ms = ?, disabled = ?, resource_version = ?, async_operation_id = ?, modified_ms = ? WHERE id = ?',
            [s.displayName, s.description, s.expiryMs, s.disabled ? 1 : 0, newResourceVersion(), op.id, op.now, key.id],
          );
          return { details: buildDetails('UpdateAPIKey', { target_api_keys: [key.id], disabled: s.disabled }), response: {} };
        },
      });
    },

    DeleteApiKey: async (req, ctx) => {
      const caller = await cp.authenticate(ctx);
      const r = plainRequest<temporal.api.cloud.cloudservice.v1.IDeleteApiKeyRequest>(req);
      const keyId = r.keyId ?? '';
      const existing = await sql.get<ApiKeyRow>('SELECT * FROM api_keys WHERE id = ? AND account_id = ?', [keyId, caller.accountId]);
      return runMutation(cp, caller, ctx, {
        rpc: 'DeleteApiKey',
        operation: 'DeleteAPIKey',
        request: req,
        target: { ownerId: existing?.owner_id ?? caller.userId },
        refusedDetails: () => buildDetails('DeleteAPIKey', { target_api_keys: [keyId] }),
        apply: async (tx) => {
          const key = await keyOf(tx, caller.accountId, keyId);
          await guardKeyOwner(tx, caller, key, 'deleting this API key');
          checkVersion(r.resourceVersion ?? '', key.resource_version, `API key ${keyId}`);
          await tx.run('DELETE FROM api_keys WHERE id = ?', [key.id]);
          return { details: buildDetails('DeleteAPIKey', { target_api_keys: [key.id] }), response: {} };
        },
      });
    },
  };
}
