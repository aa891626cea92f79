/**
 * Browser authentication and invitations:
 * - `POST /auth/login` {email, password, account_id?}: sets the `auditstream_session` cookie
 *   (HttpOnly; SameSite=Strict) and returns the CSRF token that state-changing calls must send as
 *   `x-csrf-token`. Success and failure are audited as `UserLogin` when the email belongs to an
 *   account; failures are rate-limited per email and per IP.
 * - `POST /auth/logout`.
 * - `POST /auth/accept-invite` {token, password}: sets the invited user's password.
 * - `POST /api/v1/users/:id/invitation`: issues a fresh one-time invitation token (shown once).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AuditError, invalidArgument, unauthenticated } from '../errors.js';
import { buildDetails } from '../record/operations.js';
import type { AccountCaller } from '../api/auth.js';
import { httpContext } from '../api/cloud/http-routes.js';
import type { ControlPlane } from './context.js';
import type { AuditStore } from '../store/store.js';
import { buildRecord, recordRefusal, runMutation } from './mutation.js';
import { cookieValue, SESSION_COOKIE, SESSION_IDLE_MS } from './auth.js';
import { hashPassword, newToken, passwordProblem, sha256Hex, verifyPassword } from './secrets.js';
import type { UserRow } from './model.js';
import { issueInvitation, userOf } from './handlers/users.js';

/** Failed logins allowed per window (docs/decisions/0008: rate-limited per email and per IP). */
export const LOGIN_LIMITS = { perEmail: 5, perIp: 20, windowMs: 15 * 60_000 };

/**
 * Counts failures in a sliding window, per key (`email:<address>`, `ip:<peer>`). Stored in the
 * database, so that all processes serving one deployment share the count.
 */
export class FailureLimiter {
  constructor(
    private readonly store: AuditStore,
    private readonly windowMs: number,
  ) {}

  async blocked(key: string, limit: number, now = Date.now()): Promise<boolean> {
    const row = await this.store.sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM login_failures WHERE rate_key = ? AND at_ms > ?', [key, now - this.windowMs]);
    return Number(row?.n ?? 0) >= limit;
  }

  async fail(keys: string[], now = Date.now()): Promise<void> {
    await this.store.transaction(async (tx) => {
      await tx.run('DELETE FROM login_failures WHERE at_ms <= ?', [now - this.windowMs]);
      for (const key of keys) await tx.run('INSERT INTO login_failures (rate_key, at_ms) VALUES (?, ?)', [key, now]);
    });
  }

  async clear(key: string): Promise<void> {
    await this.store.transaction((tx) => tx.run('DELETE FROM login_failures WHERE rate_key = ?', [key]));
  }
}

function body(req: FastifyRequest): Record<string, unknown> {
  const b = req.body;
  if (b === null || typeof b !== 'object' || Array.isArray(b)) throw invalidArgument('body must be a JSON object');
  return b as Record<string, unknown>;
}

function callerOf(u: UserRow): AccountCaller {
  return {
    kind: 'account',
    accountId: u.account_id,
    userId: u.id,
    email: u.email,
    role: u.role,
    namespaceAccess: JSON.parse(u.namespace_access_json) as Record<string, string>,
    principal: { id: u.id, type: 'user', name: u.email },
    via: 'session',
  };
}

