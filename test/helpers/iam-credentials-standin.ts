/**
 * Loopback stand-ins for the two Google endpoints impersonation talks to, since the Pub/Sub
 * emulator ignores credentials and nothing here may reach Google (docs/decisions/0020):
 *
 * - IAM Credentials `projects/-/serviceAccounts/{email}:generateAccessToken`
 *   (https://cloud.google.com/iam/docs/reference/credentials/rest/v1/projects.serviceAccounts/generateAccessToken):
 *   records each request (target account, caller's bearer token, scope, delegates, lifetime) and
 *   issues a distinct token per call for the accounts it was told are granted; others get the
 *   service's 403 PERMISSION_DENIED body.
 * - The GCE metadata server (what Application Default Credentials fall back to: point
 *   GCE_METADATA_HOST here): the attached service account's email and token, so the real ADC code
 *   path runs and yields "auditstream's own identity".
 *
 * These are stand-ins: they prove what auditstream *asks* and *sends*, not that Google would grant it.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TokenRequest {
  targetServiceAccount: string;
  /** The caller's `Authorization` header (auditstream's own token). */
  authorization: string | undefined;
  scope: string[];
  delegates: string[];
  lifetime: string | undefined;
}

export interface IamCredentialsStandIn {
  /** `http://127.0.0.1:PORT`, for CLOUDSDK_API_ENDPOINT_OVERRIDES_IAMCREDENTIALS. */
  url: string;
  readonly requests: TokenRequest[];
  /** Tokens issued so far, by value → the account they are for. */
  readonly issued: Map<string, string>;
  /** Allows tokens for this account. */
  grant(serviceAccount: string): void;
  /** Lifetime of the tokens it issues (default 3,600 s). */
  setTokenLifetimeMs(ms: number): void;
  /** Answers the next `n` requests with this HTTP status (and Google's error body). */
  failNext(n: number, status: number): void;
  close(): Promise<void>;
}

const STATUS_NAMES: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
};

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function json(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', ...headers });
  res.end(JSON.stringify(value));
}

function googleError(res: ServerResponse, status: number, message: string): void {
  json(res, status, { error: { code: status, message, status: STATUS_NAMES[status] ?? 'UNKNOWN' } });
}

/** Starts the IAM Credentials stand-in on a free loopback port. */
export async function startIamCredentialsStandIn(): Promise<IamCredentialsStandIn> {
  const requests: TokenRequest[] = [];
  const issued = new Map<string, string>();
  const granted = new Set<string>();
  let lifetimeMs = 3_600_000;
  let failures = { n: 0, status: 503 };
  let n = 0;
  const server = createServer((req, res) => {
    void (async () => {
      const m = req.method === 'POST' && req.url?.match(/^\/v1\/projects\/-\/serviceAccounts\/([^/:]+):generateAccessToken$/);
      if (!m) return googleError(res, 404, `no route ${req.method} ${req.url}`);
      const target = decodeURIComponent(m[1]!);
      const b = JSON.parse((await body(req)) || '{}') as { scope?: string[]; delegates?: string[]; lifetime?: string };
      requests.push({
        targetServiceAccount: target,
        authorization: req.headers.authorization,
        scope: b.scope ?? [],
        delegates: b.delegates ?? [],
        lifetime: b.lifetime,
      });
      if (failures.n > 0) {
        failures.n--;
        return googleError(res, failures.status, `stand-in failure ${failures.status}`);
      }
      if (!granted.has(target)) {
        // The service's wording: it does not say whether the account exists.
        return googleError(res, 403, "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).");
      }
      const accessToken = `ya29.standin-${++n}-${target.split('@')[0]}`;
      issued.set(accessToken, target);
      json(res, 200, { accessToken, expireTime: new Date(Date.now() + lifetimeMs).toISOString() });
    })();
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    issued,
    grant: (sa) => void granted.add(sa),
    setTokenLifetimeMs: (ms) => void (lifetimeMs = ms),
    failNext: (count, status) => void (failures = { n: count, status }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface MetadataStandIn {
  /** `127.0.0.1:PORT`, for GCE_METADATA_HOST. */
  host: string;
  /** The attached service account (auditstream's identity as ADC sees it). */
  email: string;
  /** The token it hands out for that account. */
  readonly token: string;
  readonly tokenRequests: number;
  close(): Promise<void>;
}

/** Starts a GCE metadata server stand-in whose default service account is `email`. */
export async function startMetadataStandIn(opts: { email: string; token?: string }): Promise<MetadataStandIn> {
  const state = { email: opts.email, token: opts.token ?? 'ya29.source-token', tokenRequests: 0 };
  const server = createServer((req, res) => {
    const headers = { 'Metadata-Flavor': 'Google' };
    if (req.headers['metadata-flavor'] !== 'Google') {
      res.writeHead(403, headers);
      return res.end('Missing Metadata-Flavor: Google');
    }
    const path = (req.url ?? '').split('?')[0];
    const text = (status: number, s: string): void => {
      res.writeHead(status, { ...headers, 'content-type': 'application/text' });
      res.end(s);
    };
    switch (path) {
      case '/computeMetadata/v1/instance':
      case '/computeMetadata/v1/instance/':
        return text(200, '');
      case '/computeMetadata/v1/instance/service-accounts/default/email':
        return text(200, state.email);
      case '/computeMetadata/v1/instance/service-accounts/default/token':
        state.tokenRequests++;
        return json(res, 200, { access_token: state.token, expires_in: 3599, token_type: 'Bearer' }, headers);
      case '/computeMetadata/v1/universe/universe-domain':
        return text(200, 'googleapis.com');
      case '/computeMetadata/v1/project/project-id':
        return text(200, 'auditstream-ops');
      default:
        return text(404, 'not found');
    }
  });
  const port = await listen(server);
  return {
    host: `127.0.0.1:${port}`,
    get email() {
      return state.email;
    },
    set email(v: string) {
      state.email = v;
    },
    get token() {
      return state.token;
    },
    get tokenRequests() {
      return state.tokenRequests;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
