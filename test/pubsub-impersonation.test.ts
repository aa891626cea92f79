/**
 * Impersonation, tested against LOCAL STAND-INS of Google's endpoints, never Google itself
 * (docs/decisions/0020: the Pub/Sub emulator ignores credentials, so it cannot prove any of this):
 *
 * - auditstream's own identity comes from the real Application Default Credentials code path,
 *   fed by a stand-in GCE metadata server (GCE_METADATA_HOST);
 * - the token for the customer's account comes from a stand-in of IAM Credentials
 *   `generateAccessToken` (CLOUDSDK_API_ENDPOINT_OVERRIDES_IAMCREDENTIALS);
 * - Publish goes to a stand-in Pub/Sub Publisher over TLS (CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB,
 *   a throwaway CA trusted through GRPC_DEFAULT_SSL_ROOTS_FILE_PATH). TLS is needed because gRPC
 *   sends call credentials only on secure channels: an emulator-style plaintext channel would
 *   carry no token at all, and so could not show which token the adapter sends. The stand-in
 *   accepts only tokens the IAM stand-in issued for the sink's service account (else
 *   UNAUTHENTICATED) and records the `authorization` metadata of every call.
 *
 * Proven: the adapter asks for a token for the right account, with the Pub/Sub scope, a 1 h
 * lifetime, the right delegate chain and auditstream's own token; it sends exactly that token on
 * Publish; it refreshes before expiry; a refusal is fatal and verify names it. Not proven: that
 * Google's IAM would grant or refuse the same requests (the customer's real grants), nor the
 * exact wording of Google's answers.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as GrpcModule from '@grpc/grpc-js';
import type { EncodedEntry } from '../src/delivery/adapter.js';
import type * as PubSubSink from '../src/sinks/pubsub/index.js';
import { makeTestTls, type TestTls } from './helpers/tls.js';
import { startIamCredentialsStandIn, startMetadataStandIn, type IamCredentialsStandIn, type MetadataStandIn } from './helpers/iam-credentials-standin.js';

const AUDITSTREAM_SA = 'auditstream@auditstream-ops.iam.gserviceaccount.com';
const CUSTOMER_SA = 'audit-publisher@customer-proj.iam.gserviceaccount.com';
const SPEC = { serviceAccountId: CUSTOMER_SA, topicName: 'audit-logs', gcpProjectId: 'customer-proj' };
const PUBSUB_SCOPE = 'https://www.googleapis.com/auth/pubsub';

interface PublishCall {
  authorization: string | undefined;
  topic: string;
  messages: { data: Buffer; orderingKey: string; attributes: Record<string, string> }[];
}

let tls: TestTls;
let configDir: string;
let grpc: typeof GrpcModule;
let sink: typeof PubSubSink;
let iam: IamCredentialsStandIn;
let metadata: MetadataStandIn;
let publisher: { host: string; calls: PublishCall[]; close(): Promise<void> };

/** A Pub/Sub Publisher stand-in over TLS that checks bearer tokens against the IAM stand-in. */
async function startTlsPublisherStandIn(): Promise<typeof publisher> {
  const { protos } = await import('@google-cloud/pubsub');
  const Req = protos.google.pubsub.v1.PublishRequest;
  const Res = protos.google.pubsub.v1.PublishResponse;
  const calls: PublishCall[] = [];
  const server = new grpc.Server();
  const raw = (b: Buffer): Buffer => b;
  server.addService(
    {
      Publish: {
        path: '/google.pubsub.v1.Publisher/Publish',
        requestStream: false,
        responseStream: false,
        requestSerialize: raw,
        requestDeserialize: raw,
        responseSerialize: raw,
        responseDeserialize: raw,
      },
    },
    {
      Publish: (call: GrpcModule.ServerUnaryCall<Buffer, Buffer>, cb: GrpcModule.sendUnaryData<Buffer>) => {
        const req = Req.decode(call.request);
        const authorization = call.metadata.get('authorization')[0]?.toString();
        calls.push({
          authorization,
          topic: req.topic,
          messages: req.messages.map((m) => ({
            data: Buffer.from(m.data as Uint8Array),
            orderingKey: m.orderingKey ?? '',
            attributes: { ...(m.attributes ?? {}) },
          })),
        });
        const token = authorization?.replace(/^Bearer /, '') ?? '';
        if (iam.issued.get(token) !== CUSTOMER_SA) {
          cb({ code: grpc.status.UNAUTHENTICATED, details: 'Request had invalid authentication credentials.' });
          return;
        }
        const ids = req.messages.map((_, i) => String(calls.length * 1000 + i));
        cb(null, Buffer.from(Res.encode({ messageIds: ids }).finish()));
      },
    },
  );
  const creds = grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(tls.certPem), private_key: Buffer.from(tls.keyPem) }], false);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))));
  return { host: `127.0.0.1:${port}`, calls, close: () => new Promise((r) => server.tryShutdown(() => r())) };
}

