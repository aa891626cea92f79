/**
 * Namespaces: GetNamespaces, GetNamespace, CreateNamespace, UpdateNamespace (also certificates,
 * certificate filters, custom search attributes and retention), RenameCustomSearchAttribute,
 * FailoverNamespaceRegion (audited as FailoverNamespace) and DeleteNamespace.
 *
 * A namespace's id is `<name>.<account id>`, as in Temporal Cloud. A namespace of another account,
 * or one the caller has no permission on at all, is NOT_FOUND, exactly like one that does not
 * exist: existence never leaks. A caller who can see the namespace but lacks the permission the
 * RPC needs (Read trying UpdateNamespace) gets PERMISSION_DENIED.
 *
 * The spec is stored as JSON (`namespaces.spec_json`) in a normalised form (`StoredSpec`): the
 * CA bundle as base64 of the bytes the client sent, search attributes as
 * `name → SEARCH_ATTRIBUTE_TYPE_*`. UpdateNamespace replaces the spec as a whole (Temporal Cloud
 * semantics: send what GetNamespace returned, changed), except that an empty region list and a
 * zero retention mean "unchanged".
 */
import { X509Certificate, createHash } from 'node:crypto';
import { AuditError, failedPrecondition, invalidArgument, notFound } from '../../errors.js';
import { buildDetails } from '../../record/operations.js';
import { timestampFromDate, type CallContext, type CloudHandlers, type CloudRequest, type CloudResponse } from '../../api/cloud/handlers.js';
import type { AccountCaller } from '../../api/auth.js';
import type { StoreTx } from '../../store/store.js';
import type { ControlPlane } from '../context.js';
import { runMutation, runRead } from '../mutation.js';
import { ACTIVE, newResourceVersion, type NamespaceRow, type UserRow } from '../model.js';
import { decodePageToken, pageOf, pageSizeOf } from '../paging.js';
import { isNamespaceAdminEverywhere, namespacePermission } from '../rbac.js';
import { checkVersion, namespaceRow, obj, str } from '../validate.js';

// ---------------------------------------------------------------------------------------------
// Rules (Temporal Cloud's, where it publishes them)
// ---------------------------------------------------------------------------------------------

/** Regions a namespace may be placed in (Temporal Cloud's region codes). */
export const REGIONS: readonly string[] = [
  'aws-ap-northeast-1',
  'aws-ap-northeast-2',
  'aws-ap-south-1',
  'aws-ap-south-2',
  'aws-ap-southeast-1',
  'aws-ap-southeast-2',
  'aws-ca-central-1',
  'aws-eu-central-1',
  'aws-eu-west-1',
  'aws-eu-west-2',
  'aws-sa-east-1',
  'aws-us-east-1',
  'aws-us-east-2',
  'aws-us-west-2',
  'gcp-asia-south1',
  'gcp-australia-southeast1',
  'gcp-europe-west3',
  'gcp-us-central1',
  'gcp-us-east4',
  'gcp-us-west1',
];

/** Retention period bounds and default, in days (Temporal Cloud: 1 to 90, default 30). */
export const MIN_RETENTION_DAYS = 1;
export const MAX_RETENTION_DAYS = 90;
export const DEFAULT_RETENTION_DAYS = 30;

/** Namespace names: 2–39 characters, lowercase letters, digits and hyphens, starting with a letter, not ending with a hyphen. */
export const NAMESPACE_NAME = /^[a-z][a-z0-9-]{0,37}[a-z0-9]$/;

/** Temporal Cloud's limit on a namespace's CA bundle: 32 KB or 16 certificates. */
export const MAX_CA_BYTES = 32 * 1024;
export const MAX_CA_CERTIFICATES = 16;
export const MAX_CERTIFICATE_FILTERS = 25;
export const MAX_TAGS = 50;

/** Domain of the derived endpoints (the addresses Temporal Cloud gives a namespace). */
export const CLOUD_DOMAIN = 'tmprl.cloud';

/** Search attribute types: the enum name and the spelling of the deprecated `custom_search_attributes` map (and of audit details). */
export const SEARCH_ATTRIBUTE_TYPES: Readonly<Record<string, string>> = {
  SEARCH_ATTRIBUTE_TYPE_TEXT: 'Text',
  SEARCH_ATTRIBUTE_TYPE_KEYWORD: 'Keyword',
  SEARCH_ATTRIBUTE_TYPE_INT: 'Int',
  SEARCH_ATTRIBUTE_TYPE_DOUBLE: 'Double',
  SEARCH_ATTRIBUTE_TYPE_BOOL: 'Bool',
  SEARCH_ATTRIBUTE_TYPE_DATETIME: 'Datetime',
  SEARCH_ATTRIBUTE_TYPE_KEYWORD_LIST: 'KeywordList',
};
const SA_ENUM_BY_NUMBER = ['', ...Object.keys(SEARCH_ATTRIBUTE_TYPES)];
const SA_ENUM_BY_LABEL = new Map(Object.entries(SEARCH_ATTRIBUTE_TYPES).map(([e, l]) => [l.toLowerCase(), e]));

