/**
 * Validation of a NamespaceSpec (CreateNamespace, UpdateNamespace) and of a namespace's tags,
 * into the stored form. Each failure is INVALID_ARGUMENT naming the field.
 */
import type { temporal } from '@temporalio/proto';
import { invalidArgument } from '../../errors.js';
import type { PlainMessage } from '../../api/cloud/plain-types.js';
import { bytesOf, checkCaBundle } from '../ca-bundle.js';
import {
  DEFAULT_RETENTION_DAYS,
  MAX_CERTIFICATE_FILTERS,
  MAX_RETENTION_DAYS,
  MAX_TAGS,
  MIN_RETENTION_DAYS,
  NAMESPACE_NAME,
  REGIONS,
  SEARCH_ATTRIBUTE_LIMITS,
  SEARCH_ATTRIBUTE_NAME,
  SEARCH_ATTRIBUTE_TYPES,
  SYSTEM_SEARCH_ATTRIBUTES,
} from './rules.js';
import { apiKeyOn, mtlsOn, type CertificateFilter, type StoredSpec } from './spec.js';

type NamespaceSpecIn = PlainMessage<temporal.api.cloud.namespace.v1.INamespaceSpec>;
type MtlsAuthSpecIn = PlainMessage<temporal.api.cloud.namespace.v1.IMtlsAuthSpec>;
type CertificateFilterIn = PlainMessage<temporal.api.cloud.namespace.v1.ICertificateFilterSpec>;
type CodecServerSpecIn = PlainMessage<temporal.api.cloud.namespace.v1.ICodecServerSpec>;

const SA_ENUM_BY_NUMBER = ['', ...Object.keys(SEARCH_ATTRIBUTE_TYPES)];
const SA_ENUM_BY_LABEL = new Map(Object.entries(SEARCH_ATTRIBUTE_TYPES).map(([e, l]) => [l.toLowerCase(), e]));

/** `accepted_client_ca` (bytes) or, from older clients, `accepted_client_ca_deprecated` (base64 text). */
function caBytesOf(mtls: MtlsAuthSpecIn): Buffer {
  const bytes = bytesOf(mtls.acceptedClientCa);
  if (bytes.length > 0) return bytes;
  return Buffer.from(mtls.acceptedClientCaDeprecated ?? '', 'utf8');
}

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
function regionsOf(spec: NamespaceSpecIn): string[] {
  const legacy = (spec.regions ?? []).map(String);
  const replicas = (spec.replicas ?? []).map((r) => r?.region ?? '');
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

function checkRetention(raw: number | null | undefined): number {
  const days = Number(raw ?? 0);
  if (!Number.isInteger(days) || days < MIN_RETENTION_DAYS || days > MAX_RETENTION_DAYS) {
    throw invalidArgument(`spec.retention_days must be from ${MIN_RETENTION_DAYS} to ${MAX_RETENTION_DAYS}, got ${String(raw)}`);
  }
  return days;
}

/** A custom search attribute's name: valid, and not a system attribute's. */
export function checkSearchAttributeName(name: string, field: string): string {
  if (!SEARCH_ATTRIBUTE_NAME.test(name)) {
    throw invalidArgument(`${field}: "${name.slice(0, 80)}" is not a valid search attribute name (a letter, then up to 63 letters, digits, _ or -)`);
  }
  if (name.toLowerCase().startsWith('temporal') || SYSTEM_SEARCH_ATTRIBUTES.has(name.toLowerCase())) {
    throw invalidArgument(`${field}: "${name}" is reserved for a system search attribute`);
  }
  return name;
}

/** `spec.search_attributes` and the deprecated `spec.custom_search_attributes`, merged, as name → enum name. */
function searchAttributesOf(spec: NamespaceSpecIn): Record<string, string> {
  const out: Record<string, string> = {};
  const add = (name: string, type: string, field: string) => {
    checkSearchAttributeName(name, field);
    if (out[name] !== undefined && out[name] !== type) {
      throw invalidArgument(
        `${field}: search attribute ${name} is given two types (${SEARCH_ATTRIBUTE_TYPES[out[name]!]} and ${SEARCH_ATTRIBUTE_TYPES[type]})`,
      );
    }
    out[name] = type;
  };
  for (const [name, raw] of Object.entries(spec.searchAttributes ?? {})) {
    const type = typeof raw === 'number' ? SA_ENUM_BY_NUMBER[raw] : raw;
    if (typeof type !== 'string' || SEARCH_ATTRIBUTE_TYPES[type] === undefined) {
      throw invalidArgument(`spec.search_attributes[${name.slice(0, 80)}] must be one of ${Object.keys(SEARCH_ATTRIBUTE_TYPES).join(', ')}`);
    }
    add(name, type, 'spec.search_attributes');
  }
  for (const [name, raw] of Object.entries(spec.customSearchAttributes ?? {})) {
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
    if (n > (SEARCH_ATTRIBUTE_LIMITS[t] ?? 0))
      throw invalidArgument(`a namespace may have at most ${SEARCH_ATTRIBUTE_LIMITS[t]} custom search attributes of type ${SEARCH_ATTRIBUTE_TYPES[t]}`);
  }
}

function checkFilters(raw: (CertificateFilterIn | null)[] | null | undefined): CertificateFilter[] {
  const list = raw ?? [];
  if (list.length > MAX_CERTIFICATE_FILTERS) throw invalidArgument(`spec.mtls_auth.certificate_filters: at most ${MAX_CERTIFICATE_FILTERS} filters`);
  return list.map((f, i) => {
    const filter: CertificateFilter = {
      commonName: f?.commonName ?? '',
      organization: f?.organization ?? '',
      organizationalUnit: f?.organizationalUnit ?? '',
      subjectAlternativeName: f?.subjectAlternativeName ?? '',
    };
    const values = Object.values(filter);
    if (values.every((v) => v === '')) throw invalidArgument(`spec.mtls_auth.certificate_filters[${i}] must set at least one field`);
    if (values.some((v) => v.length > 1024)) throw invalidArgument(`spec.mtls_auth.certificate_filters[${i}]: fields are at most 1024 characters`);
    return filter;
  });
}

function checkCodecServer(raw: CodecServerSpecIn | null | undefined): StoredSpec['codecServer'] {
  if (!raw) return null;
  const endpoint = raw.endpoint ?? '';
  if (endpoint === '') {
    if (raw.passAccessToken === true || raw.includeCrossOriginCredentials === true) throw invalidArgument('spec.codec_server.endpoint is required');
    return null;
  }
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw invalidArgument('spec.codec_server.endpoint must be an https:// URL');
  }
  if (url.protocol !== 'https:' || endpoint.length > 2048) throw invalidArgument('spec.codec_server.endpoint must be an https:// URL');
  const custom = raw.customErrorMessage?.default;
  const message = custom?.message ?? '';
  const link = custom?.link ?? '';
  return {
    endpoint,
    passAccessToken: raw.passAccessToken === true,
    includeCrossOriginCredentials: raw.includeCrossOriginCredentials === true,
    customErrorMessage: message || link ? { default: { message, link } } : null,
  };
}

