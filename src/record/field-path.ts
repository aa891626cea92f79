/**
 * Readable paths to a field inside a record or a request body (`details.target_users[0]`,
 * `details["odd key"]`), as error messages and the `field` of a 400 name them.
 */

/** Keys come from the client: keep messages one short line whatever they send. */
export function shortenKey(key: string): string {
  return key.length > 64 ? `${key.slice(0, 63)}…` : key;
}

/** Appends one raw key or index to a readable path; odd keys are quoted (and escaped) as JSON. */
export function joinPath(base: string, seg: string): string {
  if (/^(0|[1-9]\d*)$/.test(seg)) return `${base}[${seg}]`;
  const key = /^[A-Za-z_$][\w$-]*$/.test(seg) ? seg : JSON.stringify(seg);
  if (key.startsWith('"')) return `${base}[${key}]`;
  return base === '' ? key : `${base}.${key}`;
}

/** `/details/target_users/0` → `details.target_users[0]`. */
export function pointerToPath(pointer: string): string {
  if (pointer === '') return '';
  let out = '';
  for (const raw of pointer.slice(1).split('/')) {
    const seg = shortenKey(raw.replace(/~1/g, '/').replace(/~0/g, '~'));
    out = joinPath(out, seg);
  }
  return out;
}

/** Two readable paths one after the other (`details` + `[0].x`). */
export function concatPaths(a: string, b: string): string {
  if (a === '' || b === '') return a + b;
  return b.startsWith('[') ? a + b : `${a}.${b}`;
}
