/**
 * One batch as one object: the records' stored JSON texts, one per line (each entry's data is the
 * record as stored plus "\n"), gzipped. Deterministic: gzip with fixed settings writes no time or
 * name into its header (Node's zlib leaves MTIME 0), so the same records give the same bytes, and
 * a resend of a batch (stable boundaries, docs/decisions/0022-deterministic-object-batches.md)
 * rewrites its object identically.
 */
import { gzip, constants } from 'node:zlib';
import { promisify } from 'node:util';
import type { EncodedEntry } from '../../delivery/adapter.js';

const gzipAsync = promisify(gzip);

/** Fixed settings: part of the format (changing them changes the bytes of a resent object). */
export const GZIP_OPTIONS = Object.freeze({ level: 6, memLevel: 8, windowBits: 15, strategy: constants.Z_DEFAULT_STRATEGY });

/** The object body of a batch (off the event loop: zlib's thread pool). */
export function gzipBatch(entries: readonly EncodedEntry[]): Promise<Buffer> {
  return gzipAsync(Buffer.concat(entries.map((e) => e.data)), GZIP_OPTIONS);
}

/** The `emit_time` of an entry's record (the first record's names the object's date path). */
export function emitTimeOf(entry: EncodedEntry): unknown {
  try {
    return (JSON.parse(entry.data.toString('utf8')) as { emit_time?: unknown }).emit_time;
  } catch {
    return undefined;
  }
}