export function registerAuthRoutes(app: FastifyInstance, cp: ControlPlane): void {
  const sql = cp.store.sql;
  const failures = new FailureLimiter(cp.store, LOGIN_LIMITS.windowMs);
  const secure = Boolean(cp.config.tlsCert);

  app.post('/auth/login', async (req, reply) => {
    const b = body(req);
    const email = typeof b['email'] === 'string' ? b['email'].trim().toLowerCase() : '';
    const password = typeof b['password'] === 'string' ? b['password'] : '';
    const accountId = typeof b['account_id'] === 'string' ? b['account_id'] : undefined;
    if (!email || !password) throw invalidArgument('email and password are required');
    const ctx = httpContext('UserLogin', req);
    if ((await failures.blocked(`email:${email}`, LOGIN_LIMITS.perEmail)) || (await failures.blocked(`ip:${ctx.peer}`, LOGIN_LIMITS.perIp))) {
      throw new AuditError('AS_ERR_RATE_LIMITED', 'too many failed logins: try again in 15 minutes');
    }
    const candidates = await sql.all<UserRow>(`SELECT * FROM users WHERE email = ? ${accountId ? 'AND account_id = ?' : ''}`, [email, ...(accountId ? [accountId] : [])]);
    // Check the password against every match first: asking for account_id before that would
    // tell anyone that this email exists in several tenants.
    const matches: UserRow[] = [];
    for (const u of candidates) if (await verifyPassword(password, u.password_hash)) matches.push(u);
    if (candidates.length === 0) await verifyPassword(password, undefined);
    if (matches.length > 1) throw invalidArgument('this email and password belong to several accounts: give account_id');
    const user = matches[0] ?? (candidates.length === 1 ? candidates[0] : undefined);
    const ok = matches.length === 1;
    if (!user || !ok) {
      await failures.fail([`email:${email}`, `ip:${ctx.peer}`]);
      if (user) {
        // An email that belongs to an account: the failure goes to that account's audit log.
        await recordRefusal(cp, callerOf(user), ctx, 'UserLogin', buildDetails('UserLogin', { target_users: [email], method: 'password' }), unauthenticated('wrong password'));
      } else {
        cp.metrics?.authFailures.inc({ reason: 'login' });
        cp.logger?.info({ peer: ctx.peer }, 'login refused: unknown email');
      }
      throw unauthenticated('wrong email or password');
    }
    await failures.clear(`email:${email}`);
    const token = newToken();
    const csrf = newToken();
    const now = Date.now();
    await cp.store.transaction(async (tx) => {
      await tx.run('INSERT INTO sessions (token_hash, user_id, account_id, csrf_token, created_ms, last_seen_ms) VALUES (?, ?, ?, ?, ?, ?)', [
        sha256Hex(token),
        user.id,
        user.account_id,
        csrf,
        now,
        now,
      ]);
      await tx.append({
        accountId: user.account_id,
        records: [buildRecord(cp, callerOf(user), ctx, { operation: 'UserLogin', details: buildDetails('UserLogin', { target_users: [email], method: 'password' }), status: 'OK', requestId: ctx.requestId }, now)],
        ingestedBy: null,
        clientLogIds: false,
      });
    });
    cp.onCommit(user.account_id);
    void reply.header(
      'set-cookie',
      `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_IDLE_MS / 1000}${secure ? '; Secure' : ''}`,
    );
    return { account_id: user.account_id, user_id: user.id, email: user.email, role: user.role, csrf_token: csrf };
  });

  app.post('/auth/logout', async (req, reply) => {
    const token = cookieValue(req.headers.cookie, SESSION_COOKIE);
    if (token) await cp.store.transaction((tx) => tx.run('DELETE FROM sessions WHERE token_hash = ?', [sha256Hex(token)]));
    void reply.header('set-cookie', `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`);
    return reply.code(204).send();
  });

  app.post('/auth/accept-invite', async (req) => {
    const b = body(req);
    const token = typeof b['token'] === 'string' ? b['token'] : '';
    const problem = passwordProblem(b['password']);
    if (!token) throw invalidArgument('token is required');
    if (problem) throw invalidArgument(problem);
    const hash = await hashPassword(b['password'] as string);
    const ctx = httpContext('AcceptInvitation', req);
    const user = await cp.store.transaction(async (tx) => {
      const u = await tx.get<UserRow>('SELECT * FROM users WHERE invite_token_hash = ?', [sha256Hex(token)]);
      if (!u || u.invite_expires_ms === null || Number(u.invite_expires_ms) < Date.now()) throw unauthenticated('invitation token is unknown or expired: ask for a new invitation');
      await tx.run('UPDATE users SET password_hash = ?, invite_token_hash = NULL, invite_created_ms = NULL, invite_expires_ms = NULL, modified_ms = ? WHERE id = ?', [hash, Date.now(), u.id]);
      await tx.append({
        accountId: u.account_id,
        records: [buildRecord(cp, callerOf(u), ctx, { operation: 'UpdateUser', details: buildDetails('UpdateUser', { target_users: [u.email], invitation: 'accepted' }), status: 'OK' })],
        ingestedBy: null,
        clientLogIds: false,
      });
      return u;
    });
    cp.onCommit(user.account_id);
    return { account_id: user.account_id, user_id: user.id, email: user.email };
  });

  app.post('/api/v1/users/:id/invitation', async (req) => {
    const ctx = httpContext('ReissueInvitation', req);
    const caller = await cp.authenticate(ctx);
    const userId = (req.params as { id: string }).id;
    let issued: { token: string; expiresMs: number } | undefined;
    let email = userId;
    await runMutation(cp, caller, ctx, {
      rpc: 'ReissueInvitation',
      operation: 'InviteUsers',
      // Never replayed: each call issues a new token.
      request: { userId, asyncOperationId: '' },
      refusedDetails: () => buildDetails('InviteUsers', { target_users: [email] }),
      apply: async (tx, op) => {
        const user = await userOf(tx, caller.accountId, userId);
        email = user.email;
        if (user.password_hash) throw new AuditError('AS_ERR_FAILED_PRECONDITION', `user ${user.email} has already accepted the invitation`);
        issued = await issueInvitation(tx, user.id, op.now);
        return { details: buildDetails('InviteUsers', { target_users: [user.email], account_role: user.role }), response: {} };
      },
    });
    return { user_id: userId, email, token: issued!.token, expires_at: new Date(issued!.expiresMs).toISOString(), accept: 'POST /auth/accept-invite {"token", "password"}' };
  });
}
