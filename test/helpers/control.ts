/**
 * A control plane over a real store for handler-level tests: accounts with users of every role,
 * each with its own API key, and a helper to call any Cloud Ops handler as one of them.
 */
import type { AuditStore } from '../../src/store/store.js';
import { resolveConfig } from '../../src/config.js';
import { createControlPlane, type ControlPlaneHandle } from '../../src/control/control-plane.js';
import type { DeliveryHooks } from '../../src/control/context.js';
import { createAccount, type NewAccount } from '../../src/control/accounts.js';
import type { CallContext, CloudRequest, CloudResponse } from '../../src/api/cloud/handlers.js';
import type { AuditRecord } from '../../src/record/record.js';
import { newApiKeyId, newApiKeyToken, sha256Hex } from '../../src/control/secrets.js';
import { newResourceVersion } from '../../src/control/model.js';

export interface Actor {
  accountId: string;
  userId: string;
  email: string;
  apiKey: string;
}

export interface ControlFixture {
  control: ControlPlaneHandle;
  owner: Actor;
  /** Calls a handler as `actor` (default the owner) with the given context overrides. */
  call(rpc: string, req: CloudRequest, actor?: Actor, ctx?: Partial<CallContext>): Promise<CloudResponse>;
  /** Records of an account in chain order. */
  records(accountId: string): Promise<AuditRecord[]>;
  /** Adds a user with `role` (and namespace accesses) to the owner's account, with an API key. */
  addUser(role: string, namespaceAccesses?: Record<string, string>, owner?: Actor): Promise<Actor>;
  newAccount(email: string): Promise<Actor>;
}

export function actorOf(a: NewAccount, email: string): Actor {
  return { accountId: a.account_id, userId: a.user_id, email, apiKey: a.api_key };
}

/** Optional wiring: a delivery engine (sink changes and commits wake it), as `serve` does. */
export interface ControlFixtureOptions {
  delivery?: DeliveryHooks & { notify(accountId: string): void };
}

export async function createControlFixture(store: AuditStore, ownerEmail = 'owner@example.com', opts: ControlFixtureOptions = {}): Promise<ControlFixture> {
  const delivery = opts.delivery;
  const control = createControlPlane({
    store,
    config: resolveConfig({}),
    ...(delivery ? { delivery, onCommit: (accountId: string) => delivery.notify(accountId) } : {}),
  });
  const owner = actorOf(await createAccount(store, { email: ownerEmail }), ownerEmail);
  const call = async (rpc: string, req: CloudRequest, actor: Actor = owner, ctx: Partial<CallContext> = {}) => {
    const handler = control.handlers[rpc];
    if (!handler) throw new Error(`no handler for ${rpc}`);
    return handler(req, {
      method: rpc,
      transport: 'grpc',
      authorization: `Bearer ${actor.apiKey}`,
      headers: {},
      peer: '10.0.0.1',
      forwardedFor: '203.0.113.7',
      ...ctx,
    });
  };
  const records = async (accountId: string) => {
    const page = await store.query({ accountId }, { order: 'asc', limit: 1000 });
    return page.items.map((r) => JSON.parse(r.recordJson) as AuditRecord);
  };
  let n = 0;
  const addUser = async (role: string, namespaceAccesses: Record<string, string> = {}, by: Actor = owner): Promise<Actor> => {
    const email = `u${++n}-${role.toLowerCase()}@example.com`;
    const created = await call(
      'CreateUser',
      {
        spec: {
          email,
          access: {
            accountAccess: { role },
            namespaceAccesses: Object.fromEntries(Object.entries(namespaceAccesses).map(([ns, p]) => [ns, { permission: p }])),
          },
        },
      },
      by,
    );
    const userId = created['userId'] as string;
    // Nobody may create a key for another user through the API, so the test user's own key is
    // provisioned in the database, as the user would have done after accepting the invitation.
    const keyId = newApiKeyId();
    const token = newApiKeyToken(keyId);
    await store.transaction((tx) =>
      tx.run(
        `INSERT INTO api_keys (id, account_id, owner_id, owner_type, display_name, description, expiry_ms, disabled, secret_hash, resource_version, async_operation_id, created_ms, modified_ms)
         VALUES (?, ?, ?, 'OWNER_TYPE_USER', ?, '', NULL, 0, ?, ?, '', ?, ?)`,
        [keyId, by.accountId, userId, `${email} key`, sha256Hex(token), newResourceVersion(), Date.now(), Date.now()],
      ),
    );
    return { accountId: by.accountId, userId, email, apiKey: token };
  };
  const newAccount = async (email: string) => actorOf(await createAccount(store, { email }), email);
  return { control, owner, call, records, addUser, newAccount };
}
