/**
 * SSRF guard for customer URLs: loopback, private, carrier-grade NAT, link-local (and so the
 * cloud metadata address 169.254.169.254), unique-local, multicast and reserved addresses are
 * refused unless the operator allows private networks (`AUDITSTREAM_SINK_ALLOW_PRIVATE_NETWORKS`).
 * The check runs on the addresses DNS returned, at every new connection (a `lookup` hook), so a
 * name that re-resolves to an internal address later is refused too; an IP literal is checked
 * before connecting.
 */
import { BlockList, isIP } from 'node:net';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';

const blocked = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  blocked.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['100::', 64],
] as const)
  blocked.addSubnet(net, bits, 'ipv6');

/** The IPv4 address an IPv6 address embeds (mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`), if any. */
function embeddedV4(addr: string): string | undefined {
  const lower = addr.toLowerCase();
  const m = /^(?:::ffff:|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (m) return m[1];
  const h = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (h) {
    const hi = parseInt(h[1]!, 16);
    const lo = parseInt(h[2]!, 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return undefined;
}

/** Why `addr` (an IP address) may not be reached, or undefined when it may. */
export function forbiddenAddress(addr: string): string | undefined {
  const family = isIP(addr);
  if (family === 0) return `"${addr}" is not an IP address`;
  const v4 = family === 6 ? embeddedV4(addr) : addr;
  if (v4 !== undefined && blocked.check(v4, 'ipv4')) return `${addr} is a loopback, private, link-local or reserved address`;
  if (family === 6 && v4 === undefined && blocked.check(addr, 'ipv6')) return `${addr} is a loopback, private, link-local or reserved address`;
  return undefined;
}

/** Refused by the SSRF guard: a configuration problem, never retried soon. */
export class ForbiddenAddressError extends Error {
  readonly code = 'AS_SINK_FORBIDDEN_ADDRESS';
  constructor(host: string, why: string) {
    super(`refusing to connect to ${host}: ${why} (set AUDITSTREAM_SINK_ALLOW_PRIVATE_NETWORKS=true to allow private networks)`);
    this.name = 'ForbiddenAddressError';
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A `lookup` for sockets that resolves as usual and refuses any forbidden address. */
export function guardedLookup(hostname: string, options: object, callback: LookupCallback): void {
  dnsLookup(hostname, { ...(options as object), all: true }, (err, addresses) => {
    if (err) return callback(err, []);
    const list = addresses as LookupAddress[];
    for (const a of list) {
      const why = forbiddenAddress(a.address);
      if (why) return callback(Object.assign(new ForbiddenAddressError(hostname, why), { errno: undefined }), []);
    }
    if ((options as { all?: boolean }).all) return callback(null, list);
    return callback(null, list[0]!.address, list[0]!.family);
  });
}