before(async () => {
  tls = makeTestTls();
  // Before anything loads @grpc/grpc-js (it reads the roots file once).
  process.env.GRPC_DEFAULT_SSL_ROOTS_FILE_PATH = tls.caPath;
  // ADC: no key file, no gcloud login, so the metadata server (our stand-in) is what it finds.
  delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
  configDir = mkdtempSync(join(tmpdir(), 'auditstream-gcloud-'));
  process.env.CLOUDSDK_CONFIG = configDir;
  // Else ADC looks its project up by running `gcloud config config-helper`, whose own GCE check
  // resolves metadata.google.internal: a lookup leaving loopback.
  process.env.GOOGLE_CLOUD_PROJECT = 'auditstream-ops';
  metadata = await startMetadataStandIn({ email: AUDITSTREAM_SA, token: 'ya29.auditstream-own-token' });
  process.env.GCE_METADATA_HOST = metadata.host;
  grpc = await import('@grpc/grpc-js');
  sink = await import('../src/sinks/pubsub/index.js');
  iam = await startIamCredentialsStandIn();
  iam.grant(CUSTOMER_SA);
  publisher = await startTlsPublisherStandIn();
});

after(async () => {
  await publisher?.close();
  await iam?.close();
  await metadata?.close();
  tls?.cleanup();
  if (configDir) rmSync(configDir, { recursive: true, force: true });
});

beforeEach(() => {
  iam.requests.length = 0;
  publisher.calls.length = 0;
  iam.setTokenLifetimeMs(3_600_000);
  metadata.email = AUDITSTREAM_SA;
});

function env(over: Partial<PubSubSink.PubSubEnv> = {}): PubSubSink.PubSubEnv {
  return {
    CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB: `https://${publisher.host}/`,
    CLOUDSDK_API_ENDPOINT_OVERRIDES_IAMCREDENTIALS: iam.url,
    ...over,
  };
}

function batch(adapter: PubSubSink.PubSubAdapter, firstSeq: number, n = 2): EncodedEntry[] {
  return Array.from({ length: n }, (_, i) => adapter.encode('acct-1', firstSeq + i, `log${String(firstSeq + i).padStart(29, '0')}`, `{"n":${firstSeq + i}}`));
}

async function send(adapter: PubSubSink.PubSubAdapter, entries: EncodedEntry[]) {
  try {
    const value = await adapter.send(entries);
    return { outcome: { value }, verdict: adapter.classify({ value }, entries) };
  } catch (error) {
    return { outcome: { error }, verdict: adapter.classify({ error }, entries) };
  }
}

