/**
 * The Kinesis classifier on recorded provider responses (test/fixtures/kinesis-responses.json:
 * captured from moto, and the AWS API reference's examples). Each raw HTTP answer is served to
 * the real SDK client, so what `classify` sees is exactly what the SDK makes of it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createServer, type Server } from 'node:http';
import { KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { classifyPutRecords, diagnoseKinesis } from '../src/sinks/kinesis/classify.js';
import { RoleAssumptionError } from '../src/sinks/kinesis/credentials.js';
import type { EncodedEntry } from '../src/delivery/adapter.js';
import { parseStreamArn, roleArnFor } from '../src/sinks/kinesis/arn.js';
import { partitionKeyFor } from '../src/sinks/kinesis/adapter.js';

interface Case {
  name: string;
  entries: number;
  status: number;
  contentType: string;
  body: string;
  expect: { kind: string; only?: number[] };
  cause?: string;
}

const here = fileURLToPath(new URL('.', import.meta.url));
const { cases } = JSON.parse(readFileSync(`${here}/../../test/fixtures/kinesis-responses.json`, 'utf8')) as { cases: Case[] };

const entries = (n: number): EncodedEntry[] =>
  Array.from({ length: n }, (_, i) => ({ seq: i + 1, logId: `l${i}`, partitionKey: 'acct', data: Buffer.from('{}') }));

describe('kinesis classify on recorded responses', () => {
  let server: Server;
  let client: KinesisClient;
  let next: Case;
  before(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(next.status, { 'content-type': next.contentType, 'x-amzn-requestid': 'test' }).end(next.body));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    client = new KinesisClient({
      endpoint: `http://127.0.0.1:${port}`,
      region: 'us-east-1',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
      maxAttempts: 1,
      requestHandler: new NodeHttpHandler(),
    });
  });
  after(async () => {
    client.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });

  for (const c of cases) {
    it(c.name, async () => {
      next = c;
      const sent = entries(c.entries);
      const outcome = await client
        .send(new PutRecordsCommand({ StreamName: 'audit', Records: sent.map((e) => ({ Data: e.data, PartitionKey: e.partitionKey })) }))
        .then(
          (value: unknown) => ({ value }),
          (error: unknown) => ({ error }),
        );
      const v = classifyPutRecords(outcome, sent);
      assert.equal(v.kind, c.expect.kind, JSON.stringify(v));
      if (c.expect.only) assert.deepEqual((v as { only?: number[] }).only, c.expect.only);
      if (c.cause) {
        const d = diagnoseKinesis(outcome, v);
        assert.equal(d.ok === false && d.cause, c.cause);
      }
    });
  }

  it('classifies errors of the role and of the network', () => {
    const denied = new RoleAssumptionError(
      'arn:aws:iam::1:role/r',
      Object.assign(new Error('not authorized to perform: sts:AssumeRole'), { name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 } }),
    );
    assert.equal(classifyPutRecords({ error: denied }, entries(1)).kind, 'fatal');
    assert.equal((diagnoseKinesis({ error: denied }, { kind: 'fatal', reason: '' }) as { cause: string }).cause, 'role_not_assumable');
    const stsDown = new RoleAssumptionError('arn:aws:iam::1:role/r', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }));
    assert.equal(classifyPutRecords({ error: stsDown }, entries(1)).kind, 'retry');
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    assert.equal(classifyPutRecords({ error: reset }, entries(2)).kind, 'retry');
    assert.equal((diagnoseKinesis({ error: reset }, { kind: 'retry', reason: '' }) as { cause: string }).cause, 'endpoint_unreachable');
  });

  it('parses stream ARNs and builds the role ARN in the stream account', () => {
    const ok = parseStreamArn('arn:aws:kinesis:eu-west-1:111122223333:stream/audit-logs');
    assert.ok(ok.ok);
    assert.equal(roleArnFor(ok.value, 'writer'), 'arn:aws:iam::111122223333:role/writer');
    for (const [bad, why] of [
      ['arn:aws:s3:eu-west-1:111122223333:stream/x', /service is "s3"/],
      ['arn:aws:kinesis:eu-west-1:1111:stream/x', /12 digits/],
      ['arn:aws:kinesis:eu-west-1:111122223333:deliverystream/x', /stream\/<name>/],
      ['arn:aws:kinesis:eu-west-1:111122223333:stream/bad name', /stream name/],
      ['kinesis:eu-west-1', /six/],
    ] as const) {
      const r = parseStreamArn(bad);
      assert.ok(!r.ok && why.test(r.message), `${bad}: ${JSON.stringify(r)}`);
    }
  });

  it('keys by account, within the 256-character partition key limit', () => {
    assert.equal(partitionKeyFor('acct-1'), 'acct-1');
    assert.equal(partitionKeyFor('x'.repeat(300)).length, 64);
  });
});
