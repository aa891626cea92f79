/**
 * The stored form of a NamespaceSpec (`namespaces.spec_json`), normalised: the CA bundle as
 * base64 of the bytes the client sent, search attributes as `name → SEARCH_ATTRIBUTE_TYPE_*`.
 */
import type { NamespaceRow } from '../model.js';

export interface CertificateFilter {
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

/** The stored spec of a namespace row. */
export function parseStored(row: NamespaceRow): StoredSpec {
  return JSON.parse(row.spec_json) as StoredSpec;
}

/** mTLS is on when it is enabled or a CA bundle is set. */
export const mtlsOn = (s: StoredSpec): boolean => Boolean(s.mtlsAuth && (s.mtlsAuth.enabled || s.mtlsAuth.acceptedClientCa !== ''));
/** API-key authentication is on. */
export const apiKeyOn = (s: StoredSpec): boolean => Boolean(s.apiKeyAuth?.enabled);