describe('impersonation (IAM Credentials, metadata server and Publisher are local stand-ins)', () => {
  test('asks the IAM Credentials stand-in for a token for the customer account, Pub/Sub scope, and publishes with it', async () => {
    const adapter = sink.createPubSubAdapter(SPEC, { accountId: 'acct-1', gcpServiceAccount: AUDITSTREAM_SA }, { env: env() });
    try {
      const first = await send(adapter, batch(adapter, 1));
      assert.deepEqual(first.verdict, { kind: 'ok' }, JSON.stringify(first.outcome));

      assert.equal(iam.requests.length, 1);
      const [req] = iam.requests;
      assert.equal(req!.targetServiceAccount, CUSTOMER_SA);
      assert.deepEqual(req!.scope, [PUBSUB_SCOPE]);
      assert.deepEqual(req!.delegates, [], "ADC is auditstream's identity: no delegate");
      assert.equal(req!.lifetime, '3600s');
      assert.equal(req!.authorization, 'Bearer ya29.auditstream-own-token', "called with auditstream's own (ADC) token");

      assert.equal(publisher.calls.length, 1, 'one batch, one Publish');
      const call = publisher.calls[0]!;
      const issuedToken = [...iam.issued.keys()].at(-1)!;
      assert.equal(call.authorization, `Bearer ${issuedToken}`, 'Publish carries the impersonated token');
      assert.equal(call.topic, 'projects/customer-proj/topics/audit-logs');
      assert.deepEqual(
        call.messages.map((m) => [m.data.toString(), m.orderingKey, m.attributes.sequence]),
        [
          ['{"n":1}', 'acct-1', '1'],
          ['{"n":2}', 'acct-1', '2'],
        ],
      );

      // Within the token's lifetime it is reused: no second token request.
      assert.deepEqual((await send(adapter, batch(adapter, 3))).verdict, { kind: 'ok' });
      assert.equal(iam.requests.length, 1);
      assert.equal(publisher.calls[1]!.authorization, `Bearer ${issuedToken}`);
    } finally {
      await adapter.close();
    }
  });

  test('refreshes the token before it expires (less than 5 min left → a new one)', async () => {
    // google-auth-library refreshes once less than 5 min remain: a token living 5 min + 1 s is
    // fresh for the first send and due for refresh a moment later.
    iam.setTokenLifetimeMs(301_000);
    const adapter = sink.createPubSubAdapter(SPEC, { accountId: 'acct-1', gcpServiceAccount: AUDITSTREAM_SA }, { env: env() });
    try {
      assert.deepEqual((await send(adapter, batch(adapter, 1))).verdict, { kind: 'ok' });
      await new Promise((r) => setTimeout(r, 1_500));
      assert.deepEqual((await send(adapter, batch(adapter, 3))).verdict, { kind: 'ok' });
      assert.equal(iam.requests.length, 2);
      const [a, b] = publisher.calls.map((c) => c.authorization);
      assert.notEqual(a, b, 'the second Publish uses the refreshed token');
      assert.ok(b && iam.issued.get(b.replace('Bearer ', '')) === CUSTOMER_SA);
    } finally {
      await adapter.close();
    }
  });

  test("when ADC is another principal, the request goes through auditstream's identity as a delegate", async () => {
    metadata.email = 'ci-runner@auditstream-ops.iam.gserviceaccount.com';
    const adapter = sink.createPubSubAdapter(SPEC, { accountId: 'acct-1', gcpServiceAccount: AUDITSTREAM_SA }, { env: env() });
    try {
      assert.deepEqual((await send(adapter, batch(adapter, 1))).verdict, { kind: 'ok' });
      assert.deepEqual(iam.requests[0]!.delegates, [AUDITSTREAM_SA]);
    } finally {
      await adapter.close();
    }
  });

  test('a service account that cannot be impersonated is fatal, nothing is published, and verify says role_not_assumable', async () => {
    const spec = { ...SPEC, serviceAccountId: 'not-granted@customer-proj.iam.gserviceaccount.com' };
    const adapter = sink.createPubSubAdapter(spec, { accountId: 'acct-1', gcpServiceAccount: AUDITSTREAM_SA }, { env: env() });
    try {
      const r = await send(adapter, batch(adapter, 1));
      assert.equal(r.verdict.kind, 'fatal');
      assert.match(
        (r.verdict as { reason: string }).reason,
        /auditstream@auditstream-ops\.iam\.gserviceaccount\.com cannot impersonate not-granted@customer-proj\.iam\.gserviceaccount\.com: grant it roles\/iam\.serviceAccountTokenCreator/,
      );
      assert.equal(publisher.calls.length, 0);
    } finally {
      await adapter.close();
    }
    const v = await sink.verifyPubSub(
      spec,
      { accountId: 'acct-1', gcpServiceAccount: AUDITSTREAM_SA },
      { logId: 'v'.repeat(32), recordJson: '{}' },
      { env: env() },
    );
    assert.equal(v.ok, false);
    assert.equal(!v.ok && v.cause, 'role_not_assumable');
  });

  test('IAM Credentials answering 503 is a retry; the next send succeeds', async () => {
    iam.failNext(10, 503); // more than google-auth-library's own retries (3)
    const adapter = sink.createPubSubAdapter(SPEC, { accountId: 'acct-1', gcpServiceAccount: AUDITSTREAM_SA }, { env: env() });
    try {
      const r = await send(adapter, batch(adapter, 1));
      assert.equal(r.verdict.kind, 'retry', JSON.stringify(r.verdict));
      iam.failNext(0, 503);
      assert.deepEqual((await send(adapter, batch(adapter, 1))).verdict, { kind: 'ok' });
    } finally {
      await adapter.close();
    }
  });

  test('an unreachable IAM Credentials endpoint: verify says endpoint_unreachable', async () => {
    const v = await sink.verifyPubSub(
      SPEC,
      { accountId: 'acct-1', gcpServiceAccount: AUDITSTREAM_SA },
      { logId: 'v'.repeat(32), recordJson: '{}' },
      {
        env: env({ CLOUDSDK_API_ENDPOINT_OVERRIDES_IAMCREDENTIALS: 'http://127.0.0.1:9/' }),
      },
    );
    assert.equal(v.ok, false);
    assert.equal(!v.ok && v.cause, 'endpoint_unreachable');
  });

  test('Publish with a token the service rejects (UNAUTHENTICATED) is fatal', async () => {
    // A token minted for a different account than the sink's: the stand-in Publisher refuses it.
    const { GoogleAuth } = await import('google-auth-library');
    const other = 'other@customer-proj.iam.gserviceaccount.com';
    iam.grant(other);
    const adapter = sink.createPubSubAdapter(
      { ...SPEC, serviceAccountId: other },
      { accountId: 'acct-1', gcpServiceAccount: AUDITSTREAM_SA },
      {
        env: env(),
        source: new GoogleAuth(),
      },
    );
    try {
      const r = await send(adapter, batch(adapter, 1));
      assert.equal(r.verdict.kind, 'fatal');
      assert.match((r.verdict as { reason: string }).reason, /rejected the credentials of service account other@/);
    } finally {
      await adapter.close();
    }
  });
});
