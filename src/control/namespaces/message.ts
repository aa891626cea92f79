/** The Cloud API's Namespace message of a stored namespace row. */
import type { temporal } from '@temporalio/proto';
import { timestampFromDate } from '../../api/cloud/handlers.js';
import type { PlainMessage } from '../../api/cloud/plain-types.js';
import { ACTIVE, type NamespaceRow } from '../model.js';
import { CLOUD_DOMAIN, SEARCH_ATTRIBUTE_TYPES } from './rules.js';
import { apiKeyOn, mtlsOn, parseStored, type StoredSpec } from './spec.js';

type NamespaceMessage = PlainMessage<temporal.api.cloud.namespace.v1.INamespace>;
type NamespaceSpecMessage = PlainMessage<temporal.api.cloud.namespace.v1.INamespaceSpec>;

/** The base64-PEM text form of stored bundle bytes (the deprecated string twin). */
function caText(b64: string): string {
  const raw = Buffer.from(b64, 'base64');
  const text = raw.toString('utf8').trim();
  return text.includes('-----BEGIN') ? raw.toString('base64') : text;
}

function specMessage(s: StoredSpec): NamespaceSpecMessage {
  const msg: NamespaceSpecMessage = {
    name: s.name,
    regions: [...s.regions],
    replicas: s.regions.map((region) => ({ region })),
    retentionDays: s.retentionDays,
    searchAttributes: { ...s.searchAttributes },
    customSearchAttributes: Object.fromEntries(Object.entries(s.searchAttributes).map(([n, t]) => [n, SEARCH_ATTRIBUTE_TYPES[t] ?? t])),
    connectivityRuleIds: [],
  };
  if (s.mtlsAuth) {
    msg.mtlsAuth = {
      acceptedClientCa: Buffer.from(s.mtlsAuth.acceptedClientCa, 'base64'),
      acceptedClientCaDeprecated: s.mtlsAuth.acceptedClientCa ? caText(s.mtlsAuth.acceptedClientCa) : '',
      certificateFilters: s.mtlsAuth.certificateFilters.map((f) => ({ ...f })),
      enabled: s.mtlsAuth.enabled,
    };
  }
  if (s.apiKeyAuth) msg.apiKeyAuth = { ...s.apiKeyAuth };
  if (s.codecServer) {
    const { customErrorMessage, ...rest } = s.codecServer;
    msg.codecServer = customErrorMessage ? { ...rest, customErrorMessage: { default: { ...customErrorMessage.default } } } : { ...rest };
  }
  if (s.lifecycle) msg.lifecycle = { ...s.lifecycle };
  if (s.highAvailability) msg.highAvailability = { ...s.highAvailability };
  if (s.fairness) msg.fairness = { ...s.fairness };
  return msg;
}

/** The regional API-key endpoint host of a region: `aws-us-east-1` → `us-east-1.aws.api.temporal.io`. */
function regionalApiHost(region: string): string {
  const i = region.indexOf('-');
  return `${region.slice(i + 1)}.${region.slice(0, i)}.api.temporal.io`;
}

/** The Namespace message of a row: its spec, endpoints, regions and replicas. */
export function namespaceMessage(row: NamespaceRow): NamespaceMessage {
  const spec = parseStored(row);
  const ns = row.namespace;
  const endpoints: NonNullable<NamespaceMessage['endpoints']> = { webAddress: `${ns}.web.${CLOUD_DOMAIN}` };
  if (mtlsOn(spec)) endpoints.mtlsGrpcAddress = `${ns}.${CLOUD_DOMAIN}:7233`;
  // API keys: the regional endpoint, or for a multi-region namespace the namespace endpoint, which follows failovers.
  if (apiKeyOn(spec)) endpoints.grpcAddress = spec.regions.length > 1 ? `${ns}.${CLOUD_DOMAIN}:7233` : `${regionalApiHost(row.active_region)}:7233`;
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
      spec.regions.map((r) => [
        r,
        r === row.active_region ? { state: 'STATE_ACTIVE', stateDeprecated: 'active' } : { state: 'STATE_PASSIVE', stateDeprecated: 'passive' },
      ]),
    ),
    tags: JSON.parse(row.tags_json) as Record<string, string>,
    replicas: spec.regions.map((region) => ({ id: region, isPrimary: region === row.active_region, state: 'REPLICA_STATE_ACTIVE', region })),
  };
}
