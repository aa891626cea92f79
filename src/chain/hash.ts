/**
 * The per-account hash chain. Each stored record's hash covers
 * (account id, sequence, previous hash, canonical JSON of the record), so editing, reordering,
 * deleting in the middle or moving a row to another account all break a link that
 * `verifyChain` recomputes. Truncating the tail is caught by signed checkpoints (checkpoint.ts).
 */
import { createHash } from 'node:crypto';

/** `prev_hash` of the first record of an account's chain. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * Canonical JSON (RFC 8785 style for the values a record holds): object keys sorted by UTF-16
 * code units, no whitespace, numbers and strings as `JSON.stringify` writes them.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const text = JSON.stringify(value);
    // undefined, functions and symbols have no JSON form; a record never holds them.
    if (text === undefined) throw new TypeError('canonicalJson: value has no JSON form');
    return text;
  }
  // One string built left to right, no intermediate arrays of parts: this runs once per stored
  // record, and its garbage was a visible share of ingest's GC time (BENCHMARKS.md).
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + canonicalJson(value[i]);
    return `${out}]`;
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  let out = '{';
  for (const k of keys) {
    const v = obj[k];
    if (v === undefined) continue;
    out += (out.length === 1 ? '' : ',') + JSON.stringify(k) + ':' + canonicalJson(v);
  }
  return `${out}}`;
}

/** The hash of one link. Account ids never contain a newline (validated where they are made). */
export function linkHash(accountId: string, seq: number, prevHash: string, canonicalRecord: string): string {
  return createHash('sha256')
    .update(accountId)
    .update('\n')
    .update(String(seq))
    .update('\n')
    .update(prevHash)
    .update('\n')
    .update(canonicalRecord)
    .digest('hex');
}

/**
 * A record's content digest: the first 16 hex digits of SHA-256 over its canonical JSON.
 * `ChainCheckpoint` records list it per covered record so a consumer can name exactly which
 * record is missing, altered or reordered; the proof itself is the full link hash.
 */
export function recordDigest(canonicalRecord: string): string {
  return createHash('sha256').update(canonicalRecord).digest('hex').slice(0, 16);
}
