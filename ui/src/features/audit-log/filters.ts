/**
 * The viewer's state lives in the URL (shareable, back/forward work): the filters of
 * GET /api/v1/audit-logs and the keyset cursor. Parsed and written here only.
 */
export const FILTER_KEYS = ['since', 'until', 'operation', 'user_email', 'principal_id', 'status', 'namespace'] as const;
export type FilterKey = (typeof FILTER_KEYS)[number];
export type Filters = Partial<Record<FilterKey, string>>;

export interface ViewerState {
  filters: Filters;
  cursor: string | undefined;
}

export function readState(params: URLSearchParams): ViewerState {
  const filters: Filters = {};
  for (const k of FILTER_KEYS) {
    const v = params.get(k)?.trim();
    if (v) filters[k] = v;
  }
  return { filters, cursor: params.get('cursor') ?? undefined };
}

/** URL parameters for a state; empty filters are left out (the API refuses empty values). */
export function writeState(state: ViewerState): URLSearchParams {
  const p = new URLSearchParams();
  for (const k of FILTER_KEYS) {
    const v = state.filters[k]?.trim();
    if (v) p.set(k, v);
  }
  if (state.cursor) p.set('cursor', state.cursor);
  return p;
}

/** The query string of the API call for a page (or an export, without the cursor). */
export function apiQuery(filters: Filters, extra: Record<string, string> = {}): string {
  const p = writeState({ filters, cursor: undefined });
  for (const [k, v] of Object.entries(extra)) p.set(k, v);
  return p.toString();
}

/** The seeds' operation names (plus auditstream's system records), for the operation filter. */
export const OPERATIONS = [
  'UpdateAccount',
  'InviteUsers',
  'DeleteUser',
  'UpdateUser',
  'UpdateUserNamespacePermissions',
  'UserLogin',
  'CreateNamespace',
  'UpdateNamespace',
  'DeleteNamespace',
  'RenameCustomSearchAttribute',
  'FailoverNamespace',
  'CreateAPIKey',
  'UpdateAPIKey',
  'DeleteAPIKey',
  'ChainCheckpoint',
  'RetentionPurge',
];
