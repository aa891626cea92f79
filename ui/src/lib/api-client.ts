/**
 * The one client over auditstream's public endpoints (`/auth`, `/cloud` proto3 JSON, `/api/v1`).
 * The session is the HttpOnly cookie `POST /auth/login` sets; state-changing calls send the
 * session's CSRF token as `x-csrf-token`. The token lives in memory only (re-read from
 * `GET /auth/session` after a reload), never in browser storage. A 401 sends the user to the
 * sign-in page with a redirect back.
 */

/** An error answer of any of the three APIs, with its `AS_ERR_*` code when it has one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

let csrfToken: string | undefined;
let onUnauthorized: (() => void) | undefined;

/** Sets (or clears) the CSRF token of the current session. */
export function setCsrfToken(token: string | undefined): void {
  csrfToken = token;
}

/** What to do when a call answers 401 (the router sends the user to sign in). */
export function setUnauthorizedHandler(fn: () => void): void {
  onUnauthorized = fn;
}

interface ErrorShape {
  error?: { code?: string; message?: string };
  message?: string;
  details?: { reason?: string }[];
}

async function toError(res: Response): Promise<ApiError> {
  const text = await res.text();
  try {
    const body = JSON.parse(text) as ErrorShape;
    // /api/v1 and /auth: {"error": {code, message}}; /cloud: grpc-gateway {code, message, details}.
    const message = body.error?.message ?? body.message ?? (text || res.statusText);
    const code = body.error?.code ?? body.details?.[0]?.reason;
    return new ApiError(res.status, message, code);
  } catch {
    return new ApiError(res.status, text || res.statusText, undefined);
  }
}

export interface RequestOptions {
  body?: unknown;
  /** Do not redirect to sign-in on 401 (the sign-in call itself). */
  noRedirect?: boolean;
  signal?: AbortSignal;
}

/** One JSON call; throws ApiError for any non-2xx answer. */
export async function api<T>(method: 'GET' | 'POST' | 'DELETE', path: string, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  const res = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  if (!res.ok) {
    const err = await toError(res);
    if (res.status === 401 && !opts.noRedirect) onUnauthorized?.();
    throw err;
  }
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

/** A GET whose answer is kept as the exact text the server sent (a stored record's bytes). */
export async function apiText(path: string, opts: Pick<RequestOptions, 'signal'> = {}): Promise<string> {
  const res = await fetch(path, { headers: { accept: 'application/json' }, credentials: 'same-origin', ...(opts.signal ? { signal: opts.signal } : {}) });
  if (!res.ok) {
    const err = await toError(res);
    if (res.status === 401) onUnauthorized?.();
    throw err;
  }
  return res.text();
}

/** A fresh id for `async_operation_id`: a retry of the same click is never applied twice. */
export function operationId(): string {
  return crypto.randomUUID();
}

/** Path-segment encoding for names in URLs. */
export const seg = encodeURIComponent;
