/**
 * Where Publish goes, from the standard environment variables only (no auditstream-specific
 * switch, no test-only path):
 *
 * - `PUBSUB_EMULATOR_HOST=host:port`: the Pub/Sub emulator, plaintext, no credentials, exactly as
 *   the official client does it (@google-cloud/pubsub `PubSub#determineBaseUrl_`: insecure
 *   channel credentials, so no token is ever sent to an emulator).
 * - `CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB=https://HOST[:PORT]/`: gcloud's endpoint override,
 *   e.g. a locational endpoint such as `https://europe-west1-pubsub.googleapis.com/`, which
 *   Pub/Sub's ordering guarantee asks for ("publish messages with the same ordering key in the
 *   same region": https://cloud.google.com/pubsub/docs/ordering). TLS and credentials, always.
 * - otherwise `pubsub.googleapis.com:443`.
 *
 * `CLOUDSDK_API_ENDPOINT_OVERRIDES_IAMCREDENTIALS` likewise moves IAM Credentials (e.g. behind
 * Private Service Connect).
 */

export type PublisherEndpoint = { kind: 'emulator'; host: string; port: number } | { kind: 'google'; host: string; port: number };

/** The environment variables read here. */
export interface EndpointEnv {
  PUBSUB_EMULATOR_HOST?: string | undefined;
  CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB?: string | undefined;
  CLOUDSDK_API_ENDPOINT_OVERRIDES_IAMCREDENTIALS?: string | undefined;
}

export const DEFAULT_PUBSUB_HOST = 'pubsub.googleapis.com';

/** Resolves the Publish endpoint from the environment. */
export function publisherEndpoint(env: EndpointEnv): PublisherEndpoint {
  const emulator = env.PUBSUB_EMULATOR_HOST?.trim();
  if (emulator) {
    const { host, port } = hostPort(emulator, 8085);
    return { kind: 'emulator', host, port };
  }
  const override = env.CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB?.trim();
  if (override) {
    const { host, port } = hostPort(override, 443);
    return { kind: 'google', host, port };
  }
  return { kind: 'google', host: DEFAULT_PUBSUB_HOST, port: 443 };
}

/** IAM Credentials' base URL (`https://iamcredentials.googleapis.com` unless overridden). */
export function iamCredentialsEndpoint(env: EndpointEnv): string | undefined {
  const override = env.CLOUDSDK_API_ENDPOINT_OVERRIDES_IAMCREDENTIALS?.trim();
  return override ? override.replace(/\/+$/, '').replace(/\/v1$/, '') : undefined;
}

/** `host:port`, `https://host[:port]/` or `[::1]:port` → host and port. */
function hostPort(value: string, defaultPort: number): { host: string; port: number } {
  const bare = value.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
  // IPv6 keeps its brackets: gax joins servicePath and port with a colon.
  const m = bare.match(/^(\[[^\]]+\])(?::(\d+))?$/) ?? bare.match(/^([^:]+)(?::(\d+))?$/);
  if (!m) throw new TypeError(`not a host[:port]: "${value}"`);
  const port = m[2] ? Number(m[2]) : defaultPort;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new TypeError(`bad port in "${value}"`);
  return { host: m[1]!, port };
}
