/**
 * The errors `send` rejects with, so `classify` and `diagnosePubSub` can tell *where* a publish
 * failed (auditstream's own credentials, the impersonation, or the Publish RPC) without parsing
 * strings that went through gRPC. Each keeps the original error as `cause`.
 */

/** Which step of getting a token for the customer's service account failed. */
export type CredentialsFailure =
  /** auditstream's own Application Default Credentials are missing or unusable. */
  | 'source_unavailable'
  /** IAM Credentials refused `generateAccessToken` (403): no Token Creator grant, or no such account. */
  | 'impersonation_denied'
  /** IAM Credentials says the service account does not exist (404). */
  | 'service_account_not_found'
  /** IAM Credentials rejected the request (400): a malformed account or scope. */
  | 'invalid_request'
  /** IAM Credentials (or the metadata server) answered 429. */
  | 'throttled'
  /** No answer, or a 5xx: try again. */
  | 'unreachable';

/** Getting the impersonated token failed; nothing was published. */
export class PubSubCredentialsError extends Error {
  override readonly name = 'PubSubCredentialsError';
  readonly failure: CredentialsFailure;
  /** The customer's service account auditstream tried to impersonate. */
  readonly targetServiceAccount: string;
  /** auditstream's own identity, when known. */
  readonly sourceServiceAccount: string | undefined;
  /** HTTP status of the failing token request, when there was one. */
  readonly httpStatus: number | undefined;

  constructor(
    failure: CredentialsFailure,
    message: string,
    ctx: { targetServiceAccount: string; sourceServiceAccount?: string; httpStatus?: number },
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.failure = failure;
    this.targetServiceAccount = ctx.targetServiceAccount;
    this.sourceServiceAccount = ctx.sourceServiceAccount;
    this.httpStatus = ctx.httpStatus;
  }
}

/** The Publish RPC failed: the gRPC status, plus which topic and account it was for. */
export class PubSubPublishError extends Error {
  override readonly name = 'PubSubPublishError';
  /** gRPC status code (google.rpc.Code). */
  readonly code: number;
  /** gRPC status details (the server's message). */
  readonly details: string;
  readonly topic: string;
  /** The customer's service account, or `undefined` against the emulator. */
  readonly serviceAccount: string | undefined;
  /** google.rpc status details decoded by google-gax (e.g. RetryInfo), when the server sent any. */
  readonly statusDetails: unknown[] | undefined;

  constructor(code: number, details: string, ctx: { topic: string; serviceAccount?: string; statusDetails?: unknown[] }, options?: ErrorOptions) {
    super(`${code} ${details}`, options);
    this.code = code;
    this.details = details;
    this.topic = ctx.topic;
    this.serviceAccount = ctx.serviceAccount;
    this.statusDetails = ctx.statusDetails;
  }
}

/**
 * A batch mixed ordering keys. "All PubsubMessages published in a given PublishRequest must
 * specify the same ordering_key" (google/pubsub/v1/pubsub.proto, `ordering_key`); the emulator
 * does not check it, so the adapter does, before sending.
 */
export class MixedOrderingKeysError extends Error {
  override readonly name = 'MixedOrderingKeysError';
  readonly keys: string[];

  constructor(keys: string[]) {
    super(`one Pub/Sub publish request may carry one ordering key; this batch has ${keys.length}`);
    this.keys = keys;
  }
}
