/** The browser session cookie: its name and how a request's `Cookie` header is read. */

/** Name of the session cookie `POST /auth/login` sets (HttpOnly; SameSite=Strict). */
export const SESSION_COOKIE = 'auditstream_session';

/** The value of cookie `name` in a `Cookie` header, or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return undefined;
}
