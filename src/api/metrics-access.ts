/**
 * Who may read `/metrics` (`AUDITSTREAM_METRICS_ACCESS`). Metrics name routes, tenants' traffic
 * and failure counts: not for anyone on the network by default.
 *
 * - `loopback` (default): only callers on this machine. A request that came through a proxy (it
 *   carries `X-Forwarded-For` or `Forwarded`) counts as local only when that proxy is trusted
 *   (`AUDITSTREAM_TRUSTED_PROXIES`) and the caller it names is itself a loopback address: a
 *   reverse proxy on the same machine does not open the endpoint to the whole network.
 * - `token:<secret>` (at least 16 characters): `Authorization: Bearer <secret>` from anywhere.
 * - `open`: anyone who can reach the port.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { AuditError } from '../errors.js';
import { buildCallerIpChain, evaluateCallerIp, normalizeIp, type TrustedProxies } from '../record/caller-ip.js';
import { bearerSecret, secretsEqual } from './auth.js';

export type MetricsAccess = { mode: 'loopback' } | { mode: 'open' } | { mode: 'token'; token: string };

/** Parses the setting; throws AS_ERR_INVALID_ARGUMENT naming it. */
export function parseMetricsAccess(raw: string, name: string): MetricsAccess {
  const text = raw.trim();
  if (text === 'loopback') return { mode: 'loopback' };
  if (text === 'open') return { mode: 'open' };
  if (text.startsWith('token:')) {
    const token = text.slice('token:'.length);
    if (token.length < 16 || /\s/.test(token))
      throw new AuditError('AS_ERR_INVALID_ARGUMENT', `${name}: the token after "token:" must be at least 16 characters without spaces`);
    return { mode: 'token', token };
  }
  throw new AuditError('AS_ERR_INVALID_ARGUMENT', `${name} must be loopback, open or token:<secret>, got "${raw}"`);
}

function isLoopback(ip: string | null): boolean {
  return ip !== null && (ip === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(ip));
}

/** Throws 401/403 unless this request may read the metrics. */
export function checkMetricsAccess(access: MetricsAccess, headers: IncomingHttpHeaders, socketPeer: string | undefined, trusted: TrustedProxies): void {
  if (access.mode === 'open') return;
  if (access.mode === 'token') {
    const secret = bearerSecret(headers.authorization);
    if (!secret || !secretsEqual(secret, access.token))
      throw new AuditError('AS_ERR_UNAUTHENTICATED', '/metrics needs "Authorization: Bearer <token>" (AUDITSTREAM_METRICS_ACCESS)');
    return;
  }
  const denied = () => new AuditError('AS_ERR_PERMISSION_DENIED', '/metrics answers only callers on this machine (AUDITSTREAM_METRICS_ACCESS=loopback)');
  const peer = normalizeIp(socketPeer ?? '');
  if (!isLoopback(peer)) throw denied();
  const xff = headers['x-forwarded-for'];
  if (xff === undefined && headers['forwarded'] === undefined) return;
  // Forwarded by a local proxy: local only if that proxy is trusted and names a local caller.
  if (headers['forwarded'] !== undefined || !trusted.has(peer!)) throw denied();
  if (!isLoopback(evaluateCallerIp(buildCallerIpChain(xff, peer!), trusted))) throw denied();
}
