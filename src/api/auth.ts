/**
 * Who is calling. Every HTTP and gRPC request carries `Authorization: Bearer <secret>`; an
 * `Authenticator` turns it into a `Caller` or refuses it. The deployment ingest token is checked
 * here; API keys are added by the control plane (it composes its own authenticator over this one).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { unauthenticated, type AuditError } from '../errors.js';
import type { Principal } from '../record/record.js';

export type Caller =
  /** The deployment-wide ingest token: may ingest for any tenant it names. */
  | { kind: 'ingest-token' }
  /** An API key (or a logged-in user's session): bound to one account. */
  | AccountCaller;

/** A user acting through an API key or a browser session. */
export interface AccountCaller {
  kind: 'account';
  accountId: string;
  userId: string;
  email: string;
  /** Account role, as the Cloud API names it (`ROLE_OWNER`, `ROLE_ADMIN`, `ROLE_DEVELOPER`, ...). */
  role: string;
  /** Namespace permissions by namespace (`PERMISSION_ADMIN` | `PERMISSION_WRITE` | `PERMISSION_READ`). */
  namespaceAccess: Readonly<Record<string, string>>;
  /** The record's principal: the user, plus `api_key_id` when the call used an API key. */
  principal: Principal;
  keyId?: string;
  via: 'apikey' | 'session';
  /**
   * Records a refused read of this call (set by the control plane when it authenticated the call
   * with its context; absent for callers built elsewhere). Not enumerable: never serialized.
   */
  readonly refusedRead?: (operation: string, details: Record<string, unknown>, err: AuditError) => Promise<void>;
}

export interface Authenticator {
  /**
   * `session`: the browser session cookie's value, passed by read-only routes only (a session
   * needs the CSRF token for anything that changes state).
   */
  authenticate(authorization: string | undefined, session?: string): Promise<Caller>;
  /**
   * Checks an account caller against the access table (the control plane supplies it): throws
   * PERMISSION_DENIED when `rule` does not allow the caller. Without it, account callers are refused.
   */
  authorize?(caller: AccountCaller, rule: string, target: RouteTarget): void;
}

/** What an authorization decision may depend on besides the caller (the access table's target). */
export interface RouteTarget {
  namespace?: string;
  /** Owner of the resource acted on (API keys). */
  ownerId?: string;
  /** The account a call names (`?account=`, `account_id`): another tenant's is refused. */
  accountId?: string;
}

/** The secret of a `Bearer` authorization header, or undefined. */
export function bearerSecret(authorization: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  return m?.[1];
}

/** Compares two secrets in constant time (by their SHA-256, so lengths may differ). */
export function secretsEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/** Accepts only the configured ingest token; `next` handles every other secret. */
export function ingestTokenAuthenticator(token: string | undefined, next?: Authenticator): Authenticator {
  return {
    ...(next?.authorize ? { authorize: next.authorize } : {}),
    async authenticate(authorization, session) {
      const secret = bearerSecret(authorization);
      if (!secret && session !== undefined && next) return next.authenticate(undefined, session);
      if (!secret) throw unauthenticated('missing "Authorization: Bearer <token>" header');
      if (token !== undefined && secretsEqual(secret, token)) return { kind: 'ingest-token' };
      if (next) return next.authenticate(authorization);
      throw unauthenticated('invalid bearer token');
    },
  };
}
