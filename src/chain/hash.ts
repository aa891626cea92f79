/**
 * The per-account hash chain. Each stored record's hash covers
 * (account id, sequence, previous hash, canonical JSON of the record), so editing, reordering,
 * deleting in the middle or moving a row to another account all break a link that
 * `verifyChain` recomputes. Truncating the tail is caught by signed checkpoints (checkpoint.ts).
 */
import { hash } from 'node:crypto';

/** `prev_hash` of the first record of an account's chain. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * Canonical JSON (RFC 8785 style for the values a record holds): object keys sorted by UTF-16
 * code units, no whitespace, numbers and strings as `JSON.stringify` writes them.
 */
export function canonicalJson(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || typeof value !== 'object') {
    const text = JSON.stringify(value);
    // undefined, functions and symbols have no JSON form; a record never holds them.
    if (text === undefined) throw new TypeError('canonicalJson: value has no JSON form');
    return text;
  }
  // Loops and string appends rather than map/filter/join: it runs for every record stored,
  // delivered and consumed, and the intermediate arrays were a good part of its cost.
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i > 0 ? ',' : '') + canonicalJson(value[i]);
    return `${out}]`;
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  // Objects whose keys are in order already (small nested ones often are) skip the sort.
  for (let i = 1; i < keys.length; i++) {
    if (keys[i - 1]! > keys[i]!) {
      keys.sort();
      break;
    }
  }
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    const v = obj[k];
    if (v === undefined) continue;
    // A string value (most of them) is written here, without a call that checks its type again.
    out += `${out.length > 1 ? ',' : ''}${JSON.stringify(k)}:${typeof v === 'string' ? JSON.stringify(v) : canonicalJson(v)}`;
  }
  return `${out}}`;
}

/** The hash of one link. Account ids never contain a newline (validated where they are made). */
export function linkHash(accountId: string, seq: number, prevHash: string, canonicalRecord: string): string {
  // One-shot `hash` over the joined text: the same bytes as feeding the parts one by one (UTF-8
  // of a concatenation is the concatenation of the UTF-8s; the parts are split at a newline, so
  // no surrogate pair spans two of them), without a Hash object and four updates per record.
  return hash('sha256', `${accountId}\n${seq}\n${prevHash}\n${canonicalRecord}`, 'hex');
}

/**
 * A record's content digest: the first 16 hex digits of SHA-256 over its canonical JSON.
 * `ChainCheckpoint` records list it per covered record so a consumer can name exactly which
 * record is missing, altered or reordered; the proof itself is the full link hash.
 */
export function recordDigest(canonicalRecord: string): string {
  return hash('sha256', canonicalRecord, 'hex').slice(0, 16);
}
