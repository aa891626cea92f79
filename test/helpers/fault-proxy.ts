/**
 * A small HTTP proxy in front of moto (point AWS_ENDPOINT_URL at it) that injects the faults the
 * emulator never produces, and records what passed through:
 * - `down`: every connection is reset at once (destination down);
 * - `blackhole`: requests are accepted and never answered (destination hangs);
 * - `delay`: PutRecords (and S3 PutObject) calls are held `ms` before they are forwarded;
 * - `throttle-calls`: a share of PutRecords calls is answered 400 ProvisionedThroughputExceededException,
 *   a share of S3 PutObject calls 503 SlowDown;
 * - `throttle-entries`: a share of the entries of PutRecords calls fails with the per-entry
 *   ProvisionedThroughputExceededException, as real Kinesis answers — only the other entries
 *   are forwarded to moto, so the failed ones are really not written.
 * STS AssumeRole calls are recorded with their form parameters (ExternalId, RoleArn); forwarded S3
 * PutObject calls with their path, moto's status and the version id it gave (arrival order of versions).
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export type FaultMode =
  | { kind: 'pass' }
  | { kind: 'down' }
  | { kind: 'blackhole' }
  | { kind: 'delay'; ms: number }
  | { kind: 'throttle-calls'; share: number }
  | { kind: 'throttle-entries'; share: number };

export interface RecordedCall {
  /** `Kinesis_20131202.PutRecords`, `AssumeRole`, ... */
  action: string;
  /** When it was forwarded to moto (ms), or undefined when the proxy answered itself. */
  forwardedAt?: number;
  /** STS form parameters, for AssumeRole. */
  params?: Record<string, string>;
  /** Entries forwarded (PutRecords). */
  entries?: number;
  /** S3 PutObject: the request path (`/<bucket>/<key>`), and what moto answered (status, `x-amz-version-id` on a versioned bucket). */
  path?: string;
  status?: number;
  versionId?: string;
}

export interface FaultProxy {
  url: string;
  setMode(mode: FaultMode): void;
  calls: RecordedCall[];
  /** AssumeRole calls' parameters. */
  assumeRoleCalls(): Record<string, string>[];
  stats: { throttledCalls: number; throttledEntries: number; reset: number };
  close(): Promise<void>;
}

interface PutRecordsBody {
  Records: { Data: string; PartitionKey: string }[];
  [k: string]: unknown;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function forward(target: URL, req: IncomingMessage, body: Buffer): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const headers = { ...req.headers, 'content-length': String(body.length) };
    delete headers['transfer-encoding'];
    const out = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const h: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h[k] = v;
        resolve({ status: res.statusCode ?? 502, headers: h, body: Buffer.concat(chunks) });
      });
    });
    out.on('error', reject);
    out.end(body);
  });
}

const THROTTLE_BODY = (stream: string) =>
  JSON.stringify({
    __type: 'ProvisionedThroughputExceededException',
    message: `Rate exceeded for shard shardId-000000000000 in stream ${stream} under account 123456789012.`,
  });

export async function startFaultProxy(targetUrl: string, random: () => number = Math.random): Promise<FaultProxy> {
  const target = new URL(targetUrl);
  let mode: FaultMode = { kind: 'pass' };
  const calls: RecordedCall[] = [];
  const stats = { throttledCalls: 0, throttledEntries: 0, reset: 0 };
  const sockets = new Set<Socket>();

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const m = mode;
    if (m.kind === 'down') {
      stats.reset++;
      req.socket.destroy();
      return;
    }
    const body = await readBody(req);
    const amzTarget = String(req.headers['x-amz-target'] ?? '');
    let action = amzTarget;
    let params: Record<string, string> | undefined;
    // S3 PutObject (REST: a PUT of the object's bytes, no X-Amz-Target).
    const isS3Put = !amzTarget && req.method === 'PUT';
    if (isS3Put) action = 'S3.PutObject';
    else if (!amzTarget) {
      params = Object.fromEntries(new URLSearchParams(body.toString('utf8')));
      action = params['Action'] ?? 'unknown';
    }
    const call: RecordedCall = { action, ...(params ? { params } : {}) };
    calls.push(call);
    if (m.kind === 'blackhole') return; // never answered; the client's timeout ends it
    const isPut = amzTarget.endsWith('.PutRecords');
    if ((isPut || isS3Put) && m.kind === 'delay') await new Promise((r) => setTimeout(r, m.ms));
    if (isS3Put && m.kind === 'throttle-calls' && random() < m.share) {
      stats.throttledCalls++;
      res
        .writeHead(503, { 'content-type': 'application/xml' })
        .end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>');
      return;
    }
    if (isPut && m.kind === 'throttle-calls' && random() < m.share) {
      stats.throttledCalls++;
      res.writeHead(400, { 'content-type': 'application/x-amz-json-1.1' }).end(THROTTLE_BODY('audit'));
      return;
    }
    if (isPut && m.kind === 'throttle-entries') {
      const parsed = JSON.parse(body.toString('utf8')) as PutRecordsBody;
      const fail = parsed.Records.map(() => random() < m.share);
      if (!fail.some(Boolean)) fail[Math.floor(random() * fail.length)] = true;
      const kept = parsed.Records.filter((_, i) => !fail[i]);
      let results: unknown[] = [];
      if (kept.length > 0) {
        call.forwardedAt = Date.now();
        call.entries = kept.length;
        const up = await forward(target, req, Buffer.from(JSON.stringify({ ...parsed, Records: kept })));
        if (up.status !== 200) {
          res.writeHead(up.status, up.headers).end(up.body);
          return;
        }
        results = (JSON.parse(up.body.toString('utf8')) as { Records: unknown[] }).Records;
      }
      let k = 0;
      const records = fail.map((f) =>
        f
          ? {
              ErrorCode: 'ProvisionedThroughputExceededException',
              ErrorMessage: 'Rate exceeded for shard shardId-000000000000 in stream audit under account 123456789012.',
            }
          : results[k++],
      );
      const failed = fail.filter(Boolean).length;
      stats.throttledEntries += failed;
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify({ FailedRecordCount: failed, Records: records }));
      return;
    }
    call.forwardedAt = Date.now();
    if (isPut) call.entries = (JSON.parse(body.toString('utf8')) as PutRecordsBody).Records.length;
    try {
      const up = await forward(target, req, body);
      if (isS3Put) Object.assign(call, { path: req.url, status: up.status, versionId: up.headers['x-amz-version-id'] });
      res.writeHead(up.status, up.headers).end(up.body);
    } catch {
      req.socket.destroy();
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => req.socket.destroy());
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    if (mode.kind === 'down') s.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    setMode(m) {
      mode = m;
      if (m.kind === 'down') for (const s of sockets) s.destroy();
    },
    calls,
    assumeRoleCalls: () => calls.filter((c) => c.action === 'AssumeRole').map((c) => c.params!),
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
