/**
 * Sink secrets at rest (webhook signing secrets, extra header values): AES-256-GCM under a
 * 32-byte key file (`AUDITSTREAM_SECRETS_KEY`, default `<data dir>/secrets-key`, generated with
 * mode 0600 on first use like the signing key). A sealed value is `as-sealed:v1:<base64url of
 * iv(12) | tag(16) | ciphertext>`; the database never holds a secret in clear.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { AuditError } from '../errors.js';
import type { SecretSealer } from './driver.js';

const PREFIX = 'as-sealed:v1:';

export class SecretBox implements SecretSealer {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new AuditError('AS_ERR_INVALID_ARGUMENT', 'the sink secrets key must be 32 bytes');
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
    return PREFIX + Buffer.concat([iv, c.getAuthTag(), body]).toString('base64url');
  }

  open(sealed: string): string {
    if (!this.isSealed(sealed)) throw new Error('not a sealed secret');
    const raw = Buffer.from(sealed.slice(PREFIX.length), 'base64url');
    const d = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
    d.setAuthTag(raw.subarray(12, 28));
    try {
      return Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString('utf8');
    } catch {
      throw new Error('a sink secret cannot be opened with this AUDITSTREAM_SECRETS_KEY (was the key file replaced?)');
    }
  }

  isSealed(value: string): boolean {
    return value.startsWith(PREFIX);
  }
}

/** Loads the key file (hex or raw 32 bytes), generating it (mode 0600) when absent and allowed. */
export function loadSecretBox(path: string, generate: boolean): SecretBox {
  if (!existsSync(path)) {
    if (!generate) throw new AuditError('AS_ERR_INVALID_ARGUMENT', `sink secrets key ${path} does not exist`);
    mkdirSync(dirname(path), { recursive: true });
    try {
      writeFileSync(path, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
    } catch (err) {
      // Another process generated it at the same moment: use theirs.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  const raw = readFileSync(path);
  const text = raw.toString('utf8').trim();
  const key = /^[0-9a-f]{64}$/i.test(text) ? Buffer.from(text, 'hex') : raw;
  if (key.length !== 32) throw new AuditError('AS_ERR_INVALID_ARGUMENT', `sink secrets key ${path} must hold 32 bytes (64 hex digits)`);
  return new SecretBox(key);
}

let configured: SecretBox | undefined;

/** Sets the process's box (`serve` does, from its configuration). */
export function configureSecretBox(box: SecretBox): void {
  configured = box;
}

/**
 * The process's box: the configured one, else the default key file (`./data/secrets-key`,
 * generated on first use).
 */
export function secretBox(): SecretBox {
  // `serve` configures it from its settings; a process that did not (a test, a tool) gets the
  // default key file of the default data directory.
  if (!configured) configured = loadSecretBox('./data/secrets-key', true);
  return configured;
}
