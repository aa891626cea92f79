/**
 * Reads a webhook send (every part's answer, adapter.ts) into a verdict:
 * - every part 2xx: `ok`;
 * - 429: `throttle` from the first unaccepted record, after `Retry-After` when given;
 * - 408 and 5xx: `throttle` after `Retry-After` when given, else `retry`, from that record;
 * - 413 for one record: that record can never go (`reject`, dead-lettered);
 * - any other status (400, 401, 403, 404, 3xx: redirects are not followed): `fatal`, the status
 *   and the start of the answer in the sink's health;
 * - the SSRF guard or a TLS certificate failure: `fatal` (configuration); other network errors:
 *   `retry`.
 */
import type { EncodedEntry, Verdict, VerifyCause, VerifyResult, SendOutcome } from '../../delivery/adapter.js';
import { ForbiddenAddressError } from './network.js';

/** One request of a send: records [from, to) of the batch and what came back. */
export interface WebhookPart {
  from: number;
  to: number;
  status?: number;
  retryAfter?: string | undefined;
  snippet?: string;
  error?: unknown;
}

export interface WebhookSendResult {
  total: number;
  host: string;
  parts: WebhookPart[];
}

const TLS_CODES = /^(CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH|ERR_SSL_)/;

/** `Retry-After` (seconds or an HTTP date) in ms, capped at 10 minutes; undefined when absent or unreadable. */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  const ms = /^\d+$/.test(v) ? Number(v) * 1000 : Date.parse(v) - now;
  return Number.isFinite(ms) ? Math.min(Math.max(ms, 0), 600_000) : undefined;
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

function errorText(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return `${e?.code ? `${e.code}: ` : ''}${e?.message ?? String(err)}`;
}

export function classifyWebhook(outcome: SendOutcome, entries: readonly EncodedEntry[]): Verdict {
  if (outcome.error !== undefined) return { kind: 'retry', reason: `webhook send failed: ${errorText(outcome.error)}` };
  const r = outcome.value as WebhookSendResult;
  const failed = r.parts.find((p) => p.error !== undefined || p.status === undefined || p.status < 200 || p.status > 299);
  if (!failed) return { kind: 'ok' };
  const rest = range(failed.from, entries.length);
  if (failed.error !== undefined) {
    const code = (failed.error as { code?: string }).code ?? '';
    if (failed.error instanceof ForbiddenAddressError || TLS_CODES.test(code))
      return { kind: 'fatal', reason: `webhook ${r.host}: ${errorText(failed.error)}` };
    return { kind: 'retry', only: rest, reason: `webhook ${r.host}: ${errorText(failed.error)}` };
  }
  const status = failed.status!;
  const reason = `webhook ${r.host} answered HTTP ${status}${failed.snippet ? `: ${failed.snippet.replace(/\s+/g, ' ').trim()}` : ''}`;
  const after = retryAfterMs(failed.retryAfter);
  if (status === 429) return { kind: 'throttle', only: rest, reason, ...(after !== undefined ? { afterMs: after } : {}) };
  if (status === 408 || status >= 500)
    return after !== undefined ? { kind: 'throttle', only: rest, afterMs: after, reason } : { kind: 'retry', only: rest, reason };
  if (status === 413) return { kind: 'reject', only: [failed.from], reason };
  return { kind: 'fatal', reason };
}

/** Verify's cause for a failed webhook send. */
export function diagnoseWebhook(outcome: SendOutcome, verdict: Verdict): VerifyResult {
  if (verdict.kind === 'ok') return { ok: true };
  const fail = (cause: VerifyCause): VerifyResult => ({ ok: false, cause, message: verdict.reason });
  const r = outcome.value as WebhookSendResult | undefined;
  const last = r?.parts[r.parts.length - 1];
  if (!last || last.error !== undefined) return fail('endpoint_unreachable');
  if (last.status === 401 || last.status === 403) return fail('permission_denied');
  if (last.status === 404 || last.status === 410) return fail('destination_not_found');
  return fail('unknown');
}
