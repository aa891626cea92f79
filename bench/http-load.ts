/**
 * HTTP load generator, run in a worker thread so the client has its own event loop (it still
 * shares the machine's 2 cores with the server and the database).
 *
 * `concurrency` clients each keep one request in flight on a keep-alive connection, posting
 * `POST /api/v1/audit-logs` bodies of `batchSize` records until `seconds` have passed, then wait
 * for the requests in flight. Reports the records acknowledged with 201 and request latencies.
 */
import { parentPort, workerData } from 'node:worker_threads';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { buildRecord, LogIds, ShapeSource } from './common.js';

export interface HttpLoadParams {
  port: number;
  token: string;
  concurrency: number;
  batchSize: number;
  seconds: number;
  /** `server`: records carry no log_id (the server assigns one); `client`: each has a fresh log_id. */
  logIds: 'server' | 'client';
  /** Account ids are `${accountPrefix}${client % accounts}`. */
  accountPrefix: string;
  accounts: number;
}

export interface HttpLoadResult {
  requests: number;
  records: number;
  errors: number;
  firstError?: string;
  elapsedMs: number;
  latenciesMs: number[];
}

const LOG_ID_MARK = 'LOGIDMARKxxxxxxxxxxxxxxxxxxxxxxx';
const EMIT_MARK = 'EMITTIMEMARK';

async function main(p: HttpLoadParams): Promise<HttpLoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: p.concurrency });
  const shapes = new ShapeSource(16, 20, 4, 42);
  const ids = new LogIds();
  // A pool of distinct record texts; bodies rotate through it. Each body's records carry the
  // time it is made as emit_time, as a control plane posts records when it emits them.
  const POOL = 1000;
  const texts: string[][] = [];
  for (let i = 0; i < POOL; i++) {
    const rec = buildRecord(shapes.shape(i % 16, Date.now()), LOG_ID_MARK, i) as unknown as Record<string, unknown>;
    rec['emit_time'] = EMIT_MARK;
    if (p.logIds === 'server') delete rec['log_id'];
    // [before emit_time, between it and log_id, after log_id]; emit_time is the first key.
    const [head = '', rest = ''] = JSON.stringify(rec).split(EMIT_MARK);
    texts.push([head, ...rest.split(LOG_ID_MARK)]);
  }
  let cursor = 0;
  const body = (account: string): string => {
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const parts: string[] = [];
    for (let k = 0; k < p.batchSize; k++) {
      const t = texts[cursor++ % POOL]!;
      parts.push(t.length === 2 ? t[0]! + now + t[1]! : t[0]! + now + t[1]! + ids.next() + t[2]!);
    }
    return `{"account_id":"${account}","records":[${parts.join(',')}]}`;
  };

  const post = (text: string) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: p.port,
          path: '/api/v1/audit-logs',
          method: 'POST',
          agent,
          headers: { authorization: `Bearer ${p.token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(text);
    });

  const result: HttpLoadResult = { requests: 0, records: 0, errors: 0, elapsedMs: 0, latenciesMs: [] };
  const t0 = performance.now();
  const deadline = t0 + p.seconds * 1000;
  const client = async (c: number) => {
    const account = `${p.accountPrefix}${c % p.accounts}`;
    while (performance.now() < deadline) {
      const text = body(account);
      const s = performance.now();
      let res: { status: number; text: string };
      try {
        res = await post(text);
      } catch (err) {
        result.errors++;
        result.firstError ??= String(err);
        continue;
      }
      result.latenciesMs.push(performance.now() - s);
      result.requests++;
      if (res.status === 201) result.records += p.batchSize;
      else {
        result.errors++;
        result.firstError ??= `HTTP ${res.status}: ${res.text.slice(0, 300)}`;
        if (result.errors > 10) return;
      }
    }
  };
  await Promise.all(Array.from({ length: p.concurrency }, (_, c) => client(c)));
  result.elapsedMs = performance.now() - t0;
  agent.destroy();
  return result;
}

if (parentPort) {
  main(workerData as HttpLoadParams).then(
    (r) => parentPort!.postMessage({ ok: true, result: r }),
    (err: unknown) => parentPort!.postMessage({ ok: false, error: String(err instanceof Error ? err.stack : err) }),
  );
}
