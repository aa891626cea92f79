/**
 * Process-wide settings every sink kind may read, set once by `serve` from its configuration
 * (tests set them directly): whether sinks may reach private networks.
 */
let allowPrivate: boolean | undefined;

/** AUDITSTREAM_SINK_ALLOW_PRIVATE_NETWORKS: let sinks reach loopback, private and link-local addresses. */
export function setPrivateNetworksAllowed(allowed: boolean): void {
  allowPrivate = allowed;
}

/** The setting; off until `serve` (or a test) sets it. */
export function privateNetworksAllowedNow(): boolean {
  return allowPrivate ?? false;
}
