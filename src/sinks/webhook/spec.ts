/** The webhook sink's spec (auditstream's own kind: served by /api/v1/sinks, not the Cloud Ops API). */
export interface WebhookSinkSpec {
  /** `https://...` only. */
  url: string;
  /** Body of a request: a JSON array of records, or one record per line. */
  format: 'json' | 'ndjson';
  /** Extra headers, `Name: value` (values sealed at rest, `set` in reads). */
  headers: string[];
  /** PEM CA bundle that replaces the default roots for this sink's TLS verification. */
  caPem?: string;
  /** Standard Webhooks secrets (`whsec_...`), sealed at rest: the current one, then the previous during a rotation. */
  signingSecrets?: string[];
  /** Request only: make a new signing secret and keep the current one as the second until the next rotation. */
  rotateSigningSecret?: boolean;
}