/** Custom search attributes per type (Temporal Cloud's limits). */
export const SEARCH_ATTRIBUTE_LIMITS: Readonly<Record<string, number>> = {
  SEARCH_ATTRIBUTE_TYPE_TEXT: 5,
  SEARCH_ATTRIBUTE_TYPE_KEYWORD: 40,
  SEARCH_ATTRIBUTE_TYPE_INT: 20,
  SEARCH_ATTRIBUTE_TYPE_DOUBLE: 20,
  SEARCH_ATTRIBUTE_TYPE_BOOL: 20,
  SEARCH_ATTRIBUTE_TYPE_DATETIME: 20,
  SEARCH_ATTRIBUTE_TYPE_KEYWORD_LIST: 5,
};
const SEARCH_ATTRIBUTE_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
/** Temporal's system search attributes (a custom one may not shadow them), lowercased. */
const SYSTEM_SEARCH_ATTRIBUTES = new Set(
  [
    'WorkflowId', 'RunId', 'WorkflowType', 'StartTime', 'ExecutionTime', 'CloseTime', 'ExecutionStatus', 'TaskQueue', 'HistoryLength',
    'HistorySizeBytes', 'ExecutionDuration', 'StateTransitionCount', 'BatcherUser', 'BatcherNamespace', 'BuildIds', 'BinaryChecksums',
    'ParentWorkflowId', 'ParentRunId', 'RootWorkflowId', 'RootRunId', 'CustomNamespace',
  ].map((s) => s.toLowerCase()),
);

// ---------------------------------------------------------------------------------------------
// The stored spec
// ---------------------------------------------------------------------------------------------

interface CertificateFilter {
  commonName: string;
  organization: string;
  organizationalUnit: string;
  subjectAlternativeName: string;
}

export interface StoredSpec {
  name: string;
  regions: string[];
  retentionDays: number;
  /** `acceptedClientCa` is base64 of the bytes as the client sent them ('' when none). */
  mtlsAuth: { acceptedClientCa: string; certificateFilters: CertificateFilter[]; enabled: boolean } | null;
  apiKeyAuth: { enabled: boolean } | null;
  /** name → SEARCH_ATTRIBUTE_TYPE_* */
  searchAttributes: Record<string, string>;
  codecServer: {
    endpoint: string;
    passAccessToken: boolean;
    includeCrossOriginCredentials: boolean;
    customErrorMessage: { default: { message: string; link: string } } | null;
  } | null;
  lifecycle: { enableDeleteProtection: boolean } | null;
  highAvailability: { disableManagedFailover: boolean; disablePassivePollerForwarding: boolean } | null;
  fairness: { taskQueueFairnessEnabled: boolean } | null;
}

function parseStored(row: NamespaceRow): StoredSpec {
  return JSON.parse(row.spec_json) as StoredSpec;
}

const mtlsOn = (s: StoredSpec): boolean => Boolean(s.mtlsAuth && (s.mtlsAuth.enabled || s.mtlsAuth.acceptedClientCa !== ''));
const apiKeyOn = (s: StoredSpec): boolean => Boolean(s.apiKeyAuth?.enabled);

// ---------------------------------------------------------------------------------------------
// CA bundles (shared with UpdateAccount's observability CA)
// ---------------------------------------------------------------------------------------------

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Bytes of a `bytes` field as handlers may see them (Buffer; defensive about base64 strings). */
export function bytesOf(v: unknown): Buffer {
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof Uint8Array) return Buffer.from(v);
  if (typeof v === 'string') return Buffer.from(v, 'base64');
  return Buffer.alloc(0);
}

/**
 * The PEM text of a CA bundle field. The API documents the bytes as base64 of the PEM; raw PEM
 * bytes are accepted too.
 */
function pemTextOf(raw: Buffer, field: string): string {
  const text = raw.toString('utf8').trim();
  if (text.includes('-----BEGIN')) return text;
  if (!/^[A-Za-z0-9+/=_\s-]+$/.test(text)) throw invalidArgument(`${field} must be base64 of PEM certificates`);
  return Buffer.from(text, 'base64').toString('utf8');
}

/** Hex MD5 over a certificate's DER: the 32-hex `client_ca_fingerprints` form of the seeds. */
export function certificateFingerprint(cert: X509Certificate): string {
  return createHash('md5').update(cert.raw).digest('hex');
}

/** Fingerprints of a stored bundle (no validity checks: it was checked when set). */
export function fingerprintsOfStored(b64: string): string[] {
  if (!b64) return [];
  const pem = pemTextOf(Buffer.from(b64, 'base64'), 'accepted_client_ca');
  return (pem.match(PEM_CERT) ?? []).map((block) => certificateFingerprint(new X509Certificate(block)));
}

export interface CaBundle {
  /** base64 of the bytes as given. */
  stored: string;
  /** One per certificate, in bundle order. */
  fingerprints: string[];
}

/**
 * Validates a CA bundle: base64 (or raw) PEM, 1–16 certificates, at most 32 KB, each a parsable
 * X.509 CA certificate that has not expired. Empty input gives undefined.
 */