/** A namespace's tags: at most MAX_TAGS, keys and values of at most 63 printable characters. */
export function checkTags(raw: Readonly<Record<string, string>> | null | undefined): Record<string, string> {
  const tags: Record<string, string> = {};
  const entries: [string, unknown][] = raw && typeof raw === 'object' ? Object.entries(raw) : [];
  if (entries.length > MAX_TAGS) throw invalidArgument(`tags: at most ${MAX_TAGS}`);
  for (const [k, v] of entries) {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.:/=+@-]{0,62}$/.test(k))
      throw invalidArgument(`tags: "${k.slice(0, 80)}" is not a valid tag key (1-63 letters, digits and _.:/=+@-)`);
    // eslint-disable-next-line no-control-regex -- refusing control characters is the point
    if (typeof v !== 'string' || v.length > 63 || /[\x00-\x1f]/.test(v))
      throw invalidArgument(`tags[${k}] must be a string of at most 63 printable characters`);
    tags[k] = v;
  }
  return tags;
}

/** A valid spec in the stored form, with the fingerprints of its CA bundle (in bundle order). */
export interface CheckedSpec {
  spec: StoredSpec;
  fingerprints: string[];
}

/**
 * Validates a NamespaceSpec. `current` is the stored spec on update: empty regions and zero
 * retention then keep the current values, and the name and regions may not change.
 */
export function checkSpec(raw: NamespaceSpecIn | null | undefined, current: StoredSpec | undefined, now: number): CheckedSpec {
  if (!raw) throw invalidArgument('spec is required');
  const rawName = raw.name ?? '';
  const name = current && rawName === '' ? current.name : checkName(rawName);
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

  const rawRetention = Number(raw.retentionDays ?? 0);
  const retentionDays = rawRetention === 0 ? (current?.retentionDays ?? DEFAULT_RETENTION_DAYS) : checkRetention(raw.retentionDays);

  const mtlsRaw = raw.mtlsAuth;
  let mtlsAuth: StoredSpec['mtlsAuth'] = null;
  let fingerprints: string[] = [];
  if (mtlsRaw) {
    const bundle = checkCaBundle(caBytesOf(mtlsRaw), 'spec.mtls_auth.accepted_client_ca', now);
    const enabled = mtlsRaw.enabled === true || bundle !== undefined;
    if (enabled && !bundle) throw invalidArgument('spec.mtls_auth.accepted_client_ca is required when mTLS auth is enabled');
    fingerprints = bundle?.fingerprints ?? [];
    mtlsAuth = { acceptedClientCa: bundle?.stored ?? '', certificateFilters: checkFilters(mtlsRaw.certificateFilters), enabled };
  }
  const apiKeyRaw = raw.apiKeyAuth;
  const apiKeyAuth = apiKeyRaw ? { enabled: apiKeyRaw.enabled === true } : null;

  const connectivity = raw.connectivityRuleIds ?? [];
  if (connectivity.length > 0) throw invalidArgument('spec.connectivity_rule_ids: this server manages no connectivity rules');

  const lifecycleRaw = raw.lifecycle;
  const haRaw = raw.highAvailability;
  const fairnessRaw = raw.fairness;
  const spec: StoredSpec = {
    name,
    regions,
    retentionDays,
    mtlsAuth,
    apiKeyAuth,
    searchAttributes: searchAttributesOf(raw),
    codecServer: checkCodecServer(raw.codecServer),
    lifecycle: lifecycleRaw ? { enableDeleteProtection: lifecycleRaw.enableDeleteProtection === true } : null,
    highAvailability: haRaw
      ? { disableManagedFailover: haRaw.disableManagedFailover === true, disablePassivePollerForwarding: haRaw.disablePassivePollerForwarding === true }
      : null,
    fairness: fairnessRaw ? { taskQueueFairnessEnabled: fairnessRaw.taskQueueFairnessEnabled === true } : null,
  };
  if (!mtlsOn(spec) && !apiKeyOn(spec)) {
    throw invalidArgument('a namespace needs an authentication method: spec.mtls_auth with accepted_client_ca, or spec.api_key_auth.enabled');
  }
  return { spec, fingerprints };
}
