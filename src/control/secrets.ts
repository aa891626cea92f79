/**
 * Secrets of the control plane: API keys, passwords, session and invitation tokens.
 *
 * API key secrets are 32 random bytes and stored only as SHA-256 (docs/decisions/0008: a slow hash on
 * every request would cap ingest; a 256-bit random secret needs no stretching). Passwords are
 * chosen by people, so they get scrypt with a per-password salt.
 */
import { createHash, randomBytes, randomUUID, scrypt, timingSafeEqual } from 'node:crypto';

const ALNUM = '0123456789abcdefghijklmnopqrstuvwxyz';

/** Random lowercase alphanumerics (rejection sampling keeps the distribution uniform). */
export function randomId(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const b of randomBytes(length * 2)) {
      if (b < 252 && out.length < length) out += ALNUM[b % 36];
    }
  }
  return out;
}

export const newUserId = (): string => randomUUID();
export const newAccountId = (): string => randomId(8);
export const newApiKeyId = (): string => randomId(24);

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Constant-time comparison of two hex digests. */
export function digestsEqual(a: string, b: string): boolean {
  const ba = Buffer.from(a, 'hex');
  const bb = Buffer.from(b, 'hex');
  return ba.length === bb.length && ba.length > 0 && timingSafeEqual(ba, bb);
}

const KEY_PREFIX = 'as_';

/** A new API key token `as_<key id>_<secret>`; the id lets the server find the row without a scan. */
export function newApiKeyToken(keyId: string): string {
  return `${KEY_PREFIX}${keyId}_${randomBytes(32).toString('base64url')}`;
}

/** The key id inside a token, or undefined when it is not one of ours. */
export function keyIdOfToken(token: string): string | undefined {
  const m = /^as_([0-9a-z]{24})_[A-Za-z0-9_-]{43}$/.exec(token);
  return m?.[1];
}

/** An opaque random token (sessions, invitations, CSRF). */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 32 };

function scryptAsync(password: string, salt: Buffer, N: number, r: number, p: number, keylen: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password, salt, keylen, { N, r, p, maxmem: 64 * 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

/** `scrypt$N$r$p$salt$hash` (base64url parts). */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, SCRYPT.N, SCRYPT.r, SCRYPT.p, SCRYPT.keylen);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

export async function verifyPassword(password: string, stored: string | null | undefined): Promise<boolean> {
  const parts = (stored ?? '').split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') {
    // Spend comparable time so an unknown user is not told apart by timing.
    await scryptAsync(password, Buffer.alloc(16), SCRYPT.N, SCRYPT.r, SCRYPT.p, SCRYPT.keylen);
    return false;
  }
  const [, n, r, p, salt, hash] = parts as [string, string, string, string, string, string];
  const expected = Buffer.from(hash, 'base64url');
  const key = await scryptAsync(password, Buffer.from(salt, 'base64url'), Number(n), Number(r), Number(p), expected.length);
  return timingSafeEqual(key, expected);
}

/** Password rules: long enough to matter, short enough not to be a denial of service for scrypt. */
export function passwordProblem(password: unknown): string | undefined {
  if (typeof password !== 'string') return 'password must be a string';
  if (password.length < 12) return 'password must be at least 12 characters';
  if (password.length > 256) return 'password must be at most 256 characters';
  return undefined;
}

/** A generated password for first-start credentials. */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}