export function checkCaBundle(raw: Buffer, field: string, now = Date.now()): CaBundle | undefined {
  if (raw.length === 0) return undefined;
  const pem = pemTextOf(raw, field);
  if (Buffer.byteLength(pem) > MAX_CA_BYTES) throw invalidArgument(`${field} must be at most ${MAX_CA_BYTES / 1024} KB of PEM`);
  const blocks = pem.match(PEM_CERT) ?? [];
  if (blocks.length === 0) throw invalidArgument(`${field} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  if (blocks.length > MAX_CA_CERTIFICATES) throw invalidArgument(`${field} may hold at most ${MAX_CA_CERTIFICATES} certificates, got ${blocks.length}`);
  const fingerprints = blocks.map((block, i) => {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(block);
    } catch {
      throw invalidArgument(`${field}: certificate ${i + 1} is not a valid X.509 certificate`);
    }
    if (!cert.ca) throw invalidArgument(`${field}: certificate ${i + 1} (${cert.subject.replace(/\n/g, ', ')}) is not a CA certificate (basicConstraints CA:TRUE)`);
    if (Date.parse(cert.validTo) <= now) throw invalidArgument(`${field}: certificate ${i + 1} (${cert.subject.replace(/\n/g, ', ')}) expired on ${cert.validTo}`);
    return certificateFingerprint(cert);
  });
  return { stored: raw.toString('base64'), fingerprints };
}

/** `accepted_client_ca` (bytes) or, from older clients, `accepted_client_ca_deprecated` (base64 text). */
function caBytesOf(mtls: Record<string, unknown>): Buffer {
  const bytes = bytesOf(mtls['acceptedClientCa']);
  if (bytes.length > 0) return bytes;
  return Buffer.from(str(mtls, 'acceptedClientCaDeprecated'), 'utf8');
}

/** The base64-PEM text form of stored bundle bytes (the deprecated string twin). */
function caText(b64: string): string {
  const raw = Buffer.from(b64, 'base64');
  const text = raw.toString('utf8').trim();
  return text.includes('-----BEGIN') ? raw.toString('base64') : text;
}

const sameSet = (a: readonly string[], b: readonly string[]) => a.length === b.length && [...a].sort().join() === [...b].sort().join();

// ---------------------------------------------------------------------------------------------
// Spec validation
// ---------------------------------------------------------------------------------------------

function checkName(name: string): string {
  if (name === '') throw invalidArgument('spec.name is required');
  if (!NAMESPACE_NAME.test(name)) {
    throw invalidArgument(
      `spec.name "${name.slice(0, 64)}" is not a valid namespace name: 2-39 characters, lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen`,
    );
  }
  return name;
}

/** `spec.regions` (deprecated) or `spec.replicas[].region`: 1 or 2 distinct known regions, or [] when neither is given. */
function regionsOf(spec: Record<string, unknown>): string[] {
  const legacy = Array.isArray(spec['regions']) ? (spec['regions'] as unknown[]).map(String) : [];
  const replicas = Array.isArray(spec['replicas']) ? (spec['replicas'] as unknown[]).map((r) => str((r ?? {}) as Record<string, unknown>, 'region')) : [];
  if (legacy.length > 0 && replicas.length > 0 && legacy.join() !== replicas.join()) {
    throw invalidArgument('spec.regions and spec.replicas name different regions: give one of them');
  }
  const regions = legacy.length > 0 ? legacy : replicas;
  if (regions.length > 2) throw invalidArgument('a namespace has one region, or two for a multi-region namespace');
  for (const r of regions) {
    if (!REGIONS.includes(r)) throw invalidArgument(`spec.regions: unknown region "${r.slice(0, 64)}"; known regions: ${REGIONS.join(', ')}`);
  }
  if (new Set(regions).size !== regions.length) throw invalidArgument('spec.regions names the same region twice');
  return regions;
}

function checkRetention(raw: unknown): number {
  const days = Number(raw ?? 0);
  if (!Number.isInteger(days) || days < MIN_RETENTION_DAYS || days > MAX_RETENTION_DAYS) {
    throw invalidArgument(`spec.retention_days must be from ${MIN_RETENTION_DAYS} to ${MAX_RETENTION_DAYS}, got ${String(raw)}`);
  }
  return days;
}

function checkSearchAttributeName(name: string, field: string): string {
  if (!SEARCH_ATTRIBUTE_NAME.test(name)) {
    throw invalidArgument(`${field}: "${name.slice(0, 80)}" is not a valid search attribute name (a letter, then up to 63 letters, digits, _ or -)`);
  }
  if (name.toLowerCase().startsWith('temporal') || SYSTEM_SEARCH_ATTRIBUTES.has(name.toLowerCase())) {
    throw invalidArgument(`${field}: "${name}" is reserved for a system search attribute`);
  }
  return name;
}

/** `spec.search_attributes` and the deprecated `spec.custom_search_attributes`, merged, as name → enum name. */
function searchAttributesOf(spec: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  const add = (name: string, type: string, field: string) => {
    checkSearchAttributeName(name, field);
    if (out[name] !== undefined && out[name] !== type) {
      throw invalidArgument(`${field}: search attribute ${name} is given two types (${SEARCH_ATTRIBUTE_TYPES[out[name]!]} and ${SEARCH_ATTRIBUTE_TYPES[type]})`);
    }
    out[name] = type;
  };
  for (const [name, raw] of Object.entries(obj(spec, 'searchAttributes') ?? {})) {
    const type = typeof raw === 'number' ? SA_ENUM_BY_NUMBER[raw] : raw;
    if (typeof type !== 'string' || SEARCH_ATTRIBUTE_TYPES[type] === undefined) {
      throw invalidArgument(`spec.search_attributes[${name.slice(0, 80)}] must be one of ${Object.keys(SEARCH_ATTRIBUTE_TYPES).join(', ')}`);
    }
    add(name, type, 'spec.search_attributes');
  }
  for (const [name, raw] of Object.entries(obj(spec, 'customSearchAttributes') ?? {})) {
    const type = SA_ENUM_BY_LABEL.get(String(raw).toLowerCase().replace(/_/g, ''));
    if (type === undefined) {
      throw invalidArgument(`spec.custom_search_attributes[${name.slice(0, 80)}] must be one of ${Object.values(SEARCH_ATTRIBUTE_TYPES).join(', ')}`);
    }
    add(name, type, 'spec.custom_search_attributes');
  }
  checkSearchAttributeLimits(out);
  return out;
}

function checkSearchAttributeLimits(attrs: Record<string, string>): void {
  const counts: Record<string, number> = {};
  for (const t of Object.values(attrs)) counts[t] = (counts[t] ?? 0) + 1;
  for (const [t, n] of Object.entries(counts)) {
    if (n > (SEARCH_ATTRIBUTE_LIMITS[t] ?? 0)) throw invalidArgument(`a namespace may have at most ${SEARCH_ATTRIBUTE_LIMITS[t]} custom search attributes of type ${SEARCH_ATTRIBUTE_TYPES[t]}`);
  }
}

function checkFilters(raw: unknown): CertificateFilter[] {
  const list = Array.isArray(raw) ? (raw as Record<string, unknown>[]) : [];
  if (list.length > MAX_CERTIFICATE_FILTERS) throw invalidArgument(`spec.mtls_auth.certificate_filters: at most ${MAX_CERTIFICATE_FILTERS} filters`);
  return list.map((f, i) => {
    const filter: CertificateFilter = {
      commonName: str(f ?? {}, 'commonName'),
      organization: str(f ?? {}, 'organization'),
      organizationalUnit: str(f ?? {}, 'organizationalUnit'),
      subjectAlternativeName: str(f ?? {}, 'subjectAlternativeName'),
    };
    const values = Object.values(filter);
    if (values.every((v) => v === '')) throw invalidArgument(`spec.mtls_auth.certificate_filters[${i}] must set at least one field`);
    if (values.some((v) => v.length > 1024)) throw invalidArgument(`spec.mtls_auth.certificate_filters[${i}]: fields are at most 1024 characters`);
    return filter;
  });
}

function checkCodecServer(raw: Record<string, unknown> | undefined): StoredSpec['codecServer'] {
  if (!raw) return null;
  const endpoint = str(raw, 'endpoint');
  if (endpoint === '') {
    if (raw['passAccessToken'] === true || raw['includeCrossOriginCredentials'] === true) throw invalidArgument('spec.codec_server.endpoint is required');
    return null;
  }
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw invalidArgument('spec.codec_server.endpoint must be an https:// URL');
  }
  if (url.protocol !== 'https:' || endpoint.length > 2048) throw invalidArgument('spec.codec_server.endpoint must be an https:// URL');
  const custom = obj(obj(raw, 'customErrorMessage') ?? {}, 'default');
  return {
    endpoint,
    passAccessToken: raw['passAccessToken'] === true,
    includeCrossOriginCredentials: raw['includeCrossOriginCredentials'] === true,
    customErrorMessage: custom && (str(custom, 'message') || str(custom, 'link')) ? { default: { message: str(custom, 'message'), link: str(custom, 'link') } } : null,
  };
}

function checkTags(raw: unknown): Record<string, string> {
  const tags: Record<string, string> = {};
  const entries = raw && typeof raw === 'object' ? Object.entries(raw as Record<string, unknown>) : [];
  if (entries.length > MAX_TAGS) throw invalidArgument(`tags: at most ${MAX_TAGS}`);
  for (const [k, v] of entries) {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.:/=+@-]{0,62}$/.test(k)) throw invalidArgument(`tags: "${k.slice(0, 80)}" is not a valid tag key (1-63 letters, digits and _.:/=+@-)`);
    // eslint-disable-next-line no-control-regex -- refusing control characters is the point
    if (typeof v !== 'string' || v.length > 63 || /[\x00-\x1f]/.test(v)) throw invalidArgument(`tags[${k}] must be a string of at most 63 printable characters`);
    tags[k] = v;
  }
  return tags;
}

interface CheckedSpec {
  spec: StoredSpec;
  fingerprints: string[];
}

/**
 * Validates a NamespaceSpec. `current` is the stored spec on update: empty regions and zero
 * retention then keep the current values, and the name and regions may not change.
 */
function checkSpec(raw: Record<string, unknown> | undefined, current: StoredSpec | undefined, now: number): CheckedSpec {
  if (!raw) throw invalidArgument('spec is required');
  const name = current && str(raw, 'name') === '' ? current.name : checkName(str(raw, 'name'));
  if (current && name !== current.name) throw invalidArgument(`spec.name cannot change (namespace ${current.name}); create a new namespace instead`);

  let regions = regionsOf(raw);
  if (current) {
    if (regions.length === 0) regions = current.regions;
    else if (regions.join() !== current.regions.join()) {
      throw invalidArgument('UpdateNamespace cannot change the regions of a namespace (use AddNamespaceRegion / DeleteNamespaceRegion, not served here)');
    }
  } else if (regions.length === 0) {
    throw invalidArgument('spec.regions (or spec.replicas) must name the region of the namespace');
  }

  const rawRetention = Number(raw['retentionDays'] ?? 0);
  const retentionDays = rawRetention === 0 ? (current?.retentionDays ?? DEFAULT_RETENTION_DAYS) : checkRetention(raw['retentionDays']);

  const mtlsRaw = obj(raw, 'mtlsAuth');
  let mtlsAuth: StoredSpec['mtlsAuth'] = null;
  let fingerprints: string[] = [];
  if (mtlsRaw) {
    const bundle = checkCaBundle(caBytesOf(mtlsRaw), 'spec.mtls_auth.accepted_client_ca', now);
    const enabled = mtlsRaw['enabled'] === true || bundle !== undefined;
    if (enabled && !bundle) throw invalidArgument('spec.mtls_auth.accepted_client_ca is required when mTLS auth is enabled');
    fingerprints = bundle?.fingerprints ?? [];
    mtlsAuth = { acceptedClientCa: bundle?.stored ?? '', certificateFilters: checkFilters(mtlsRaw['certificateFilters']), enabled };
  }
  const apiKeyRaw = obj(raw, 'apiKeyAuth');
  const apiKeyAuth = apiKeyRaw ? { enabled: apiKeyRaw['enabled'] === true } : null;

  const connectivity = Array.isArray(raw['connectivityRuleIds']) ? (raw['connectivityRuleIds'] as unknown[]) : [];
  if (connectivity.length > 0) throw invalidArgument('spec.connectivity_rule_ids: this server manages no connectivity rules');

  const lifecycleRaw = obj(raw, 'lifecycle');
  const haRaw = obj(raw, 'highAvailability');
  const fairnessRaw = obj(raw, 'fairness');
  const spec: StoredSpec = {
    name,
    regions,
    retentionDays,
    mtlsAuth,
    apiKeyAuth,
    searchAttributes: searchAttributesOf(raw),
    codecServer: checkCodecServer(obj(raw, 'codecServer')),
    lifecycle: lifecycleRaw ? { enableDeleteProtection: lifecycleRaw['enableDeleteProtection'] === true } : null,
    highAvailability: haRaw ? { disableManagedFailover: haRaw['disableManagedFailover'] === true, disablePassivePollerForwarding: haRaw['disablePassivePollerForwarding'] === true } : null,
    fairness: fairnessRaw ? { taskQueueFairnessEnabled: fairnessRaw['taskQueueFairnessEnabled'] === true } : null,
  };
  if (!mtlsOn(spec) && !apiKeyOn(spec)) {
    throw invalidArgument('a namespace needs an authentication method: spec.mtls_auth with accepted_client_ca, or spec.api_key_auth.enabled');
  }
  return { spec, fingerprints };
}

// ---------------------------------------------------------------------------------------------
// The Namespace message
// ---------------------------------------------------------------------------------------------

function specMessage(s: StoredSpec): CloudResponse {
  const msg: CloudResponse = {
    name: s.name,
    regions: [...s.regions],
    replicas: s.regions.map((region) => ({ region })),
    retentionDays: s.retentionDays,
    searchAttributes: { ...s.searchAttributes },
    customSearchAttributes: Object.fromEntries(Object.entries(s.searchAttributes).map(([n, t]) => [n, SEARCH_ATTRIBUTE_TYPES[t] ?? t])),
    connectivityRuleIds: [],
  };
  if (s.mtlsAuth) {
    msg['mtlsAuth'] = {
      acceptedClientCa: Buffer.from(s.mtlsAuth.acceptedClientCa, 'base64'),
      acceptedClientCaDeprecated: s.mtlsAuth.acceptedClientCa ? caText(s.mtlsAuth.acceptedClientCa) : '',
      certificateFilters: s.mtlsAuth.certificateFilters.map((f) => ({ ...f })),
      enabled: s.mtlsAuth.enabled,
    };
  }
  if (s.apiKeyAuth) msg['apiKeyAuth'] = { ...s.apiKeyAuth };
  if (s.codecServer) {
    const { customErrorMessage, ...rest } = s.codecServer;
    msg['codecServer'] = customErrorMessage ? { ...rest, customErrorMessage: { default: { ...customErrorMessage.default } } } : { ...rest };
  }
  if (s.lifecycle) msg['lifecycle'] = { ...s.lifecycle };
  if (s.highAvailability) msg['highAvailability'] = { ...s.highAvailability };
  if (s.fairness) msg['fairness'] = { ...s.fairness };
  return msg;
}

/** The regional API-key endpoint host of a region: `aws-us-east-1` → `us-east-1.aws.api.temporal.io`. */
function regionalApiHost(region: string): string {
  const i = region.indexOf('-');
  return `${region.slice(i + 1)}.${region.slice(0, i)}.api.temporal.io`;
}

export function namespaceMessage(row: NamespaceRow): CloudResponse {
  const spec = parseStored(row);
  const ns = row.namespace;
  const endpoints: CloudResponse = { webAddress: `${ns}.web.${CLOUD_DOMAIN}` };
  if (mtlsOn(spec)) endpoints['mtlsGrpcAddress'] = `${ns}.${CLOUD_DOMAIN}:7233`;
  // API keys: the regional endpoint, or for a multi-region namespace the namespace endpoint, which follows failovers.
  if (apiKeyOn(spec)) endpoints['grpcAddress'] = spec.regions.length > 1 ? `${ns}.${CLOUD_DOMAIN}:7233` : `${regionalApiHost(row.active_region)}:7233`;
  return {
    namespace: ns,
    resourceVersion: row.resource_version,
    spec: specMessage(spec),
    ...ACTIVE,
    asyncOperationId: row.async_operation_id,
    endpoints,
    activeRegion: row.active_region,
    createdTime: timestampFromDate(Number(row.created_ms)),
    lastModifiedTime: timestampFromDate(Number(row.modified_ms)),
    regionStatus: Object.fromEntries(
      spec.regions.map((r) => [r, r === row.active_region ? { state: 'STATE_ACTIVE', stateDeprecated: 'active' } : { state: 'STATE_PASSIVE', stateDeprecated: 'passive' }]),
    ),
    tags: JSON.parse(row.tags_json) as Record<string, string>,
    replicas: spec.regions.map((region) => ({ id: region, isPrimary: region === row.active_region, state: 'REPLICA_STATE_ACTIVE', region })),
  };
}

// ---------------------------------------------------------------------------------------------
// Storage helpers
// ---------------------------------------------------------------------------------------------

/**
 * Writes a namespace row's changes if it is still at `row.resource_version` (optimistic
 * concurrency that holds across processes, on both engines).
 */
async function saveNamespace(tx: StoreTx, row: NamespaceRow, changes: { spec?: StoredSpec; activeRegion?: string }, op: { id: string; now: number }): Promise<void> {
  const r = await tx.run(
    'UPDATE namespaces SET spec_json = ?, active_region = ?, resource_version = ?, async_operation_id = ?, modified_ms = ? WHERE namespace = ? AND resource_version = ?',
    [
      changes.spec ? JSON.stringify(changes.spec) : row.spec_json,
      changes.activeRegion ?? row.active_region,
      newResourceVersion(),
      op.id,
      op.now,
      row.namespace,
      row.resource_version,
    ],
  );
  if (r.changes !== 1) throw failedPrecondition(`namespace ${row.namespace} was modified concurrently: read it again and retry`);
}

/**
 * Changes one user's namespace permissions (read-modify-write guarded by the user's
 * resource_version, so a concurrent UpdateUser is neither lost nor overwritten). Bumps the
 * user's resource_version: a client holding the old one must re-read.
 */
async function editAccess(tx: StoreTx, userId: string, now: number, edit: (access: Record<string, string>) => boolean): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const user = await tx.get<Pick<UserRow, 'namespace_access_json' | 'resource_version'>>('SELECT namespace_access_json, resource_version FROM users WHERE id = ?', [userId]);
    if (!user) return;
    const access = JSON.parse(user.namespace_access_json) as Record<string, string>;
    if (!edit(access)) return;
    const r = await tx.run('UPDATE users SET namespace_access_json = ?, resource_version = ?, modified_ms = ? WHERE id = ? AND resource_version = ?', [
      JSON.stringify(access),
      newResourceVersion(),
      now,
      userId,
      user.resource_version,
    ]);
    if (r.changes === 1) return;
  }
  throw failedPrecondition(`user ${userId} is being modified concurrently: retry`);
}

const clip = (s: string, n: number) => (s.length > n ? s.slice(0, n) : s);

/** Owner and Global Admin: Namespace Admin everywhere (the access table says who). */
const isAccountAdmin = (caller: AccountCaller) => isNamespaceAdminEverywhere(caller.role);

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

export interface NamespaceMutation {
  rpc: string;
  operation: string;
  request: CloudRequest;
  namespace: string;
  refusedDetails: () => Record<string, unknown>;
  apply(tx: StoreTx, op: { id: string; now: number }, row: NamespaceRow): Promise<{ details: Record<string, unknown>; response: CloudResponse }>;
}

/**
 * A mutation of one existing namespace. Order of checks: idempotent replay (runMutation), then
 * NOT_FOUND for a namespace the caller cannot see (none in this account, another account's, or
 * one the caller has no permission on at all: its existence must not leak), then the RBAC rule
 * (PERMISSION_DENIED), then the RPC's own checks.
 */
export function namespaceMutation(cp: ControlPlane, caller: AccountCaller, ctx: CallContext, m: NamespaceMutation): Promise<CloudResponse> {
  let row: NamespaceRow | undefined;
  return runMutation(cp, caller, ctx, {
    rpc: m.rpc,
    operation: m.operation,
    request: m.request,
    target: { namespace: m.namespace },
    refusedDetails: m.refusedDetails,
    // apply runs in the precheck's transaction: the row it read is the one to change.
    precheck: async (tx) => {
      if (m.namespace === '') throw invalidArgument('namespace is required');
      if (namespacePermission(caller, m.namespace) === undefined) throw notFound(`namespace ${m.namespace} not found`);
      row = await namespaceRow(tx, caller.accountId, m.namespace);
    },
    apply: async (tx, op) => m.apply(tx, op, row!),
  });
}

export function namespaceHandlers(cp: ControlPlane): CloudHandlers {
  const sql = cp.store.sql;
  return {
    GetNamespaces: async (req, ctx) => {
      const caller = await cp.authenticate(ctx);
      return runRead(caller, 'GetNamespaces', undefined, async () => {
        const limit = pageSizeOf(req['pageSize']);
        const after = decodePageToken(req['pageToken']);
        const name = str(req, 'name');
        // `name` is the namespace's name; a full `name.account` id is accepted too.
        const only = name === '' ? undefined : name.includes('.') ? name : `${name}.${caller.accountId}`;
        // Owner and Global Admin see every namespace; anyone else those they have a permission on.
        const allowed = isAccountAdmin(caller) ? undefined : Object.keys(caller.namespaceAccess);
        if (allowed && allowed.length === 0) return { namespaces: [], nextPageToken: '' };
        const where = ['account_id = ?', 'namespace > ?'];
        const params: unknown[] = [caller.accountId, after];
        if (only !== undefined) {
          where.push('namespace = ?');
          params.push(only);
        }
        if (allowed) {
          where.push(`namespace IN (${allowed.map(() => '?').join(', ')})`);
          params.push(...allowed);
        }
        const rows = await sql.all<NamespaceRow>(`SELECT * FROM namespaces WHERE ${where.join(' AND ')} ORDER BY namespace LIMIT ?`, [...params, limit + 1]);
        const page = pageOf(rows, limit, (r) => r.namespace);
        return { namespaces: page.items.map(namespaceMessage), nextPageToken: page.nextPageToken };
      });
    },

    GetNamespace: async (req, ctx) => {
      const caller = await cp.authenticate(ctx);
      const namespace = str(req, 'namespace');
      if (namespace === '') throw invalidArgument('namespace is required');
      // No permission at all reads as "does not exist", as does another account's namespace; the
      // attempt is still a refused read, recorded in the caller's account.
      if (namespacePermission(caller, namespace) === undefined) {
        const err = notFound(`namespace ${namespace} not found`);
        await caller.refusedRead?.('GetNamespace', { namespace: namespace.slice(0, 256) }, err);
        throw err;
      }
      const row = await namespaceRow(sql, caller.accountId, namespace);
      return runRead(caller, 'GetNamespace', { namespace }, async () => ({ namespace: namespaceMessage(row) }));
    },

    CreateNamespace: async (req, ctx) => {
      const caller = await cp.authenticate(ctx);
      const rawSpec = obj(req, 'spec');
      const name = str(rawSpec ?? {}, 'name');
      const namespace = name ? `${name}.${caller.accountId}` : '';
      return runMutation(cp, caller, ctx, {
        rpc: 'CreateNamespace',
        operation: 'CreateNamespace',
        request: req,
        refusedDetails: () => buildDetails('CreateNamespace', { namespace: clip(namespace, 256) }),
        apply: async (tx, op) => {
          const { spec, fingerprints } = checkSpec(rawSpec, undefined, op.now);
          const tags = checkTags(req['tags']);
          // ON CONFLICT: a concurrent create of the same name (another process) is ALREADY_EXISTS too, never a raw key violation.
          const inserted = await tx.run(
            `INSERT INTO namespaces (namespace, account_id, spec_json, tags_json, active_region, resource_version, async_operation_id, created_ms, modified_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (namespace) DO NOTHING`,
            [namespace, caller.accountId, JSON.stringify(spec), JSON.stringify(tags), spec.regions[0], newResourceVersion(), op.id, op.now, op.now],
          );
          if (inserted.changes !== 1) throw new AuditError('AS_ERR_ALREADY_EXISTS', `namespace ${namespace} already exists`);
          // Owner and Global Admin are Namespace Admin everywhere; anyone else who creates a
          // namespace becomes its Admin, in the same transaction.
          if (!isAccountAdmin(caller)) {
            await editAccess(tx, caller.userId, op.now, (access) => {
              access[namespace] = 'PERMISSION_ADMIN';
              return true;
            });
          }
          const added = Object.fromEntries(Object.entries(spec.searchAttributes).map(([n, t]) => [n, SEARCH_ATTRIBUTE_TYPES[t] ?? t]));
          return {
            details: buildDetails('CreateNamespace', {
              namespace,
              client_ca_fingerprints: fingerprints.length > 0 ? fingerprints : undefined,
              regions: spec.regions,
              retention_days: spec.retentionDays,
              search_attribute_update: added,
            }),
            response: { namespace },
          };
        },
      });
    },

    UpdateNamespace: async (req, ctx) => {
      const caller = await cp.authenticate(ctx);
      const namespace = str(req, 'namespace');
      return namespaceMutation(cp, caller, ctx, {
        rpc: 'UpdateNamespace',
        operation: 'UpdateNamespace',
        request: req,
        namespace,
        refusedDetails: () => buildDetails('UpdateNamespace', { namespace: clip(namespace, 256) }),
        apply: async (tx, op, row) => {
          checkVersion(str(req, 'resourceVersion'), row.resource_version, `namespace ${namespace}`);
          const current = parseStored(row);
          const { spec, fingerprints } = checkSpec(obj(req, 'spec'), current, op.now);
          // Custom search attributes can be added, never removed or retyped.
          for (const [n, t] of Object.entries(current.searchAttributes)) {
            const next = spec.searchAttributes[n];
            if (next === undefined) throw invalidArgument(`custom search attribute ${n} cannot be removed`);
            if (next !== t) throw invalidArgument(`custom search attribute ${n} cannot change type (${SEARCH_ATTRIBUTE_TYPES[t]} to ${SEARCH_ATTRIBUTE_TYPES[next]})`);
          }
          const added: Record<string, string> = {};
          for (const [n, t] of Object.entries(spec.searchAttributes)) if (current.searchAttributes[n] === undefined) added[n] = SEARCH_ATTRIBUTE_TYPES[t] ?? t;
          const caChanged = !sameSet(fingerprintsOfStored(current.mtlsAuth?.acceptedClientCa ?? ''), fingerprints);
          await saveNamespace(tx, row, { spec }, op);
          return {
            details: buildDetails('UpdateNamespace', {
              namespace,
              client_ca_fingerprints: caChanged ? fingerprints : undefined,
              retention_days: spec.retentionDays !== current.retentionDays ? spec.retentionDays : undefined,
              search_attribute_update: added,
            }),
            response: {},
          };
        },
      });
    },

    RenameCustomSearchAttribute: async (req, ctx) => {
      const caller = await cp.authenticate(ctx);
      const namespace = str(req, 'namespace');
      const oldName = str(req, 'existingCustomSearchAttributeName');
      const newName = str(req, 'newCustomSearchAttributeName');
      return namespaceMutation(cp, caller, ctx, {
        rpc: 'RenameCustomSearchAttribute',
        operation: 'RenameCustomSearchAttribute',
        request: req,
        namespace,
        refusedDetails: () => buildDetails('RenameCustomSearchAttribute', { namespace: clip(namespace, 256), old_name: clip(oldName, 256), new_name: clip(newName, 256) }),
        apply: async (tx, op, row) => {
          checkVersion(str(req, 'resourceVersion'), row.resource_version, `namespace ${namespace}`);
          if (oldName === '') throw invalidArgument('existing_custom_search_attribute_name is required');
          if (newName === '') throw invalidArgument('new_custom_search_attribute_name is required');
          const spec = parseStored(row);
          const type = spec.searchAttributes[oldName];
          if (type === undefined) throw invalidArgument(`namespace ${namespace} has no custom search attribute named ${oldName}`);
          checkSearchAttributeName(newName, 'new_custom_search_attribute_name');
          if (newName === oldName) throw invalidArgument('new_custom_search_attribute_name is the current name');
          if (spec.searchAttributes[newName] !== undefined) throw new AuditError('AS_ERR_ALREADY_EXISTS', `namespace ${namespace} already has a custom search attribute named ${newName}`);
          // Keep the attribute's position in the map.
          const renamed = Object.fromEntries(Object.entries(spec.searchAttributes).map(([n, t]) => [n === oldName ? newName : n, t]));
          await saveNamespace(tx, row, { spec: { ...spec, searchAttributes: renamed } }, op);
          return { details: buildDetails('RenameCustomSearchAttribute', { namespace, old_name: oldName, new_name: newName }), response: {} };
        },
      });
    },

    FailoverNamespaceRegion: async (req, ctx) => {
      const caller = await cp.authenticate(ctx);
      const namespace = str(req, 'namespace');
      const region = str(req, 'region');
      return namespaceMutation(cp, caller, ctx, {
        rpc: 'FailoverNamespaceRegion',
        operation: 'FailoverNamespace',
        request: req,
        namespace,
        refusedDetails: () => buildDetails('FailoverNamespace', { namespace: clip(namespace, 256), region: clip(region, 64) }),
        apply: async (tx, op, row) => {
          if (region === '') throw invalidArgument('region is required');
          const spec = parseStored(row);
          if (spec.regions.length < 2) throw failedPrecondition(`namespace ${namespace} has a single region (${spec.regions[0]}): there is nothing to fail over to`);
          if (!spec.regions.includes(region)) throw failedPrecondition(`region ${region} is not a region of namespace ${namespace} (${spec.regions.join(', ')})`);
          if (region === row.active_region) throw failedPrecondition(`region ${region} is already the active region of namespace ${namespace}`);
          await saveNamespace(tx, row, { activeRegion: region }, op);
          return { details: buildDetails('FailoverNamespace', { namespace, region }), response: {} };
        },
      });
    },

    DeleteNamespace: async (req, ctx) => {
      const caller = await cp.authenticate(ctx);
      const namespace = str(req, 'namespace');
      return namespaceMutation(cp, caller, ctx, {
        rpc: 'DeleteNamespace',
        operation: 'DeleteNamespace',
        request: req,
        namespace,
        refusedDetails: () => buildDetails('DeleteNamespace', { namespace: clip(namespace, 256) }),
        apply: async (tx, op, row) => {
          checkVersion(str(req, 'resourceVersion'), row.resource_version, `namespace ${namespace}`);
          if (parseStored(row).lifecycle?.enableDeleteProtection) {
            throw failedPrecondition(`namespace ${namespace} has delete protection enabled: turn off spec.lifecycle.enable_delete_protection first`);
          }
          const r = await tx.run('DELETE FROM namespaces WHERE namespace = ? AND resource_version = ?', [namespace, row.resource_version]);
          if (r.changes !== 1) throw failedPrecondition(`namespace ${namespace} was modified concurrently: read it again and retry`);
          // Nobody keeps a permission on a namespace that is gone (a new one of the same name starts clean).
          const users = await tx.all<Pick<UserRow, 'id' | 'namespace_access_json'>>('SELECT id, namespace_access_json FROM users WHERE account_id = ?', [caller.accountId]);
          for (const u of users) {
            if (!(namespace in (JSON.parse(u.namespace_access_json) as Record<string, string>))) continue;
            await editAccess(tx, u.id, op.now, (access) => {
              if (!(namespace in access)) return false;
              delete access[namespace];
              return true;
            });
          }
          return { details: buildDetails('DeleteNamespace', { namespace }), response: {} };
        },
      });
    },
  };
}
