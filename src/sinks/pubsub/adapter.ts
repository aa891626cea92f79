/**
 * The Pub/Sub `SinkAdapter`: one engine batch = exactly one Publish RPC.
 *
 * It uses the low-level generated client (`v1.PublisherClient`), not `PubSub#topic().publish`,
 * because the high-level publisher batches, retries and pauses ordering keys on its own; here the
 * engine owns batching, retry and rate (src/delivery/adapter.ts), so each call is made with
 *   - `isBundling: false`: the generated client otherwise re-bundles Publish calls (thresholds
 *     100 messages / 1 MB / 10 ms in publisher_client_config.json), splitting our batch;
 *   - `retry: null`: no hidden retries (the default retries RESOURCE_EXHAUSTED, UNAVAILABLE...
 *     for up to 600 s), so the engine sees every failure and backs off itself;
 *   - a per-call deadline (`timeoutMs`, default 60 s, the generated client's own Publish timeout).
 *
 * Ordering: every message carries the account id as its ordering key, and one request carries one
 * key (the service requires it). Records of one account then arrive in chain order on a
 * subscription with **message ordering enabled** — a setting of the customer's subscription
 * (`gcloud pubsub subscriptions create ... --enable-message-ordering`), not of the topic. Without
 * it, consumers must order by the `sequence` attribute themselves.
 *
 * Credentials: against Google, a token for the customer's service account by impersonation
 * (credentials.ts), fetched before each Publish (cached, refreshed before expiry). Against the
 * emulator (`PUBSUB_EMULATOR_HOST`), none: plaintext, as the official client does.
 *
 * The factory does no I/O; the client and credentials are built on the first `send`.
 */
import * as querystring from 'node:querystring';
import * as grpc from '@grpc/grpc-js';
import { v1 } from '@google-cloud/pubsub';
import type { GoogleAuth } from 'google-auth-library';
import type { EncodedEntry, SinkAdapter, Verdict } from '../../delivery/adapter.js';
import type { Logger } from '../../log.js';
import { standardEndpointEnv } from '../../config.js';
import type { AdapterDeps } from '../../delivery/adapter.js';
import type { PubSubSinkSpec } from '../spec.js';
import { classifyPublish, grpcErrorOf } from './classify.js';
import { impersonateCustomer, type CustomerCredentials } from './credentials.js';
import { iamCredentialsEndpoint, publisherEndpoint, type EndpointEnv, type PublisherEndpoint } from './endpoint.js';
import { MixedOrderingKeysError, PubSubPublishError } from './errors.js';
import { PUBSUB_LIMITS } from './limits.js';
import { encodeRecord, toMessage } from './message.js';
import { topicPath } from './names.js';

/** The environment the adapter reads: the standard endpoint switches (src/config.ts reads them). */
export type PubSubEnv = EndpointEnv;

/** What only an embedding program or a test changes; production passes nothing. */
export interface PubSubAdapterOptions {
  /** Default: this process's environment, read when the adapter is built (`standardEndpointEnv`). */
  env?: PubSubEnv;
  /** auditstream's own credentials; default: Application Default Credentials. */
  source?: GoogleAuth;
  /** Deadline of one Publish call; default 60,000 ms. */
  timeoutMs?: number;
  logger?: Logger;
}

/** The Pub/Sub adapter, plus what it publishes to (for logs and verify messages). */
export interface PubSubAdapter extends SinkAdapter {
  readonly kind: 'pubsub';
  /** `projects/P/topics/T`. */
  readonly topic: string;
  /** Where Publish goes, as resolved from the environment at creation. */
  readonly endpoint: PublisherEndpoint;
}

/** The generated client's Publish deadline (publisher_client_config.json `timeout_millis`). */
export const DEFAULT_PUBLISH_TIMEOUT_MS = 60_000;

/**
 * gRPC channel options: reconnect within 10 s once an outage ends (grpc-js backs off up to 120 s by
 * default, which would add minutes after the engine's own backoff), and the official client's
 * keepalive, which finds a dead connection without waiting for a call's deadline.
 */
const CHANNEL_OPTIONS = {
  'grpc.max_reconnect_backoff_ms': 10_000,
  'grpc.keepalive_time_ms': 300_000,
  'grpc.keepalive_timeout_ms': 20_000,
} as const;

type GaxClientOptions = NonNullable<ConstructorParameters<typeof v1.PublisherClient>[0]>;

interface Connected {
  publisher: v1.PublisherClient;
  credentials: CustomerCredentials | undefined;
}

/**
 * Builds the adapter for one sink. `accountId` is the partition key (docs/decisions/0018: the ordering
 * key is the account id), passed by the engine to `encode`.
 */
