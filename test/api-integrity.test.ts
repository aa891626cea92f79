/**
 * Requests that must keep their meaning: a request reaching a closing store answers 503
 * (AS_ERR_UNAVAILABLE, retryable elsewhere), never a 500; and ingest refuses the signed system
 * records only auditstream writes, so a client cannot plant one that makes its chain look
 * tampered. Real HTTP servers on both engines.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { createFixture, engines, type StoreFixture } from './helpers/stores.js';
import { makeRecord } from './helpers/records.js';
import { buildApp } from '../src/api/app.js';
import { resolveConfig } from '../src/config.js';
import { verifyAccount } from '../src/chain/verify.js';
import { listOperations } from '../src/record/operations.js';
import type { AuditStore } from '../src/store/store.js';

const TOKEN = 'test-ingest-token-0123456789';

async function withServer(engine: 'sqlite' | 'postgres', fn: (base: string, store: AuditStore, fx: StoreFixture) => Promise<void>) {
  const fx = await createFixture(engine);
  const store = await fx.open();
  let app: FastifyInstance | undefined;
  try {
    app = await buildApp({ store, config: resolveConfig({ AUDITSTREAM_INGEST_TOKEN: TOKEN }) });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const addr = app.server.address();
    await fn(`http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`, store, fx);
  } finally {
    await app?.close();
    await store.close();
    await fx.destroy();
  }
}

const auth = { authorization: `Bearer ${TOKEN}` };
const ingest = (base: string, body: unknown) =>
  fetch(`${base}/api/v1/audit-logs`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });

for (const engine of engines()) {
  describe(`requests keep their meaning: ${engine}`, () => {
    it('answers 503 AS_ERR_UNAVAILABLE, not 500, to requests that reach a closing store', async () => {
      await withServer(engine, async (base, store) => {
        assert.equal((await ingest(base, { account_id: 'acme', records: [makeRecord()] })).status, 201);
        await store.close();
        const requests: [string, () => Promise<Response>][] = [
          ['ingest', () => ingest(base, { account_id: 'acme', records: [makeRecord()] })],
          ['query', () => fetch(`${base}/api/v1/audit-logs?account=acme`, { headers: auth })],
          ['query by filter', () => fetch(`${base}/api/v1/audit-logs?account=acme&operation=UpdateNamespace&order=asc`, { headers: auth })],
        ];
        for (const [what, send] of requests) {
          const res = await send();
          assert.equal(res.status, 503, what);
          const body = (await res.json()) as { error: { code: string } };
          assert.equal(body.error.code, 'AS_ERR_UNAVAILABLE', what);
        }
        assert.equal((await fetch(`${base}/readyz`)).status, 503);
      });
    });

    it('refuses every reserved system operation at ingest, naming the record, and the chain still verifies', async () => {
      await withServer(engine, async (base, store) => {
        const reserved = listOperations().filter((o) => o.reserved);
        assert.deepEqual(reserved.map((o) => o.name).sort(), ['ChainCheckpoint', 'RetentionPurge']);
        for (const op of reserved) {
          const index = Math.floor(Math.random() * 3);
          const records = Array.from({ length: 3 }, (_, i) =>
            i === index ? makeRecord({ operation: op.name, category: op.category, details: { search_attribute_update: {} } }) : makeRecord(),
          );
          const res = await ingest(base, { account_id: 'acme', records });
          assert.equal(res.status, 400, op.name);
          const body = (await res.json()) as { error: { code: string; index: number; field: string } };
          assert.equal(body.error.code, 'AS_ERR_INVALID_RECORD');
          assert.equal(body.error.index, index);
          assert.equal(body.error.field, 'operation');
        }
        assert.equal(await store.count('acme'), 0, 'nothing of a refused batch was stored');
        assert.equal((await ingest(base, { account_id: 'acme', records: [makeRecord()] })).status, 201);
        assert.equal((await verifyAccount(store, 'acme', { trustedKeys: new Map() })).ok, true);
      });
    });
  });
}
