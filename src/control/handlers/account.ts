/**
 * The account: GetAccount, UpdateAccount (the observability endpoint's CA, audited as
 * UpdateAccount with the new bundle's `client_ca_fingerprints`, as in the seeds' first sample),
 * and GetCurrentIdentity (the calling user, and the API key the call used).
 *
 * `accounts.spec_json` holds the AccountSpec in the stored form: `{ metrics: { acceptedClientCa:
 * <base64 of the bytes as sent> } }`; other keys in it are kept as they are. The table has no
 * async_operation_id column: the Account message's one is the last fulfilled UpdateAccount
 * operation, from `async_operations`.
 */
import { failedPrecondition, invalidArgument, notFound } from '../../errors.js';
import { buildDetails } from '../../record/operations.js';
import type { temporal } from '@temporalio/proto';
import type { CloudHandlers, CloudResponse } from '../../api/cloud/handlers.js';
import { plainRequest, type PlainMessage } from '../../api/cloud/plain-types.js';
import type { Sql } from '../../store/store.js';
import type { ControlPlane } from '../context.js';
import { runMutation, runRead } from '../mutation.js';
import { apiKeyMessage, newResourceVersion, userMessage, type AccountRow, type ApiKeyRow } from '../model.js';
import { checkVersion } from '../validate.js';
import { userOf } from './users.js';
import { bytesOf, checkCaBundle } from '../ca-bundle.js';
import { CLOUD_DOMAIN } from '../namespaces/rules.js';

interface StoredAccountSpec {
  metrics?: { acceptedClientCa: string };
  [other: string]: unknown;
}

async function accountOf(sql: Sql, accountId: string): Promise<AccountRow> {
  const row = await sql.get<AccountRow>('SELECT * FROM accounts WHERE id = ?', [accountId]);
  if (!row) throw notFound(`account ${accountId} not found`);
  return row;
}

/** The Account message. Metrics are on (and have a URI) once an observability CA is set. */
export function accountMessage(row: AccountRow, asyncOperationId: string): PlainMessage<temporal.api.cloud.account.v1.IAccount> {
  const spec = JSON.parse(row.spec_json) as StoredAccountSpec;
  const ca = spec.metrics?.acceptedClientCa ?? '';
  return {
    id: row.id,
    spec: ca ? { metrics: { acceptedClientCa: Buffer.from(ca, 'base64') } } : {},
    resourceVersion: row.resource_version,
    state: 'RESOURCE_STATE_ACTIVE',
    asyncOperationId,
    metrics: { uri: ca ? `https://${row.id}.${CLOUD_DOMAIN}/prometheus` : '' },
  };
}

async function lastAccountOperation(sql: Sql, accountId: string): Promise<string> {
  const op = await sql.get<{ id: string }>(
    "SELECT id FROM async_operations WHERE account_id = ? AND operation_type = 'UpdateAccount' AND state = 'STATE_FULFILLED' ORDER BY finished_ms DESC, id DESC LIMIT 1",
    [accountId],
  );
  return op?.id ?? '';
}

export function accountHandlers(cp: ControlPlane): CloudHandlers {
  const sql = cp.store.sql;
  return {
    GetAccount: async (_req, ctx) => {
      const caller = await cp.authenticate(ctx);
      return runRead(
        caller,
        'GetAccount',
        undefined,
        async () =>
          ({
            account: accountMessage(await accountOf(sql, caller.accountId), await lastAccountOperation(sql, caller.accountId)),
          }) satisfies PlainMessage<temporal.api.cloud.cloudservice.v1.IGetAccountResponse>,
      );
    },

    UpdateAccount: async (req, ctx) => {
      const caller = await cp.authenticate(ctx);
      const update = plainRequest<temporal.api.cloud.cloudservice.v1.IUpdateAccountRequest>(req);
      return runMutation(cp, caller, ctx, {
        rpc: 'UpdateAccount',
        operation: 'UpdateAccount',
        request: req,
        refusedDetails: () => buildDetails('UpdateAccount', {}),
        apply: async (tx, op) => {
          const row = await accountOf(tx, caller.accountId);
          checkVersion(update.resourceVersion ?? '', row.resource_version, `account ${caller.accountId}`);
          if (!update.spec) throw invalidArgument('spec is required');
          // No metrics spec, or an empty CA, turns the observability endpoint off.
          const bundle = checkCaBundle(bytesOf(update.spec.metrics?.acceptedClientCa), 'spec.metrics.accepted_client_ca', op.now);
          const current = JSON.parse(row.spec_json) as StoredAccountSpec;
          const { metrics: _old, ...others } = current;
          const next: StoredAccountSpec = bundle ? { ...others, metrics: { acceptedClientCa: bundle.stored } } : others;
          const r = await tx.run('UPDATE accounts SET spec_json = ?, resource_version = ?, modified_ms = ? WHERE id = ? AND resource_version = ?', [
            JSON.stringify(next),
            newResourceVersion(),
            op.now,
            row.id,
            row.resource_version,
          ]);
          if (r.changes !== 1) throw failedPrecondition(`account ${row.id} was modified concurrently: read it again and retry`);
          // The fingerprints of the CA now set ([] when it was removed), as in the seeds' sample.
          return { details: buildDetails('UpdateAccount', { client_ca_fingerprints: bundle?.fingerprints ?? [] }), response: {} };
        },
      });
    },

    GetCurrentIdentity: async (_req, ctx) => {
      const caller = await cp.authenticate(ctx);
      return runRead(caller, 'GetCurrentIdentity', undefined, async () => {
        const out: CloudResponse = { user: userMessage(await userOf(sql, caller.accountId, caller.userId)) };
        if (caller.keyId) {
          const key = await sql.get<ApiKeyRow>('SELECT * FROM api_keys WHERE id = ? AND account_id = ?', [caller.keyId, caller.accountId]);
          if (key) out['principalApiKey'] = apiKeyMessage(key);
        }
        return out;
      });
    },
  };
}