export function createPubSubAdapter(spec: PubSubSinkSpec, deps?: Partial<AdapterDeps>, options: PubSubAdapterOptions = {}): PubSubAdapter {
  const env: PubSubEnv = options.env ?? standardEndpointEnv();
  const endpoint = publisherEndpoint(env);
  const topic = topicPath(spec);
  const timeoutMs = options.timeoutMs ?? DEFAULT_PUBLISH_TIMEOUT_MS;
  const logger = options.logger ?? deps?.logger;
  let connecting: Promise<Connected> | undefined;
  let closed = false;

  async function connect(): Promise<Connected> {
    if (endpoint.kind === 'emulator') {
      const publisher = new v1.PublisherClient({
        servicePath: endpoint.host,
        port: endpoint.port,
        sslCreds: grpc.credentials.createInsecure(),
        // Stated, so google-gax does not look for credentials (and probe the GCE metadata
        // server) just to learn the universe domain of a channel that sends none.
        universeDomain: 'googleapis.com',
        ...CHANNEL_OPTIONS,
      });
      return { publisher: await initialized(publisher), credentials: undefined };
    }
    const credentials = await impersonateCustomer({
      targetServiceAccount: spec.serviceAccountId,
      ...(deps?.gcpServiceAccount ? { auditstreamServiceAccount: deps.gcpServiceAccount } : {}),
      ...(options.source ? { source: options.source } : {}),
      ...(iamCredentialsEndpoint(env) ? { iamCredentialsEndpoint: iamCredentialsEndpoint(env) } : {}),
    });
    logger?.info(
      { topic, serviceAccount: spec.serviceAccountId, via: credentials.sourceServiceAccount, delegates: credentials.delegates },
      'pubsub sink: impersonating the customer service account',
    );
    const publisher = new v1.PublisherClient({
      servicePath: endpoint.host,
      port: endpoint.port,
      // The generated client sends this client's token on every call (google-gax grpc.js
      // _getCredentials). google-gax bundles its own copy of google-auth-library (10.5) beside
      // ours (10.9): the same API, but TypeScript tells the two classes apart by their
      // protected members, hence the cast.
      authClient: credentials.client as unknown as GaxClientOptions['authClient'],
      ...CHANNEL_OPTIONS,
    });
    return { publisher: await initialized(publisher), credentials };
  }

  function connected(): Promise<Connected> {
    if (closed) return Promise.reject(new Error('Pub/Sub adapter is closed'));
    connecting ??= connect().catch((err: unknown) => {
      connecting = undefined; // a failed start is retried on the next send
      throw err;
    });
    return connecting;
  }

  return {
    kind: 'pubsub',
    topic,
    endpoint,
    limits: PUBSUB_LIMITS,
    encode: encodeRecord,

    async send(entries: EncodedEntry[], signal?: AbortSignal): Promise<unknown> {
      if (entries.length === 0) return { messageIds: [] };
      const keys = [...new Set(entries.map((e) => e.partitionKey))];
      if (keys.length > 1) throw new MixedOrderingKeysError(keys);
      const { publisher, credentials } = await abortable(connected(), signal);
      if (credentials) await abortable(credentials.ensureToken(), signal);
      try {
        signal?.throwIfAborted();
        const call = publish(publisher, { topic, messages: entries.map(toMessage) }, timeoutMs);
        // Aborting cancels the RPC: it ends with CANCELLED at once (classified as retry).
        const cancel = (): void => call.cancel();
        signal?.addEventListener('abort', cancel, { once: true });
        try {
          const [response] = await call;
          return response;
        } finally {
          signal?.removeEventListener('abort', cancel);
        }
      } catch (err) {
        const g = grpcErrorOf(err);
        if (!g) throw err;
        throw new PubSubPublishError(
          g.code,
          g.details ?? (err instanceof Error ? err.message : String(err)),
          {
            topic,
            ...(credentials ? { serviceAccount: spec.serviceAccountId } : {}),
            ...(Array.isArray(g.statusDetails) ? { statusDetails: g.statusDetails } : {}),
          },
          { cause: err },
        );
      }
    },

    classify(result: { value?: unknown; error?: unknown }, entries: EncodedEntry[]): Verdict {
      return classifyPublish(result, entries);
    },

    async close(): Promise<void> {
      closed = true;
      const c = connecting;
      connecting = undefined;
      if (!c) return;
      const { publisher } = await c.catch(() => ({ publisher: undefined }));
      await publisher?.close();
    },
  };
}

/** Builds the client's stub now (so `publish` can call it); closes the client if that fails. */
async function initialized(publisher: v1.PublisherClient): Promise<v1.PublisherClient> {
  try {
    await publisher.initialize();
    return publisher;
  } catch (err) {
    await publisher.close().catch(() => {});
    throw err;
  }
}

type PublishRequest = { topic: string; messages: ReturnType<typeof toMessage>[] };
type PublishResponse = { messageIds?: string[] | null };
type CancellableCall = Promise<[PublishResponse, ...unknown[]]> & { cancel(): void };

/**
 * One Publish RPC, cancellable. The generated `publish()` wraps google-gax's call in a logging
 * `.then()`, which drops the call's `cancel()`; so this calls the same gax API call the wrapper
 * calls (`innerApiCalls.publish`, built by `initialize()`, which `connect` awaited), with the
 * same routing header the wrapper adds (`x-goog-request-params: topic=...`).
 */
function publish(publisher: v1.PublisherClient, request: PublishRequest, timeoutMs: number): CancellableCall {
  const inner = publisher.innerApiCalls['publish'] as (req: PublishRequest, opts: object) => CancellableCall;
  return inner(request, {
    isBundling: false,
    retry: null,
    timeout: timeoutMs,
    otherArgs: { headers: { 'x-goog-request-params': querystring.stringify({ topic: request.topic }) } },
  });
}

/** `p`, or a rejection with the abort reason as soon as `signal` fires (`p` is left to settle). */
function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
