/**
 * The HTTPS webhook sink kind: batches POSTed to a customer URL, Standard Webhooks signatures,
 * optional extra headers (Splunk HEC, Datadog), per-sink CA bundle, SSRF guard.
 */
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import type { SinkDriver } from '../driver.js';
import { invalid, requiredString } from '../validate-spec.js';
import { secretBox } from '../secret-box.js';
import { splitHeader } from './header.js';
import { WEBHOOK_LIMITS } from './limits.js';
import { forbiddenAddress } from './network.js';
import { privateNetworksAllowedNow } from '../settings.js';
import { newSigningSecret } from './signature.js';
import type { WebhookSinkSpec } from './spec.js';

export type { WebhookSinkSpec } from './spec.js';

declare module '../../delivery/adapter.js' {
  interface SinkDestinations {
    /** HTTPS webhook (auditstream's own kind). */
    webhookSink?: WebhookSinkSpec;
  }
}

/** RFC 9110 field-name token. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/;
/** Visible ASCII and spaces/tabs inside; no CR, LF or other controls (no header injection). */
const HEADER_VALUE = /^[\x21-\x7e]([\x20-\x7e\t]*[\x21-\x7e])?$/;
/** Set by auditstream itself: a sink cannot override them. */
const RESERVED = new Set([
  'host',
  'content-length',
  'content-type',
  'transfer-encoding',
  'connection',
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
  'user-agent',
]);
const MAX_HEADERS = 20;
/** Placeholder a read shows for a secret, and an update sends back to keep it. */
const SET = 'set';

const privateAllowed = privateNetworksAllowedNow;

function headerList(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (typeof v === 'string') return [v];
  return Array.isArray(v) ? v.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))) : [JSON.stringify(v)];
}

