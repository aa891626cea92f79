/**
 * Which strings auditstream stores: well-formed Unicode without NUL, everywhere (values and
 * keys, at any depth). Both are refused rather than repaired, so that what is stored is exactly
 * what was sent:
 * - a lone UTF-16 surrogate (`"\ud800"` in JSON) is not Unicode; UTF-8 databases and encoders
 *   replace it with U+FFFD, so the indexed columns, exports and sinks would differ from the
 *   hashed record and `verify` would report an untouched chain as broken;
 * - NUL (U+0000) cannot be stored in a PostgreSQL text value at all, and SQLite accepting it
 *   would make the two engines disagree on the same input.
 * The same walk bounds nesting depth, so nothing recursive downstream (JSON.stringify, canonical
 * hashing, Struct conversion) can overflow the stack.
 */
import { joinPath, shortenKey } from './field-path.js';

/** A string value or key that cannot be stored, or nesting beyond the limit: named by its path. */
export interface TextProblem {
  /** Readable path of the offending value (`details.note`, `principal.id`); for a key, the key's own path. */
  field: string;
  message: string;
}

// A NUL, a high surrogate not followed by a low one, or a low one not preceded by a high one.
// eslint-disable-next-line no-control-regex -- finding NUL is the point
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why `s` cannot be stored, or undefined when it can. */
export function unstorableReason(s: string): string | undefined {
  const m = UNSTORABLE.exec(s);
  if (m === null) return undefined;
  const at = `at character ${m.index}`;
  if (m[0] === '\u0000') return `contains a NUL character (U+0000) ${at}, which cannot be stored`;
  const unit = m[0].charCodeAt(0).toString(16).toUpperCase();
  return `contains a lone UTF-16 surrogate (\\u${unit}) ${at}: not valid Unicode, so it cannot be stored exactly`;
}

/** True when `s` can be stored and read back exactly by both engines and every export. */
export function isStorableText(s: string): boolean {
  return !UNSTORABLE.test(s);
}

/**
 * The first problem in a parsed JSON value (or a protobuf plain object): an unstorable string
 * value or key, or nesting deeper than `maxDepth` (the value itself is level 1). Walks without
 * recursion, and stops at the depth limit, so any input is safe to check.
 *
 * @param prefix readable path of `value` itself (`''` for a whole body, `details`...).
 */
export function findTextProblem(value: unknown, maxDepth: number, prefix = ''): TextProblem | undefined {
  // Nearly every value is clean: check that first without building a path per node, and walk
  // again with paths only to name what is wrong.
  if (isClean(value, 1, maxDepth)) return undefined;
  const stack: { v: unknown; path: string; depth: number }[] = [{ v: value, path: prefix, depth: 1 }];
  while (stack.length > 0) {
    const { v, path, depth } = stack.pop()!;
    if (typeof v === 'string') {
      const why = unstorableReason(v);
      if (why) return { field: path, message: `${path || 'value'} ${why}` };
      continue;
    }
    if (v === null || typeof v !== 'object' || Buffer.isBuffer(v)) continue;
    if (depth > maxDepth) {
      return { field: path, message: `${path || 'value'} is nested deeper than ${maxDepth} levels` };
    }
    // Pushed in reverse so the first problem in document order is the one reported.
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], path: joinPath(path, String(i)), depth: depth + 1 });
      continue;
    }
    const keys = Object.keys(v);
    for (const k of keys) {
      const why = unstorableReason(k);
      if (why) return { field: joinPath(path, shortenKey(k)), message: `key ${JSON.stringify(shortenKey(k))} ${why}` };
    }
    for (let i = keys.length - 1; i >= 0; i--) {
      const k = keys[i]!;
      stack.push({ v: (v as Record<string, unknown>)[k], path: joinPath(path, shortenKey(k)), depth: depth + 1 });
    }
  }
  return undefined;
}

/** String with ES2024's `isWellFormed` (Node 20 has it; the compile target's library does not). */
type WellFormedCheck = string & { isWellFormed(): boolean };

/**
 * Whether `findTextProblem` finds nothing: the same strings, keys and depth rule, no paths. The
 * recursion stops at the depth limit, so it is at most `maxDepth` + 1 calls deep.
 */
function isClean(v: unknown, depth: number, maxDepth: number): boolean {
  if (typeof v === 'string') return (v as WellFormedCheck).isWellFormed() && !v.includes('\u0000');
  if (v === null || typeof v !== 'object' || Buffer.isBuffer(v)) return true;
  if (depth > maxDepth) return false;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (!isClean(v[i], depth + 1, maxDepth)) return false;
    return true;
  }
  const keys = Object.keys(v);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    if (!(k as WellFormedCheck).isWellFormed() || k.includes('\u0000')) return false;
    if (!isClean((v as Record<string, unknown>)[k], depth + 1, maxDepth)) return false;
  }
  return true;
}
