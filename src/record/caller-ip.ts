/**
 * `caller_ip_address` in Temporal's X-Forwarded-For form: "a comma-separated list of IP addresses
 * which should be evaluated from the last to the first, until meeting the first untrusted IP
 * address" (the Audit Logging guide; docs/record-format.md). Records keep the whole chain (the socket peer appended), so
 * a reader can re-evaluate it with its own trust; `evaluateCallerIp` gives auditstream's own
 * answer (rate limits, logs).
 *
 * Security invariant: only the hops auditstream trusts can vouch for the hop before them. Every
 * entry left of the first untrusted one may be forged by the client, and so may any entry left of
 * something unparsable: the walk never skips garbage to reach an earlier, attacker-chosen entry.
 */
import { BlockList, isIP } from 'node:net';
import { AuditError } from '../errors.js';
import { MAX_CALLER_IP_ENTRIES } from './limits.js';

/** Longest entry kept verbatim; the longest real form (`[v6%zone]:port`) is well under it. */
export const MAX_CALLER_IP_ENTRY_CHARS = 100;

/** Written in place of an entry that cannot be an address we could keep (overlong, missing peer). */
export const UNKNOWN_HOP = 'unknown';

/** The proxies whose X-Forwarded-For additions auditstream believes. */
export interface TrustedProxies {
  /** The configured ranges, normalized (`10.0.0.0/8`, `::1/128`), for logs and `--help`. */
  readonly entries: readonly string[];
  /** Whether an address (any form `normalizeIp` takes) is inside a trusted range. */
  has(address: string): boolean;
}

/** Names accepted in the trusted-proxy list, as the common `proxy-addr` module spells them. */
const NAMED_RANGES: Readonly<Record<string, readonly string[]>> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

class TrustedProxyList implements TrustedProxies {
  readonly entries: readonly string[];
  readonly #list = new BlockList();

  constructor(ranges: readonly { address: string; family: 'ipv4' | 'ipv6'; prefix: number }[]) {
    for (const r of ranges) this.#list.addSubnet(r.address, r.prefix, r.family);
    this.entries = Object.freeze(ranges.map((r) => `${r.address}/${r.prefix}`));
    Object.freeze(this);
  }

  has(address: string): boolean {
    const ip = parseIp(address);
    return ip !== null && this.#list.check(ip.address, ip.family);
  }
}

/**
 * Parses `AUDITSTREAM_TRUSTED_PROXIES`: CIDR ranges or single addresses, IPv4 or IPv6, separated
 * by commas and/or whitespace; `loopback`, `linklocal` and `uniquelocal` name the usual ranges.
 * Empty text trusts nothing (the socket peer is the caller). Throws `AS_ERR_INVALID_ARGUMENT`
 * naming the first bad entry, so a typo never silently trusts nothing or everything.
 *
 * @example parseTrustedProxies('10.0.0.0/8, 192.168.1.1 fd00::/8 loopback')
 */
export function parseTrustedProxies(cidrs: string): TrustedProxies {
  const ranges: { address: string; family: 'ipv4' | 'ipv6'; prefix: number }[] = [];
  for (const token of cidrs.split(/[\s,]+/)) {
    if (token === '') continue;
    const named = NAMED_RANGES[token.toLowerCase()];
    for (const text of named ?? [token]) {
      const range = parseRange(text);
      if (range === null) {
        throw new AuditError(
          'AS_ERR_INVALID_ARGUMENT',
          `trusted proxy "${token}" is not an IP address or CIDR range (e.g. 10.0.0.0/8, 2001:db8::/32, loopback)`,
          { entry: token },
        );
      }
      ranges.push(range);
    }
  }
  return new TrustedProxyList(ranges);
}

