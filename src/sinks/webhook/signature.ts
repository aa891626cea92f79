/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com/): headers `webhook-id`,
 * `webhook-timestamp` (Unix seconds) and `webhook-signature` = space-separated `v1,<base64 of
 * HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`, one per active secret (two during a rotation).
 * A secret is `whsec_<base64 of the key>`.
 */
import { createHmac, randomBytes } from 'node:crypto';

/** A new signing secret: 32 random bytes. */
export function newSigningSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

function keyOf(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');
}

/** The `webhook-signature` header for a body, signed with each secret. */
export function signatureHeader(secrets: readonly string[], id: string, timestamp: number, body: Buffer): string {
  return secrets.map((s) => `v1,${createHmac('sha256', keyOf(s)).update(`${id}.${timestamp}.`).update(body).digest('base64')}`).join(' ');
}
