/**
 * Browser authentication and invitations:
 * - `POST /auth/login` {email, password, account_id?}: sets the `auditstream_session` cookie
 *   (HttpOnly; SameSite=Strict) and returns the CSRF token that state-changing calls must send as
 *   `x-csrf-token`. Success and failure are audited as `UserLogin` when the email belongs to an
 *   account; failures are rate-limited per email and per IP.
 * - `POST /auth/logout`.
 * - `GET /auth/session`: who the session cookie belongs to, with its CSRF token (so the console
 *   keeps no secret in browser storage and survives a reload); without a session, whether the
 *   first start's credentials file is still there (the sign-in page points to it, never its content).
 * - `POST /auth/accept-invite` {token, password}: sets the invited user's password.
 * - `POST /api/v1/users/:id/invitation`: issues a fresh one-time invitation token (shown once).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AuditError, invalidArgument, unauthenticated } from '../errors.js';
import { buildDetails } from '../record/operations.js';
import type { AccountCaller } from '../api/auth.js';
import { httpContext } from '../api/cloud/http-routes.js';
import type { CallContext } from '../api/cloud/handlers.js';
import { buildCallerIpChain, evaluateCallerIp } from '../record/caller-ip.js';
import { guardRank } from './rbac.js';
import type { ControlPlane } from './context.js';
import type { AuditStore } from '../store/store.js';
import { buildRecord, recordRefusal, runMutation } from './mutation.js';
import { SESSION_IDLE_MS } from './auth.js';
import { cookieValue, SESSION_COOKIE } from '../api/cookies.js';
import { hashPassword, newToken, passwordProblem, sha256Hex, verifyPassword } from './secrets.js';
import type { UserRow } from './model.js';
import { issueInvitation, userOf } from './handlers/users.js';
import { existsSync } from 'node:fs';
import { join, relative, isAbsolute } from 'node:path';
import { callerFromSession } from './auth.js';

/** Failed logins allowed per window (docs/decisions/0008: rate-limited per email and per IP). */
export const LOGIN_LIMITS = { perEmail: 5, perIp: 20, windowMs: 15 * 60_000 };

/** One key of the limiter and how many attempts it allows per window. */
export interface RateKey {
  key: string;
  limit: number;
}

export type Reservation = { ok: true; atMs: number; keys: string[] } | { ok: false; retryAfterSeconds: number };

/**
 * Login attempts per key (`email:<address>`, `ip:<caller address>`) in a sliding window, in the
 * database so that every process of one deployment shares the count.
 *
 * An attempt is RESERVED before its password is checked: one transaction that counts the window
 * and inserts a row under every key, or refuses them all. Concurrent attempts serialize on it
 * (SQLite: BEGIN IMMEDIATE holds the database's write lock; PostgreSQL: a transaction-scoped
 * advisory lock per key, taken in sorted order), across processes too, so a burst can never
 * have more attempts checked than the limit. A wrong password keeps its reservation (it is the
 * failure); any other outcome, success included, gives it back (`refund`). A success does not
 * erase other failures: an attacker racing the owner's own login would otherwise get fresh tries.
 */
export class FailureLimiter {
  constructor(
    private readonly store: AuditStore,
    private readonly windowMs: number,
  ) {}

  async reserve(keys: readonly RateKey[], now = Date.now()): Promise<Reservation> {
    return this.store.transaction(async (tx): Promise<Reservation> => {
      if (this.store.engine === 'postgres') {
        for (const k of [...keys].map((k) => k.key).sort()) await tx.get('SELECT pg_advisory_xact_lock(hashtext(?)) AS locked', [`auditstream.login.${k}`]);
      }
      await tx.run('DELETE FROM login_failures WHERE at_ms <= ?', [now - this.windowMs]);
      let waitMs = 0;
      for (const { key, limit } of keys) {
        // The newest `limit` rows: the window has room again once the oldest of them expires.
        const rows = await tx.all<{ at_ms: number }>('SELECT at_ms FROM login_failures WHERE rate_key = ? AND at_ms > ? ORDER BY at_ms DESC LIMIT ?', [
          key,
          now - this.windowMs,
          limit,
        ]);
        if (rows.length >= limit) waitMs = Math.max(waitMs, Number(rows[limit - 1]!.at_ms) + this.windowMs - now);
      }
      if (waitMs > 0) return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
      for (const { key } of keys) await tx.run('INSERT INTO login_failures (rate_key, at_ms) VALUES (?, ?)', [key, now]);
      return { ok: true, atMs: now, keys: keys.map((k) => k.key) };
    });
  }