function parseRange(text: string): { address: string; family: 'ipv4' | 'ipv6'; prefix: number } | null {
  const slash = text.indexOf('/');
  const addrText = slash === -1 ? text : text.slice(0, slash);
  // Brackets, ports and zones make no sense in a range; only bare addresses are taken here.
  if (isIP(addrText) === 0 || addrText.includes('%')) return null;
  const ip = parseIp(addrText);
  if (ip === null) return null;
  const max = ip.family === 'ipv4' ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const p = text.slice(slash + 1);
    if (!/^(0|[1-9]\d{0,2})$/.test(p)) return null;
    prefix = Number(p);
    // An IPv4-mapped range (::ffff:10.0.0.0/104) is the IPv4 range it maps.
    if (isIP(addrText) === 6 && ip.family === 'ipv4') {
      if (prefix < 96) return null;
      prefix -= 96;
    }
    if (prefix > max) return null;
  }
  return { address: ip.address, family: ip.family, prefix };
}

/**
 * One X-Forwarded-For entry as a canonical address, or null when it is not one: IPv4, IPv6
 * (compressed, lowercase, zone dropped), `[v6]`, `[v6]:port`, `v4:port`; IPv4-mapped IPv6
 * (`::ffff:1.2.3.4`) becomes the IPv4 address so one client has one spelling.
 */
export function normalizeIp(entry: string): string | null {
  return parseIp(entry)?.address ?? null;
}

function parseIp(entry: string): { address: string; family: 'ipv4' | 'ipv6' } | null {
  const s = entry.trim();
  if (s === '' || s.length > MAX_CALLER_IP_ENTRY_CHARS) return null;
  let host = s;
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(s);
  const v4port = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(s);
  if (bracketed !== null) {
    if (bracketed[2] !== undefined && Number(bracketed[2]) > 65535) return null;
    host = bracketed[1]!;
    if (isIP(host) !== 6) return null;
  } else if (v4port !== null) {
    if (Number(v4port[2]) > 65535) return null;
    host = v4port[1]!;
  }
  const family = isIP(host);
  if (family === 4) return { address: host, family: 'ipv4' };
  if (family !== 6) return null;
  const words = ipv6Words(host.split('%')[0]!);
  if (words === null) return null;
  // IPv4-mapped (::ffff:a.b.c.d): the same client as a.b.c.d.
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) {
    return { address: `${words[6]! >> 8}.${words[6]! & 255}.${words[7]! >> 8}.${words[7]! & 255}`, family: 'ipv4' };
  }
  return { address: formatIpv6(words), family: 'ipv6' };
}

/** The eight 16-bit words of an IPv6 address `isIP` accepted (zone already removed). */
function ipv6Words(text: string): number[] | null {
  let s = text.toLowerCase();
  const tail: number[] = [];
  const v4 = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (v4 !== null) {
    const o = v4.slice(1, 5).map(Number);
    tail.push((o[0]! << 8) | o[1]!, (o[2]! << 8) | o[3]!);
    s = s.slice(0, v4.index);
    if (s.endsWith(':') && !s.endsWith('::')) s = s.slice(0, -1);
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const hex = (part: string | undefined): number[] => (part ? part.split(':').map((h) => parseInt(h, 16)) : []);
  const head = hex(halves[0]);
  const rest = [...hex(halves[1]), ...tail];
  const fill = 8 - head.length - rest.length;
  if (halves.length === 1 ? fill !== 0 : fill < 1) return null;
  const words = [...head, ...new Array<number>(halves.length === 1 ? 0 : fill).fill(0), ...rest];
  return words.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffff) ? words : null;
}

