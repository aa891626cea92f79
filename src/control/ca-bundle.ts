/**
 * CA bundles as the Cloud API takes them: a namespace's `mtls_auth.accepted_client_ca` and the
 * account's observability `metrics.accepted_client_ca`. Checked once when set, stored as base64
 * of the bytes as sent, identified in audit records by one fingerprint per certificate.
 */
import { X509Certificate, createHash } from 'node:crypto';
import { invalidArgument } from '../errors.js';

/** Temporal Cloud's limit on a namespace's CA bundle: 32 KB or 16 certificates. */
export const MAX_CA_BYTES = 32 * 1024;
export const MAX_CA_CERTIFICATES = 16;

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Bytes of a `bytes` field as handlers may see them (Buffer; defensive about base64 strings). */
export function bytesOf(v: unknown): Buffer {
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof Uint8Array) return Buffer.from(v);
  if (typeof v === 'string') return Buffer.from(v, 'base64');
  return Buffer.alloc(0);
}

/**
 * The PEM text of a CA bundle field. The API documents the bytes as base64 of the PEM; raw PEM
 * bytes are accepted too.
 */
function pemTextOf(raw: Buffer, field: string): string {
  const text = raw.toString('utf8').trim();
  if (text.includes('-----BEGIN')) return text;
  if (!/^[A-Za-z0-9+/=_\s-]+$/.test(text)) throw invalidArgument(`${field} must be base64 of PEM certificates`);
  return Buffer.from(text, 'base64').toString('utf8');
}

/** Hex MD5 over a certificate's DER: the 32-hex `client_ca_fingerprints` form of the seeds. */
export function certificateFingerprint(cert: X509Certificate): string {
  return createHash('md5').update(cert.raw).digest('hex');
}

/** Fingerprints of a stored bundle (no validity checks: it was checked when set). */
export function fingerprintsOfStored(b64: string): string[] {
  if (!b64) return [];
  const pem = pemTextOf(Buffer.from(b64, 'base64'), 'accepted_client_ca');
  return (pem.match(PEM_CERT) ?? []).map((block) => certificateFingerprint(new X509Certificate(block)));
}

export interface CaBundle {
  /** base64 of the bytes as given. */
  stored: string;
  /** One per certificate, in bundle order. */
  fingerprints: string[];
}

/**
 * Validates a CA bundle: base64 (or raw) PEM, 1–16 certificates, at most 32 KB, each a parsable
 * X.509 CA certificate that has not expired. Empty input gives undefined.
 */
export function checkCaBundle(raw: Buffer, field: string, now = Date.now()): CaBundle | undefined {
  if (raw.length === 0) return undefined;
  const pem = pemTextOf(raw, field);
  if (Buffer.byteLength(pem) > MAX_CA_BYTES) throw invalidArgument(`${field} must be at most ${MAX_CA_BYTES / 1024} KB of PEM`);
  const blocks = pem.match(PEM_CERT) ?? [];
  if (blocks.length === 0) throw invalidArgument(`${field} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  if (blocks.length > MAX_CA_CERTIFICATES) throw invalidArgument(`${field} may hold at most ${MAX_CA_CERTIFICATES} certificates, got ${blocks.length}`);
  const fingerprints = blocks.map((block, i) => {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(block);
    } catch {
      throw invalidArgument(`${field}: certificate ${i + 1} is not a valid X.509 certificate`);
    }
    if (!cert.ca)
      throw invalidArgument(`${field}: certificate ${i + 1} (${cert.subject.replace(/\n/g, ', ')}) is not a CA certificate (basicConstraints CA:TRUE)`);
    if (Date.parse(cert.validTo) <= now)
      throw invalidArgument(`${field}: certificate ${i + 1} (${cert.subject.replace(/\n/g, ', ')}) expired on ${cert.validTo}`);
    return certificateFingerprint(cert);
  });
  return { stored: raw.toString('base64'), fingerprints };
}
