/**
 * Object keys and bucket/prefix rules of the S3 sink.
 *
 * A batch's key is `<prefix>/<account>/<YYYY>/<MM>/<DD>/<HH>/<first-seq>-<last-seq>.jsonl.gz`:
 * the date path is the FIRST record's `emit_time` in UTC (a property of the records, so a resend
 * names the same key, unlike the wall clock), and both sequences are zero-padded to 20 digits so
 * that the keys of one account sort, as strings, in chain order (what a consumer's ListObjectsV2
 * returns). Verify's test objects go under `<prefix>/_auditstream-verify/`, outside every
 * account's path, and are deleted at once.
 */

/** Digits of a sequence in a key: every non-negative safe integer fits. */
export const SEQ_DIGITS = 20;
/** Where Verify writes (and deletes) its test objects, under the sink's prefix. */
export const VERIFY_DIR = '_auditstream-verify';
/** Longest prefix in UTF-8 bytes: S3 keys are at most 1,024 bytes, and the rest of a key needs room. */
export const MAX_PREFIX_BYTES = 900;

export function padSeq(seq: number): string {
  return String(seq).padStart(SEQ_DIGITS, '0');
}

/** `YYYY/MM/DD/HH` of an RFC 3339 time in UTC; the epoch's when it does not parse (never for a stored record). */
export function hourPath(emitTime: unknown): string {
  const ms = typeof emitTime === 'string' ? Date.parse(emitTime) : NaN;
  const d = new Date(Number.isFinite(ms) ? ms : 0);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}/${p(d.getUTCMonth() + 1)}/${p(d.getUTCDate())}/${p(d.getUTCHours())}`;
}

/** The key of the object holding records `firstSeq..lastSeq` of `accountId`. */
export function objectKey(prefix: string, accountId: string, firstEmitTime: unknown, firstSeq: number, lastSeq: number): string {
  return `${prefix}/${accountId}/${hourPath(firstEmitTime)}/${padSeq(firstSeq)}-${padSeq(lastSeq)}.jsonl.gz`;
}

const KEY_TAIL = new RegExp(`^([^/]+)/\\d{4}/\\d{2}/\\d{2}/\\d{2}/(\\d{${SEQ_DIGITS}})-(\\d{${SEQ_DIGITS}})\\.jsonl\\.gz$`);

/**
 * The reverse of `objectKey` for what follows `<prefix>/`: the account and the sequences an
 * object holds (what a consumer lists), or undefined for any other key.
 */
export function parseObjectKeyTail(tail: string): { account: string; first: number; last: number } | undefined {
  const m = KEY_TAIL.exec(tail);
  return m ? { account: m[1]!, first: Number(m[2]), last: Number(m[3]) } : undefined;
}

/** Why S3 would refuse (or auditstream will not use) a bucket name; undefined when it is fine. */
export function bucketNameProblem(name: string): string | undefined {
  // https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html (general purpose buckets)
  if (name.length < 3 || name.length > 63) return 'must be 3-63 characters';
  if (!/^[a-z0-9.-]+$/.test(name)) return 'may hold only lowercase letters, digits, "." and "-"';
  if (!/^[a-z0-9]/.test(name) || !/[a-z0-9]$/.test(name)) return 'must begin and end with a letter or digit';
  if (name.includes('..')) return 'must not have two adjacent periods';
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(name)) return 'must not be formatted as an IP address';
  if (/^(xn--|sthree-|amzn-s3-demo-)/.test(name)) return 'must not start with xn--, sthree- or amzn-s3-demo-';
  if (/(-s3alias|--ol-s3|\.mrap|--x-s3|--table-s3)$/.test(name)) return 'must not end with -s3alias, --ol-s3, .mrap, --x-s3 or --table-s3 (reserved suffixes)';
  return undefined;
}

/**
 * Why a prefix is refused; undefined when it is fine. Letters, digits and `!_.'()=-` in segments
 * separated by single "/" (S3's "safe characters"; no `*` or `?`, which IAM policies read as
 * wildcards, so the role's `s3:PutObject` stays on this prefix only).
 */
export function prefixProblem(prefix: string): string | undefined {
  if (prefix === '') return 'is required (the role may write under that prefix only)';
  if ([...prefix].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) return 'must not contain control characters';
  if (prefix.startsWith('/')) return 'must not start with "/"';
  if (Buffer.byteLength(prefix, 'utf8') > MAX_PREFIX_BYTES) return `must be at most ${MAX_PREFIX_BYTES} bytes (S3 keys are at most 1,024)`;
  const segments = prefix.replace(/\/$/, '').split('/');
  if (segments.some((s) => s === '..' || s === '.')) return 'must not contain "." or ".." segments';
  if (segments.some((s) => s === '')) return 'must not contain empty segments ("//")';
  if (!segments.every((s) => /^[A-Za-z0-9!_.'()=-]+$/.test(s))) return `may hold only letters, digits and !_.'()=- between "/"`;
  if (segments[0] === VERIFY_DIR) return `must not start with ${VERIFY_DIR}`;
  return undefined;
}

/** The stored form of a valid prefix: without a trailing "/". */
export function cleanPrefix(prefix: string): string {
  return prefix.replace(/\/$/, '');
}