/** RFC 5952 text: lowercase, no leading zeros, the longest run (2+) of zero words as `::`. */
function formatIpv6(words: readonly number[]): string {
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: readonly number[]) => ws.map((w) => w.toString(16)).join(':');
  if (bestStart === -1) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLen))}`;
}

/**
 * The caller's address from a chain: walks from the last entry to the first, skipping trusted
 * proxies, and returns the first untrusted address (normalized). Returns null when an entry that
 * is not an address comes before any untrusted one (never skip past garbage to an earlier,
 * client-written entry) or when the chain is empty. When every entry is trusted the first (the
 * farthest hop) is returned. Empty entries are ignored.
 */
export function evaluateCallerIp(chain: string, trusted: TrustedProxies): string | null {
  const entries = chain.split(',');
  let farthest: string | null = null;
  for (let i = entries.length - 1; i >= 0; i--) {
    const raw = entries[i]!.trim();
    if (raw === '') continue;
    const ip = parseIp(raw);
    if (ip === null) return null;
    if (!trusted.has(ip.address)) return ip.address;
    farthest = ip.address;
  }
  return farthest;
}

const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
/** A host name (RFC 1123 labels, at most 253 characters), optionally with a port. */
const HOST_NAME = new RegExp(`^(?=[^:]{1,253}(?::|$))${LABEL}(?:\\.${LABEL})*\\.?(?::\\d{1,5})?$`);
/** RFC 7239 obfuscated node (`_hidden`), which proxies write in place of an address. */
const OBFUSCATED = /^_[A-Za-z0-9._-]{1,98}$/;

/**
 * Whether one `caller_ip_address` entry is something a hop can be: an IP address (any form
 * `normalizeIp` takes, port allowed), a host name (port allowed), `unknown`, or an RFC 7239
 * obfuscated identifier (`_hidden`). At most `MAX_CALLER_IP_ENTRY_CHARS` characters.
 */
export function isCallerIpEntry(entry: string): boolean {
  const e = entry.trim();
  if (e === '' || e.length > MAX_CALLER_IP_ENTRY_CHARS) return false;
  if (parseIp(e) !== null || e === UNKNOWN_HOP || OBFUSCATED.test(e)) return true;
  const port = /:(\d{1,5})$/.exec(e);
  if (port !== null && Number(port[1]) > 65535) return false;
  // Digits and dots only would be a malformed IPv4 address, not a name.
  return HOST_NAME.test(e) && !/^[\d.]+(?::\d+)?$/.test(e);
}

/**
 * Why a `caller_ip_address` value (comma-separated entries, as ingest receives it) is refused, or
 * undefined when every entry passes `isCallerIpEntry` and there are at most `maxEntries`. The
 * empty string is fine (no address known).
 */
export function callerIpChainProblem(chain: string, maxEntries: number = MAX_CALLER_IP_ENTRIES): string | undefined {
  if (chain.trim() === '') return undefined;
  const entries = chain.split(',');
  if (entries.length > maxEntries) return `has ${entries.length} entries; at most ${maxEntries}`;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!.trim();
    if (!isCallerIpEntry(e)) {
      const shown = e.length > 40 ? `${e.slice(0, 39)}…` : e;
      return `entry ${i} (${JSON.stringify(shown)}) is not an IP address, host name, "unknown" or _obfuscated identifier (at most ${MAX_CALLER_IP_ENTRY_CHARS} characters)`;
    }
  }
  return undefined;
}

/**
 * The `caller_ip_address` to record: the incoming X-Forwarded-For entries followed by the socket
 * peer, joined with `", "` as in the seeds, empty entries dropped, and only the last `maxEntries`
 * kept (docs/decisions/0004: 20) since evaluation reads from the end. Entries stay as received (they are
 * evidence) except that one that cannot be a hop (`isCallerIpEntry`: not an address, host name,
 * `unknown` or `_obfuscated`, or overlong) becomes `unknown`, and a missing or unparsable peer is
 * `unknown`, so the record always fits the schema and evaluation stops there.
 */
export function buildCallerIpChain(forwardedFor: string | readonly string[] | undefined, peer: string, maxEntries: number = MAX_CALLER_IP_ENTRIES): string {
  const headers = forwardedFor === undefined ? [] : typeof forwardedFor === 'string' ? [forwardedFor] : forwardedFor;
  const entries: string[] = [];
  for (const header of headers) {
    for (const part of header.split(',')) {
      const e = part.trim();
      if (e !== '') entries.push(isCallerIpEntry(e) ? e : UNKNOWN_HOP);
    }
  }
  entries.push(normalizeIp(peer) ?? UNKNOWN_HOP);
  return entries.slice(-Math.max(1, maxEntries)).join(', ');
}