  /** Gives a reservation back: one row per key (rows of one key and instant are interchangeable). */
  async refund(r: { atMs: number; keys: readonly string[] }): Promise<void> {
    const row = this.store.engine === 'postgres' ? 'ctid' : 'rowid';
    await this.store.transaction(async (tx) => {
      for (const key of r.keys) {
        await tx.run(`DELETE FROM login_failures WHERE ${row} IN (SELECT ${row} FROM login_failures WHERE rate_key = ? AND at_ms = ? LIMIT 1)`, [key, r.atMs]);
      }
    });
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
    // Bounded before anything is stored or hashed under them.
    if (email.length > 320) throw invalidArgument('email is at most 320 characters', { field: 'email' });
    if (password.length > 256) throw invalidArgument('password is at most 256 characters', { field: 'password' });
    const ctx = httpContext('UserLogin', req);
    // Per IP means per caller: behind trusted proxies the address they name, not the proxy's.
    const ip = evaluateCallerIp(buildCallerIpChain(ctx.forwardedFor, ctx.peer, cp.config.maxCallerIpEntries), cp.config.trustedProxies) ?? ctx.peer;
    const reservation = await failures.reserve([
      { key: `email:${email}`, limit: LOGIN_LIMITS.perEmail },
      { key: `ip:${ip}`, limit: LOGIN_LIMITS.perIp },
    ]);
    if (!reservation.ok) {
      throw new AuditError('AS_ERR_RATE_LIMITED', `too many failed logins: try again in ${reservation.retryAfterSeconds} s`, {
        retry_after_seconds: reservation.retryAfterSeconds,
      });
    }
    let failed = false;
    try {
      return await checkedLogin(email, password, accountId, ctx, reply, () => {
        failed = true;
      });
    } finally {
      if (!failed) await failures.refund(reservation);
    }
  });

  /** The login itself, once an attempt is reserved; `markFailed` keeps the reservation as a failure. */
  async function checkedLogin(email: string, password: string, accountId: string | undefined, ctx: CallContext, reply: FastifyReply, markFailed: () => void) {
    const candidates = await sql.all<UserRow>(`SELECT * FROM users WHERE email = ? ${accountId ? 'AND account_id = ?' : ''}`, [
      email,
      ...(accountId ? [accountId] : []),
    ]);
    // Check the password against every match first: asking for account_id before that would
    // tell anyone that this email exists in several tenants.
    const matches: UserRow[] = [];
    for (const u of candidates) if (await verifyPassword(password, u.password_hash)) matches.push(u);
    if (candidates.length === 0) await verifyPassword(password, undefined);
    if (matches.length > 1) throw invalidArgument('this email and password belong to several accounts: give account_id');
    const user = matches[0] ?? (candidates.length === 1 ? candidates[0] : undefined);
    const ok = matches.length === 1;
    if (!user || !ok) {
      markFailed();
      if (user) {
        // An email that belongs to an account: the failure goes to that account's audit log.
        await recordRefusal(
          cp,
          callerOf(user),
          ctx,
          'UserLogin',
          buildDetails('UserLogin', { target_users: [email], method: 'password' }),
          unauthenticated('wrong password'),
        );
      } else {
        cp.metrics?.authFailures.inc({ reason: 'login' });
        cp.logger?.info({ peer: ctx.peer }, 'login refused: unknown email');
      }
      throw unauthenticated('wrong email or password');
    }
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
        records: [
          buildRecord(
            cp,
            callerOf(user),
            ctx,
            {
              operation: 'UserLogin',
              details: buildDetails('UserLogin', { target_users: [email], method: 'password' }),
              status: 'OK',
              requestId: ctx.requestId,
            },
            now,
          ),
        ],
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
  }

  app.get('/auth/session', async (req) => {
    const token = cookieValue(req.headers.cookie, SESSION_COOKIE);
    if (token) {
      try {
        const caller = await callerFromSession(sql, token, { mutating: false, csrf: undefined });
        const row = await sql.get<{ csrf_token: string }>('SELECT csrf_token FROM sessions WHERE token_hash = ?', [sha256Hex(token)]);
        if (row)
          return { signed_in: true, account_id: caller.accountId, user_id: caller.userId, email: caller.email, role: caller.role, csrf_token: row.csrf_token };
      } catch {
        // expired or unknown: answered as signed out
      }
    }
    const file = join(cp.config.dataDir, 'initial-admin.json');
    const shown = relative(process.cwd(), file);
    return {
      signed_in: false,
      initial_admin_file: existsSync(file)
        ? shown.startsWith('..') || isAbsolute(shown)
          ? 'initial-admin.json in the data directory (AUDITSTREAM_DATA_DIR)'
          : shown
        : null,
    };
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
      if (!u || u.invite_expires_ms === null || Number(u.invite_expires_ms) < Date.now())
        throw unauthenticated('invitation token is unknown or expired: ask for a new invitation');
      await tx.run(
        'UPDATE users SET password_hash = ?, invite_token_hash = NULL, invite_created_ms = NULL, invite_expires_ms = NULL, modified_ms = ? WHERE id = ?',
        [hash, Date.now(), u.id],
      );
      await tx.append({
        accountId: u.account_id,
        records: [
          buildRecord(cp, callerOf(u), ctx, {
            operation: 'UpdateUser',
            details: buildDetails('UpdateUser', { target_users: [u.email], invitation: 'accepted' }),
            status: 'OK',
          }),
        ],
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
        // Nobody obtains a way into an account above their own (a Global Admin, the Owner's).
        guardRank(caller, user.role, 'an invitation');
        if (user.password_hash) throw new AuditError('AS_ERR_FAILED_PRECONDITION', `user ${user.email} has already accepted the invitation`);
        issued = await issueInvitation(tx, user.id, op.now);
        return { details: buildDetails('InviteUsers', { target_users: [user.email], account_role: user.role }), response: {} };
      },
    });
    return {
      user_id: userId,
      email,
      token: issued!.token,
      expires_at: new Date(issued!.expiresMs).toISOString(),
      accept: 'POST /auth/accept-invite {"token", "password"}',
    };
  });
}
