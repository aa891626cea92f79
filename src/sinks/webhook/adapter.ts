/**
 * The HTTPS webhook adapter: POSTs each batch to the customer's URL as a JSON array or NDJSON,
 * signed per Standard Webhooks (signature.ts), with the sink's extra headers (Splunk HEC's
 * `Authorization: Splunk <token>`, Datadog's `DD-API-KEY`). TLS verification is always on (the
 * sink's CA bundle, when set, replaces the default roots); the SSRF guard (network.ts) checks
 * every connection unless private networks are allowed.
 *
 * A batch the receiver refuses as too large (413) is split in halves and sent in order, so one
 * send may be several requests: `send` resolves with every part's answer, and stops at the first
 * part that was not accepted (classify.ts turns that into the verdict).
 */
import { request as httpsRequest, Agent } from 'node:https';
import { isIP } from 'node:net';
import { createHash } from 'node:crypto';
import type { AdapterDeps, EncodedEntry, SinkAdapter, Verdict } from '../../delivery/adapter.js';
import type { SecretSealer } from '../driver.js';
import { ForbiddenAddressError, forbiddenAddress, guardedLookup } from './network.js';
import { signatureHeader } from './signature.js';
import { classifyWebhook, type WebhookPart, type WebhookSendResult } from './classify.js';
import { WEBHOOK_LIMITS } from './limits.js';
import type { WebhookSinkSpec } from './spec.js';

export interface WebhookAdapterOptions {
  secrets: SecretSealer;
  /** AUDITSTREAM_SINK_ALLOW_PRIVATE_NETWORKS. */
  allowPrivateNetworks: boolean;
  /** One request's deadline. Default 30 s. */
  requestTimeoutMs?: number;
}

import { splitHeader } from './header.js';

const open = (box: SecretSealer, v: string): string => (box.isSealed(v) ? box.open(v) : v);

/** The body of one request: the records as stored, byte for byte, as a JSON array or NDJSON (one allocation, one copy of each record). */
export function webhookBody(format: WebhookSinkSpec['format'], entries: readonly EncodedEntry[]): Buffer {
  const ndjson = format === 'ndjson';
  let size = ndjson ? 0 : Math.max(2, entries.length + 1);
  for (const e of entries) size += e.data.length + (ndjson ? 1 : 0);
  const body = Buffer.allocUnsafe(size);
  let at = 0;
  if (!ndjson) body[at++] = 0x5b; // [
  entries.forEach((e, i) => {
    if (!ndjson && i > 0) body[at++] = 0x2c; // ,
    at += e.data.copy(body, at);
    if (ndjson) body[at++] = 0x0a; // \n
  });
  if (!ndjson) body[at++] = 0x5d; // ]
  return body;
}

export function createWebhookAdapter(spec: WebhookSinkSpec, deps: AdapterDeps, opts: WebhookAdapterOptions): SinkAdapter {
  const url = new URL(spec.url);
  const agent = new Agent({ keepAlive: true, maxSockets: 4, ...(spec.caPem ? { ca: spec.caPem } : {}) });
  const timeoutMs = opts.requestTimeoutMs ?? 30_000;
  // Opened per adapter (one per sink per process), never logged.
  let opened: { secrets: string[]; headers: [string, string][] } | undefined;
  const material = () =>
    (opened ??= {
      secrets: (spec.signingSecrets ?? []).map((s) => open(opts.secrets, s)),
      headers: spec.headers.map((h) => {
        const { name, value } = splitHeader(h);
        return [name, open(opts.secrets, value)] as [string, string];
      }),
    });

  async function post(entries: readonly EncodedEntry[], signal?: AbortSignal): Promise<Omit<WebhookPart, 'from' | 'to'>> {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (!opts.allowPrivateNetworks && isIP(host)) {
      const why = forbiddenAddress(host);
      if (why) return { error: new ForbiddenAddressError(host, why) };
    }
    const m = material();
    const body = webhookBody(spec.format, entries);
    // Same batch, same id: a receiver can drop a resend it already took.
    const id = `msg_${createHash('sha256')
      .update(`${deps.accountId}\n${entries.map((e) => e.logId).join(',')}`)
      .digest('base64url')
      .slice(0, 32)}`;
    const timestamp = Math.floor(Date.now() / 1000);
    const headers: Record<string, string> = {
      'content-type': spec.format === 'ndjson' ? 'application/x-ndjson' : 'application/json',
      'content-length': String(body.length),
      'user-agent': 'auditstream-webhook/1',
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
      ...(m.secrets.length ? { 'webhook-signature': signatureHeader(m.secrets, id, timestamp, body) } : {}),
    };
    for (const [name, value] of m.headers) headers[name.toLowerCase()] = value;
    return new Promise((resolve) => {
      const req = httpsRequest(
        url,
        {
          method: 'POST',
          agent,
          headers,
          rejectUnauthorized: true,
          timeout: timeoutMs,
          ...(opts.allowPrivateNetworks ? {} : { lookup: guardedLookup as never }),
          ...(signal ? { signal } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            if (size < 1024) chunks.push(c);
            size += c.length;
          });
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], snippet: Buffer.concat(chunks).toString('utf8').slice(0, 300) }),
          );
          res.on('error', (error) => resolve({ error }));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer from ${url.host} within ${timeoutMs} ms`)));
      req.on('error', (error) => resolve({ error }));
      req.end(body);
    });
  }

  return {
    kind: 'webhook',
    limits: WEBHOOK_LIMITS,
    encode(_accountId: string, seq: number, logId: string, recordJson: string): EncodedEntry {
      return { seq, logId, partitionKey: deps.accountId, data: Buffer.from(recordJson, 'utf8') };
    },
    async send(entries: EncodedEntry[], signal?: AbortSignal): Promise<WebhookSendResult> {
      const parts: WebhookPart[] = [];
      const queue: [number, number][] = [[0, entries.length]];
      while (queue.length) {
        const [from, to] = queue.shift()!;
        const answer = await post(entries.slice(from, to), signal);
        if (answer.status === 413 && to - from > 1) {
          const mid = from + Math.ceil((to - from) / 2);
          queue.unshift([from, mid], [mid, to]);
          continue;
        }
        parts.push({ from, to, ...answer });
        if (answer.error || answer.status === undefined || answer.status < 200 || answer.status > 299) break;
      }
      return { total: entries.length, host: url.host, parts };
    },
    classify(result: { value?: unknown; error?: unknown }, entries: EncodedEntry[]): Verdict {
      return classifyWebhook(result, entries);
    },
    async close(): Promise<void> {
      agent.destroy();
    },
  };
}