export const webhookDriver: SinkDriver<WebhookSinkSpec> = {
  kind: 'webhook',
  specKey: 'webhookSink',
  wireKey: 'webhook_sink',
  opsApi: false,
  limits: WEBHOOK_LIMITS,
  parse: (r) => ({
    url: typeof r['url'] === 'string' ? r['url'] : '',
    format: (r['format'] ?? 'json') as WebhookSinkSpec['format'],
    headers: headerList(r['headers']),
    ...(typeof r['caPem'] === 'string' && r['caPem'] !== '' ? { caPem: r['caPem'] } : {}),
    ...(r['rotateSigningSecret'] === true ? { rotateSigningSecret: true } : {}),
  }),
  validate(w, field) {
    const text = requiredString(w.url, `${field}.url`);
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      // Not echoed: a URL may carry a token.
      throw invalid(`${field}.url is not a URL (expected https://host[:port]/path)`);
    }
    if (url.protocol !== 'https:') throw invalid(`${field}.url must be https:// (got ${url.protocol}//): records and secrets never travel in clear`);
    if (url.username || url.password) throw invalid(`${field}.url must not carry credentials: use --webhook-header for them`);
    if (url.hash) throw invalid(`${field}.url must not have a #fragment`);
    if (text.length > 2048) throw invalid(`${field}.url must be at most 2048 characters`);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (!privateAllowed() && isIP(host)) {
      const why = forbiddenAddress(host);
      if (why) throw invalid(`${field}.url: ${why}; such addresses are refused unless AUDITSTREAM_SINK_ALLOW_PRIVATE_NETWORKS=true`);
    }
    if (w.format !== 'json' && w.format !== 'ndjson') throw invalid(`${field}.format must be json or ndjson, got ${JSON.stringify(w.format)}`);
    if (!Array.isArray(w.headers)) throw invalid(`${field}.headers must be a list of "Name: value"`);
    if (w.headers.length > MAX_HEADERS) throw invalid(`${field}.headers: at most ${MAX_HEADERS} headers`);
    const seen = new Set<string>();
    w.headers.forEach((h, i) => {
      const at = `${field}.headers[${i}]`;
      if (typeof h !== 'string' || !h.includes(':')) throw invalid(`${at} must be "Name: value"`);
      const { name, value } = splitHeader(h);
      if (!HEADER_NAME.test(name)) throw invalid(`${at}: "${name.slice(0, 64)}" is not a header name (letters, digits and !#$%&'*+.^_\`|~-)`);
      if (!HEADER_VALUE.test(value) || value.length > 4096) throw invalid(`${at}: the value of ${name} must be 1-4096 visible characters (no line breaks)`);
      if (RESERVED.has(name.toLowerCase())) throw invalid(`${at}: ${name} is set by auditstream and cannot be overridden`);
      if (seen.has(name.toLowerCase())) throw invalid(`${at}: ${name} is given twice`);
      seen.add(name.toLowerCase());
    });
    if (w.caPem !== undefined) {
      const certs = w.caPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
      if (!certs || certs.length > 100) throw invalid(`${field}.ca_pem must be a PEM bundle of 1-100 CA certificates`);
      for (const c of certs) {
        try {
          new X509Certificate(c);
        } catch {
          throw invalid(`${field}.ca_pem holds a certificate that does not parse`);
        }
      }
    }
  },
  clean: (w) => ({
    url: w.url,
    format: w.format,
    headers: [...w.headers],
    ...(w.caPem ? { caPem: w.caPem } : {}),
    ...(w.signingSecrets ? { signingSecrets: [...w.signingSecrets] } : {}),
    ...(w.rotateSigningSecret ? { rotateSigningSecret: true } : {}),
  }),
  // Without the query string: some receivers take a token there, and audit details are read by many.
  describe: (w) => {
    try {
      const u = new URL(w.url);
      return `${u.origin}${u.pathname}`;
    } catch {
      return '(invalid URL)';
    }
  },
  async load() {
    const [{ createWebhookAdapter }, { diagnoseWebhook }] = await Promise.all([import('./adapter.js'), import('./classify.js')]);
    return {
      create: (spec, deps) => createWebhookAdapter(spec, deps, { secrets: secretBox(), allowPrivateNetworks: privateAllowed() }),
      diagnose: diagnoseWebhook,
    };
  },
  async setup(spec) {
    return {
      kind: 'webhook',
      url: spec.url,
      format: spec.format,
      signature:
        'Standard Webhooks: webhook-signature is "v1,<base64 HMAC-SHA256(key, \'<webhook-id>.<webhook-timestamp>.<raw body>\')>", key = base64-decoded part after "whsec_"; two entries during a secret rotation',
      steps: [
        'Keep the signing secret printed when the sink was created (or last rotated): it is never shown again.',
        'On each request: reject a webhook-timestamp more than 5 minutes off, verify one v1 signature in constant time, then parse the body.',
        'Answer 2xx once stored; 408, 429 (with Retry-After) and 5xx are retried; 413 splits the batch; any other status stops delivery until fixed.',
      ],
    };
  },
  cli: {
    flags: [
      { flags: '--webhook-url <url>', description: 'HTTPS URL the batches are POSTed to' },
      { flags: '--webhook-format <format>', description: 'json (an array per request, default) or ndjson' },
      {
        flags: '--webhook-header <header>',
        description: "extra header 'Name: value' (repeatable), e.g. 'Authorization: Splunk <token>' or 'DD-API-KEY: <key>'",
        repeatable: true,
      },
      { flags: '--webhook-ca-file <pem>', description: 'CA bundle (PEM file) that verifies the receiver instead of the default roots' },
      { flags: '--webhook-rotate-secret', description: 'new signing secret (printed once); the current one stays valid until the next rotation' },
    ],
    fromFlags(f, prev) {
      const url = f['webhookUrl'] as string | undefined;
      const format = f['webhookFormat'] as string | undefined;
      const headers = f['webhookHeader'] as string[] | undefined;
      const caFile = f['webhookCaFile'] as string | undefined;
      const rotate = f['webhookRotateSecret'] === true;
      if (url === undefined && format === undefined && headers === undefined && caFile === undefined && !rotate) return undefined;
      return {
        url: url ?? prev?.url ?? '',
        format: (format ?? prev?.format ?? 'json') as WebhookSinkSpec['format'],
        headers: headers ?? prev?.headers ?? [],
        ...(caFile !== undefined ? { caPem: readFileSync(caFile, 'utf8') } : prev?.caPem ? { caPem: prev.caPem } : {}),
        ...(rotate ? { rotateSigningSecret: true } : {}),
      };
    },
  },
  secrets: {
    seal(spec, prev, box) {
      const shownOnce: Record<string, string> = {};
      let signingSecrets = prev?.signingSecrets;
      if (!signingSecrets?.length || spec.rotateSigningSecret) {
        const fresh = newSigningSecret();
        shownOnce['signing_secret'] = fresh;
        signingSecrets = [box.seal(fresh), ...(signingSecrets?.length ? [signingSecrets[0]!] : [])];
      }
      const headers = spec.headers.map((h, i) => {
        const { name, value } = splitHeader(h);
        if (value !== SET) return `${name}: ${box.seal(value)}`;
        const kept = prev?.headers.find((p) => splitHeader(p).name.toLowerCase() === name.toLowerCase());
        if (!kept) throw invalid(`spec.webhook_sink.headers[${i}]: ${name} has no stored value to keep ("set" stands for the stored value)`);
        return `${name}: ${splitHeader(kept).value}`;
      });
      const { rotateSigningSecret: _r, ...rest } = spec;
      return { spec: { ...rest, headers, signingSecrets }, shownOnce };
    },
    redact: (spec) => ({
      ...spec,
      headers: spec.headers.map((h) => `${splitHeader(h).name}: ${SET}`),
      ...(spec.signingSecrets ? { signingSecrets: spec.signingSecrets.map(() => SET) } : {}),
    }),
  },
};
