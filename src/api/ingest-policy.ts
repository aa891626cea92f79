/**
 * What an API key may ingest. Records stored through `POST /api/v1/audit-logs` sit in the same
 * chain as the ones the control plane writes, so by default the key of a user who is neither
 * Owner nor Global Admin (a Developer) may NOT write the operations auditstream's own control
 * plane emits (`CreateNamespace`, `InviteUsers`, `DeleteUser`... every name in
 * `BUILTIN_OPERATIONS`, and look-alikes): a Developer's key cannot plant a back-dated
 * `DeleteUser` naming an admin. Owner and Global Admin keys are not restricted by default: they
 * may set any policy, their own keys' included, so refusing them would add a step and no
 * protection. An Owner or Global Admin sets a policy per key (`PUT /api/v1/api-keys/:id/
 * ingest-policy`, audited as `UpdateAPIKey`) listing exactly the operations (or `"*"`) and
 * categories the key may write, whatever its owner's role. The deployment ingest token is the
 * operator's own forwarding channel and is not restricted. Provenance (`ingested_by`) shows
 * every ingested record for what it is either way.
 */
import { AuditError, invalidArgument } from '../errors.js';
import { BUILTIN_OPERATIONS } from '../record/operations.js';
import { CATEGORIES, type AuditRecord, type Category } from '../record/record.js';
import type { Sql } from '../store/store.js';

/** An API key's ingest policy. `null` means the default of that dimension. */
export interface IngestPolicy {
  /**
   * Operations the key may write: a list of names, `["*"]` for any operation, or `null` (the
   * default): any operation, except the control plane's own for roles other than Owner and
   * Global Admin.
   */
  operations: readonly string[] | null;
  /** Categories the key may write, or `null` (the default) for any. */
  categories: readonly Category[] | null;
}

export const DEFAULT_INGEST_POLICY: IngestPolicy = Object.freeze({ operations: null, categories: null });

// Compared loosely (case, spaces, punctuation and invisible characters ignored), so that
// `deleteuser` or `Delete_User\u200b` cannot pass for a native `DeleteUser` either.
const loose = (name: string): string => name.toLowerCase().replace(/[^a-z0-9]/g, '');
const CONTROL_PLANE_OPERATIONS: ReadonlySet<string> = new Set(BUILTIN_OPERATIONS.map((d) => loose(d.name)));

/** Whether `operation` is (or looks like) one auditstream's control plane emits itself. */
export function isControlPlaneOperation(operation: string): boolean {
  return CONTROL_PLANE_OPERATIONS.has(loose(operation));
}

const OPERATION_NAME = /^[A-Za-z][A-Za-z0-9_.]{0,127}$/;

/** Parses a policy from a request body; throws INVALID_ARGUMENT naming the field. */
export function parseIngestPolicy(body: unknown): IngestPolicy {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw invalidArgument('body must be a JSON object {"operations", "categories"}');
  const b = body as Record<string, unknown>;
  for (const k of Object.keys(b)) {
    if (k !== 'operations' && k !== 'categories') throw invalidArgument(`unknown field "${k}" (expected operations, categories)`, { field: k });
  }
  const list = (field: string, ok: (s: string) => boolean, expect: string): string[] | null => {
    const v = b[field];
    if (v === undefined || v === null) return null;
    if (!Array.isArray(v) || v.length > 1000) throw invalidArgument(`${field} must be null or an array of at most 1000 ${expect}`, { field });
    v.forEach((s, i) => {
      if (typeof s !== 'string' || !ok(s)) throw invalidArgument(`${field}[${i}] must be ${expect}`, { field: `${field}[${i}]` });
    });
    return [...new Set(v as string[])];
  };
  const operations = list('operations', (s) => s === '*' || OPERATION_NAME.test(s), 'operation names (or "*")');
  const categories = list('categories', (s) => (CATEGORIES as readonly string[]).includes(s), `one of ${CATEGORIES.join(', ')}`) as Category[] | null;
  return { operations, categories };
}

/** Roles whose keys may, by default, ingest the control plane's own operations. */
const TRUSTED_ROLES: readonly string[] = ['ROLE_OWNER', 'ROLE_ADMIN'];

/** Why `policy` refuses `record` for a caller of `role`, or undefined when it may be written. */
export function ingestRefusal(
  policy: IngestPolicy,
  role: string,
  record: Pick<AuditRecord, 'operation' | 'category'>,
): { field: string; message: string } | undefined {
  const ops = policy.operations;
  if (ops === null) {
    if (!TRUSTED_ROLES.includes(role) && isControlPlaneOperation(record.operation)) {
      return {
        field: 'operation',
        message: `operation ${JSON.stringify(record.operation)} is (or looks like) one the control plane records itself; a ${role} key may not ingest it unless an Owner or Global Admin allows it in the key's ingest policy`,
      };
    }
  } else if (!ops.includes('*') && !ops.includes(record.operation)) {
    return { field: 'operation', message: `this API key's ingest policy does not allow operation ${record.operation}` };
  }
  if (policy.categories !== null && !policy.categories.includes(record.category)) {
    return { field: 'category', message: `this API key's ingest policy does not allow category ${record.category}` };
  }
  return undefined;
}

interface PolicyRow {
  operations: string | null;
  categories: string | null;
}

/** The stored policy of an API key, or the default. */
export async function readIngestPolicy(sql: Pick<Sql, 'get'>, accountId: string, keyId: string): Promise<IngestPolicy> {
  const row = await sql.get<PolicyRow>('SELECT operations, categories FROM api_key_ingest_policies WHERE account_id = ? AND key_id = ?', [accountId, keyId]);
  if (!row) return DEFAULT_INGEST_POLICY;
  return {
    operations: row.operations === null ? null : (JSON.parse(row.operations) as string[]),
    categories: row.categories === null ? null : (JSON.parse(row.categories) as Category[]),
  };
}

/** Stores (replaces) the policy of an API key, inside the caller's transaction. */
export async function writeIngestPolicy(sql: Pick<Sql, 'run'>, accountId: string, keyId: string, policy: IngestPolicy, now: number): Promise<void> {
  const ops = policy.operations === null ? null : JSON.stringify(policy.operations);
  const cats = policy.categories === null ? null : JSON.stringify(policy.categories);
  await sql.run(
    `INSERT INTO api_key_ingest_policies (account_id, key_id, operations, categories, updated_ms) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (account_id, key_id) DO UPDATE SET operations = excluded.operations, categories = excluded.categories, updated_ms = excluded.updated_ms`,
    [accountId, keyId, ops, cats, now],
  );
}

/** Refuses the first record `policy` does not allow a `role` caller: 403 naming the record index and field. */
export function enforceIngestPolicy(policy: IngestPolicy, role: string, records: readonly AuditRecord[]): void {
  records.forEach((r, index) => {
    const refusal = ingestRefusal(policy, role, r);
    if (refusal) throw new AuditError('AS_ERR_PERMISSION_DENIED', `record ${index}: ${refusal.message}`, { index, field: refusal.field });
  });
}
