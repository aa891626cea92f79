/**
 * Authentication of control-plane callers: API keys (`Authorization: Bearer as_...`) on both
 * transports, and browser sessions (the `auditstream_session` cookie from `POST /auth/login`, plus
 * an `x-csrf-token` header on anything that changes state). A failure belongs to no tenant: it is
 * logged and counted, never written to an account's audit log.
 */
import { unauthenticated } from '../errors.js';
import type { AccountCaller, Authenticator } from '../api/auth.js';
import { bearerSecret, ingestTokenAuthenticator, secretsEqual } from '../api/auth.js';
import { authorize } from './rbac.js';
import { cookieValue, SESSION_COOKIE } from '../api/cookies.js';
import type { CallContext } from '../api/cloud/handlers.js';
import type { Sql } from '../store/store.js';
import { digestsEqual, keyIdOfToken, sha256Hex } from './secrets.js';

/** Sessions end after this long without use (docs/decisions/0008: 12 h idle). */
export const SESSION_IDLE_MS = 12 * 3_600_000;

interface KeyRow {
  id: string;
  account_id: string;
  owner_id: string;
  secret_hash: string;
  disabled: number;
  expiry_ms: number | null;
  email: string;
  role: string;
  namespace_access_json: string;
  password_hash: string | null;
}

function accessOf(json: string): Record<string, string> {
  const parsed = JSON.parse(json) as Record<string, string>;
  return parsed;
}

/** The caller behind an API key token; throws UNAUTHENTICATED with a reason a person can act on. */
export async function callerFromApiKey(sql: Sql, token: string, now = Date.now()): Promise<AccountCaller> {
  const keyId = keyIdOfToken(token);
  if (!keyId) throw unauthenticated('invalid API key');
  const row = await sql.get<KeyRow>(
    `SELECT k.id, k.account_id, k.owner_id, k.secret_hash, k.disabled, k.expiry_ms, u.email, u.role, u.namespace_access_json, u.password_hash
       FROM api_keys k JOIN users u ON u.id = k.owner_id WHERE k.id = ?`,
    [keyId],
  );
  // Compare even when the key is unknown, so timing does not reveal which ids exist.
  const ok = digestsEqual(sha256Hex(token), row?.secret_hash ?? '0'.repeat(64));
  if (!row || !ok) throw unauthenticated('invalid API key');
  if (Number(row.disabled)) throw unauthenticated('API key is disabled');
  if (row.expiry_ms !== null && Number(row.expiry_ms) > 0 && Number(row.expiry_ms) <= now) throw unauthenticated('API key has expired');
  return {
    kind: 'account',
    accountId: row.account_id,
    userId: row.owner_id,
    email: row.email,
    role: row.role,
    namespaceAccess: accessOf(row.namespace_access_json),
    principal: { id: row.owner_id, type: 'user', name: row.email, api_key_id: row.id },
    keyId: row.id,
    via: 'apikey',
  };
}

interface SessionRow {
  user_id: string;
  account_id: string;
  csrf_token: string;
  last_seen_ms: number;
  email: string;
  role: string;
  namespace_access_json: string;
}

/** The caller behind a session cookie; `csrf` must match for state-changing calls. */
export async function callerFromSession(
  sql: Sql,
  token: string,
  opts: { mutating: boolean; csrf: string | undefined },
  now = Date.now(),
): Promise<AccountCaller> {
  const row = await sql.get<SessionRow>(
    `SELECT s.user_id, s.account_id, s.csrf_token, s.last_seen_ms, u.email, u.role, u.namespace_access_json
       FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?`,
    [sha256Hex(token)],
  );
  if (!row || Number(row.last_seen_ms) + SESSION_IDLE_MS < now) throw unauthenticated('session expired: log in again');
  if (opts.mutating && !(opts.csrf && secretsEqual(opts.csrf, row.csrf_token))) throw unauthenticated('missing or wrong x-csrf-token header');
  // Touch the session at most once a minute: enough for a 12 h idle timeout, cheap on reads.
  if (now - Number(row.last_seen_ms) > 60_000) await sql.run('UPDATE sessions SET last_seen_ms = ? WHERE token_hash = ?', [now, sha256Hex(token)]);
  return {
    kind: 'account',
    accountId: row.account_id,
    userId: row.user_id,
    email: row.email,
    role: row.role,
    namespaceAccess: accessOf(row.namespace_access_json),
    principal: { id: row.user_id, type: 'user', name: row.email },
    via: 'session',
  };
}

/** Authenticates a Cloud API call. Reads (`Get*`) may use a session without a CSRF token. */
export async function authenticateCall(sql: Sql, ctx: CallContext): Promise<AccountCaller> {
  const secret = bearerSecret(ctx.authorization);
  if (secret) return callerFromApiKey(sql, secret);
  const session = ctx.transport === 'http' ? cookieValue(ctx.headers['cookie'], SESSION_COOKIE) : undefined;
  if (session) return callerFromSession(sql, session, { mutating: !ctx.method.startsWith('Get'), csrf: ctx.headers['x-csrf-token'] });
  throw unauthenticated('missing "Authorization: Bearer <api key>" header');
}

/** For `/api/v1`: the deployment ingest token, else an API key, else (read routes) the session cookie. */
export function apiAuthenticator(sql: Sql, ingestToken: string | undefined): Authenticator {
  return ingestTokenAuthenticator(ingestToken, {
    authorize,
    authenticate: async (authorization, session) => {
      const secret = bearerSecret(authorization);
      if (!secret && session !== undefined) return callerFromSession(sql, session, { mutating: false, csrf: undefined });
      if (!secret) throw unauthenticated('missing "Authorization: Bearer <token>" header');
      return callerFromApiKey(sql, secret);
    },
  });
}
