/**
 * Tokens for the customer's service account, by impersonation: auditstream never holds a key of
 * the customer's. auditstream's own identity (`AUDITSTREAM_GCP_SERVICE_ACCOUNT`, reached through
 * Application Default Credentials) calls IAM Credentials `generateAccessToken` for the customer's
 * account, which the customer allowed by granting auditstream's identity
 * `roles/iam.serviceAccountTokenCreator` on it (see gcloud.ts).
 *
 * - When ADC *is* auditstream's identity (a key file or the attached account of the VM / pod),
 *   the token is requested directly.
 * - When ADC is another principal (a developer's user login, a workload account), the request
 *   goes through auditstream's identity as a delegate, so the customer's grant to that identity is
 *   what authorizes it, never the caller's own rights. (IAM: the caller then needs Token Creator on
 *   auditstream's identity.) https://cloud.google.com/iam/docs/create-short-lived-credentials-delegated
 *
 * google-auth-library's `Impersonated` caches the token and refreshes it before it expires
 * (lifetime 1 h; refreshed once less than 5 min remain), so a long-running sink never publishes
 * with an expired token. Reference:
 * https://cloud.google.com/iam/docs/reference/credentials/rest/v1/projects.serviceAccounts/generateAccessToken
 */
import { GoogleAuth, Impersonated, type AuthClient } from 'google-auth-library';
import { PubSubCredentialsError, type CredentialsFailure } from './errors.js';

/** The scope Publish needs (https://cloud.google.com/pubsub/docs/reference/rest). */
export const PUBSUB_SCOPE = 'https://www.googleapis.com/auth/pubsub';
/** The scope auditstream's own token needs to call IAM Credentials. */
export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
/** IAM Credentials' public endpoint. */
export const DEFAULT_IAM_CREDENTIALS_ENDPOINT = 'https://iamcredentials.googleapis.com';
/** Token lifetime asked for: the default maximum without an org policy exception. */
export const TOKEN_LIFETIME_SECONDS = 3600;

export interface ImpersonationOptions {
  /** The customer's service account email (spec.serviceAccountId). */
  targetServiceAccount: string;
  /** auditstream's own identity (AUDITSTREAM_GCP_SERVICE_ACCOUNT); unset = ADC's own principal. */
  auditstreamServiceAccount?: string;
  /** auditstream's own credentials; default: Application Default Credentials. */
  source?: GoogleAuth;
  /** IAM Credentials base URL; default https://iamcredentials.googleapis.com. */
  iamCredentialsEndpoint?: string;
}

/** A token source for the customer's account; `token()` fails with a `PubSubCredentialsError`. */
export interface CustomerCredentials {
  /** The auth client the Pub/Sub client sends each call's token from. */
  readonly client: AuthClient;
  /** auditstream's own identity as resolved (ADC's principal or the configured one). */
  readonly sourceServiceAccount: string | undefined;
  /** The delegate chain used (empty when ADC is auditstream's identity). */
  readonly delegates: readonly string[];
  /** Gets (or reuses) a valid token; throws `PubSubCredentialsError` saying which step failed. */
  ensureToken(): Promise<void>;
}

/**
 * Resolves auditstream's own credentials and builds the impersonated client. Does network I/O
 * (ADC discovery, the metadata server's email), so callers do it lazily, on the first send.
 */
export async function impersonateCustomer(opts: ImpersonationOptions): Promise<CustomerCredentials> {
  const target = opts.targetServiceAccount;
  const source = opts.source ?? new GoogleAuth({ scopes: [CLOUD_PLATFORM_SCOPE] });
  let sourceClient: AuthClient;
  let adcEmail: string | undefined;
  try {
    sourceClient = await source.getClient();
    adcEmail = await source.getCredentials().then(
      (c) => c.client_email ?? undefined,
      () => undefined,
    );
  } catch (err) {
    throw new PubSubCredentialsError(
      'source_unavailable',
      `auditstream's own Google credentials (Application Default Credentials) are not usable: ${messageOf(err)}`,
      { targetServiceAccount: target, sourceServiceAccount: opts.auditstreamServiceAccount },
      { cause: err },
    );
  }
  const configured = opts.auditstreamServiceAccount;
  const delegates = configured && adcEmail?.toLowerCase() !== configured.toLowerCase() ? [configured] : [];
  const client = new Impersonated({
    sourceClient,
    targetPrincipal: target,
    targetScopes: [PUBSUB_SCOPE],
    delegates,
    lifetime: TOKEN_LIFETIME_SECONDS,
    endpoint: (opts.iamCredentialsEndpoint ?? DEFAULT_IAM_CREDENTIALS_ENDPOINT).replace(/\/+$/, ''),
  });
  const sourceServiceAccount = configured ?? adcEmail;
  const ctx = { targetServiceAccount: target, sourceServiceAccount };
  return {
    client,
    sourceServiceAccount,
    delegates,
    async ensureToken(): Promise<void> {
      try {
        await sourceClient.getAccessToken();
      } catch (err) {
        const status = httpStatusOf(err);
        const failure: CredentialsFailure = isTransient(status) ? (status === 429 ? 'throttled' : 'unreachable') : 'source_unavailable';
        throw new PubSubCredentialsError(
          failure,
          `auditstream's own Google credentials could not produce a token: ${messageOf(err)}`,
          { ...ctx, ...(status ? { httpStatus: status } : {}) },
          { cause: err },
        );
      }
      try {
        await client.getAccessToken();
      } catch (err) {
        throw impersonationError(err, ctx, delegates);
      }
    },
  };
}

function impersonationError(
  err: unknown,
  ctx: { targetServiceAccount: string; sourceServiceAccount: string | undefined },
  delegates: readonly string[],
): PubSubCredentialsError {
  const status = httpStatusOf(err);
  const who = ctx.sourceServiceAccount ?? "auditstream's identity";
  const via = delegates.length > 0 ? ` (through ${delegates.join(' → ')})` : '';
  let failure: CredentialsFailure;
  let message: string;
  if (status === 403) {
    failure = 'impersonation_denied';
    message = `${who}${via} cannot impersonate ${ctx.targetServiceAccount}: grant it roles/iam.serviceAccountTokenCreator on that service account, and check the account exists`;
  } else if (status === 404) {
    failure = 'service_account_not_found';
    message = `service account ${ctx.targetServiceAccount} does not exist`;
  } else if (status === 400) {
    failure = 'invalid_request';
    message = `IAM Credentials refused to issue a token for ${ctx.targetServiceAccount}`;
  } else if (status === 401) {
    failure = 'source_unavailable';
    message = `IAM Credentials rejected auditstream's own credentials (${who})`;
  } else if (status === 429) {
    failure = 'throttled';
    message = `IAM Credentials is throttling token requests for ${ctx.targetServiceAccount}`;
  } else {
    failure = 'unreachable';
    message = `IAM Credentials did not issue a token for ${ctx.targetServiceAccount}${status ? ` (HTTP ${status})` : ''}`;
  }
  return new PubSubCredentialsError(failure, `${message}: ${messageOf(err)}`, { ...ctx, ...(status ? { httpStatus: status } : {}) }, { cause: err });
}

function isTransient(status: number | undefined): boolean {
  return status === undefined || status === 429 || status >= 500;
}

/** The HTTP status of a gaxios error (`response.status`), if it got an answer. */
function httpStatusOf(err: unknown): number | undefined {
  const s = (err as { response?: { status?: unknown } } | null)?.response?.status;
  return typeof s === 'number' ? s : undefined;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
