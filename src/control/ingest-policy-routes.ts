/**
 * Per-API-key ingest policies (see src/api/ingest-policy.ts for what they mean):
 * - `GET /api/v1/api-keys/:id/ingest-policy` → `{"key_id", "operations", "categories", "default"}`.
 * - `PUT /api/v1/api-keys/:id/ingest-policy` {"operations": [..] | null, "categories": [..] | null}:
 *   replaces the policy; audited as `UpdateAPIKey` (details: the key and the new policy).
 * Both are Owner / Global Admin only (rule `SetApiKeyIngestPolicy`): a Developer must not widen
 * what its own key may write.
 */
import type { FastifyInstance } from 'fastify';
import { notFound } from '../errors.js';
import { buildDetails } from '../record/operations.js';
import { httpContext } from '../api/cloud/http-routes.js';
import { parseIngestPolicy, readIngestPolicy, writeIngestPolicy, type IngestPolicy } from '../api/ingest-policy.js';
import type { Sql } from '../store/store.js';
import type { ControlPlane } from './context.js';
import { runMutation, runRead } from './mutation.js';

const RULE = 'SetApiKeyIngestPolicy';

type KeyParams = { id: string };

async function requireKey(sql: Pick<Sql, 'get'>, accountId: string, keyId: string): Promise<void> {
  const row = await sql.get('SELECT id FROM api_keys WHERE id = ? AND account_id = ?', [keyId, accountId]);
  if (!row) throw notFound(`API key ${keyId} not found`);
}

function answer(keyId: string, policy: IngestPolicy): Record<string, unknown> {
  return { key_id: keyId, operations: policy.operations, categories: policy.categories, default: policy.operations === null && policy.categories === null };
}

export function registerIngestPolicyRoutes(app: FastifyInstance, cp: ControlPlane): void {
  const path = '/api/v1/api-keys/:id/ingest-policy';

  app.get(path, async (req) => {
    const caller = await cp.authenticate(httpContext(RULE, req));
    const keyId = (req.params as KeyParams).id;
    return runRead(caller, RULE, undefined, async () => {
      await requireKey(cp.store.sql, caller.accountId, keyId);
      return answer(keyId, await readIngestPolicy(cp.store.sql, caller.accountId, keyId));
    });
  });

  app.put(path, async (req) => {
    const ctx = httpContext(RULE, req);
    const caller = await cp.authenticate(ctx);
    const keyId = (req.params as KeyParams).id;
    let stored: IngestPolicy | undefined;
    await runMutation(cp, caller, ctx, {
      rpc: RULE,
      operation: 'UpdateAPIKey',
      // Each call sets the policy anew: never a replay of an earlier call.
      request: { keyId, asyncOperationId: '' },
      refusedDetails: () => buildDetails('UpdateAPIKey', { target_api_keys: [keyId] }),
      apply: async (tx, op) => {
        await requireKey(tx, caller.accountId, keyId);
        const policy = parseIngestPolicy(req.body);
        await writeIngestPolicy(tx, caller.accountId, keyId, policy, op.now);
        stored = policy;
        return {
          details: buildDetails('UpdateAPIKey', {
            target_api_keys: [keyId],
            ingest_operations: policy.operations === null ? null : [...policy.operations],
            ingest_categories: policy.categories === null ? null : [...policy.categories],
          }),
          response: {},
        };
      },
    });
    return answer(keyId, stored!);
  });
}
