/**
 * Temporal Cloud's rules for a namespace, where it publishes them: regions, retention, names,
 * limits, search attribute types. Data only; the checks that apply them are in validate-spec.ts.
 */

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

/** At most this many certificate filters and tags on a namespace. */
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
/** Custom search attribute names: a letter, then up to 63 letters, digits, _ or -. */
export const SEARCH_ATTRIBUTE_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
/** Temporal's system search attributes (a custom one may not shadow them), lowercased. */
export const SYSTEM_SEARCH_ATTRIBUTES: ReadonlySet<string> = new Set(
  [
    'WorkflowId',
    'RunId',
    'WorkflowType',
    'StartTime',
    'ExecutionTime',
    'CloseTime',
    'ExecutionStatus',
    'TaskQueue',
    'HistoryLength',
    'HistorySizeBytes',
    'ExecutionDuration',
    'StateTransitionCount',
    'BatcherUser',
    'BatcherNamespace',
    'BuildIds',
    'BinaryChecksums',
    'ParentWorkflowId',
    'ParentRunId',
    'RootWorkflowId',
    'RootRunId',
    'CustomNamespace',
  ].map((s) => s.toLowerCase()),
);
