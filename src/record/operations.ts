/**
 * The operation registry: every `operation` value auditstream itself emits, with its category,
 * the Cloud Ops API RPCs (temporal.api.cloud.cloudservice.v1.CloudService) that emit it, and a
 * JSON Schema for its `details`, shaped as in Temporal's published samples (docs/record-format.md).
 *
 * Names and the RPC → operation mapping follow Temporal Cloud's Audit Logging guide (e.g. the
 * CreateUser RPC is logged as `InviteUsers`; certificate, search-attribute and retention changes
 * are all `UpdateNamespace`). The registry is open: ingest accepts operations it does not know
 * (their details only need to be an object) and `registerOperation` adds more.
 *
 * Details schemas allow extra properties: they pin the type of the fields readers rely on
 * (`target_users`, `namespace`...) without refusing what a newer producer adds.
 */
import type { ValidateFunction } from 'ajv/dist/2020.js';
import type { Category } from './record.js';
import { CATEGORIES } from './record.js';
import { describeErrors, type SchemaResult } from './schema-errors.js';
import { createSchemaCompiler, type JsonSchema, type SchemaCompiler } from './schema-files.js';

/** One audited operation. */
export interface OperationDef {
  /** The record's `operation` value, spelled as Temporal spells it (`DeleteUser`). */
  readonly name: string;
  readonly category: Category;
  /** One line for docs and `--help`. */
  readonly description: string;
  /**
   * Cloud Ops API RPCs whose calls (successful or refused after authentication) are recorded
   * under this name. Empty when no RPC emits it (logins, system records).
   */
  readonly rpcs: readonly string[];
  /** JSON Schema (draft 2020-12) of `details`; must describe an object. */
  readonly detailsSchema: JsonSchema;
  /**
   * Signed system records only auditstream writes into a chain (`verify` checks them); ingest
   * refuses them, so a client cannot plant one that would make its chain look tampered.
   */
  readonly reserved?: boolean;
}

const stringList = (description: string): JsonSchema => ({
  description,
  type: 'array',
  items: { type: 'string', maxLength: 512 },
  maxItems: 1000,
});
const str = (description: string, maxLength = 512): JsonSchema => ({ description, type: 'string', maxLength });

/** Fields that recur across operations, typed once. */
const FIELDS = {
  target_users: stringList('Users acted on: ids, or emails for invitations.'),
  namespace: str('Namespace acted on (`name.account`).', 256),
  client_ca_fingerprints: stringList('Fingerprints of the CA certificates set by the change.'),
  search_attribute_update: {
    description: 'Custom search attributes added or changed (name to type); `{}` when none, as in every sample.',
    type: 'object',
    additionalProperties: { type: 'string', maxLength: 64 },
  },
  target_api_keys: stringList('API key ids acted on.'),
  target_service_accounts: stringList('Service account ids acted on.'),
  account_role: str('Account-level role granted.', 64),
  permission: str('Namespace permission granted (Admin, Write, Read), or empty when revoked.', 64),
  region: str('Region, e.g. aws-us-east-1.', 64),
  regions: stringList('Regions of the namespace.'),
  retention_days: { description: 'Retention period in days.', type: 'integer', minimum: 0, maximum: 36500 },
  old_name: str('Name before the rename.', 256),
  new_name: str('Name after the rename.', 256),
  sink_name: str('Audit log sink acted on.', 256),
  reason: str('Why the operation failed (status ERROR).', 1024),
} as const satisfies Record<string, JsonSchema>;

type FieldName = keyof typeof FIELDS;

function details(required: readonly FieldName[], optional: readonly FieldName[], extra: Record<string, JsonSchema> = {}): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  for (const f of [...required, ...optional, 'search_attribute_update', 'reason'] as const) properties[f] = FIELDS[f];
  Object.assign(properties, extra);
  return { type: 'object', properties, required: [...required], additionalProperties: true };
}

const ADMIN = 'LOG_CATEGORY_ADMIN' as const;
const SYSTEM = 'LOG_CATEGORY_SYSTEM' as const;

/**
 * Reads whose refusal (permission denied) is recorded, under the name of the RPC or route: they
 * have no operation name in the guide. `QueryAuditLogs`, `ExportAuditLogs` and `IngestAuditLogs`
 * are the `/api/v1/audit-logs` routes (ingest is a write, but its refusal changes nothing either).
 */
export const REFUSED_READS = [
  'GetAccount',
  'GetUsers',
  'GetUser',
  'GetNamespaces',
  'GetNamespace',
  'GetApiKeys',
  'GetApiKey',
  'GetAsyncOperation',
  'GetCurrentIdentity',
  'GetAuditLogs',
  'GetAccountAuditLogSinks',
  'GetAccountAuditLogSink',
  'ValidateAccountAuditLogSink',
  'QueryAuditLogs',
  'ExportAuditLogs',
  'IngestAuditLogs',
] as const;

/** The operations in Temporal Cloud's Audit Logging guide, plus auditstream's system records. */
export const BUILTIN_OPERATIONS: readonly OperationDef[] = [
  {
    name: 'UpdateAccount',
    category: ADMIN,
    description: 'Account settings changed: audit log sinks configured, observability endpoint and its CA certificates.',
    rpcs: ['UpdateAccount', 'CreateAccountAuditLogSink', 'UpdateAccountAuditLogSink', 'DeleteAccountAuditLogSink'],
    detailsSchema: details([], ['client_ca_fingerprints', 'sink_name']),
  },
  {
    name: 'InviteUsers',
    category: ADMIN,
    description: 'Users invited to the account.',
    rpcs: ['CreateUser'],
    detailsSchema: details(['target_users'], ['account_role']),
  },
  {
    name: 'DeleteUser',
    category: ADMIN,
    description: 'A user removed from the account.',
    rpcs: ['DeleteUser'],
    detailsSchema: details(['target_users'], []),
  },
  {
    name: 'UpdateUser',
    category: ADMIN,
    description: "A user's account-level role changed.",
    rpcs: ['UpdateUser'],
    detailsSchema: details(['target_users'], ['account_role']),
  },
  {
    name: 'UpdateUserNamespacePermissions',
    category: ADMIN,
    description: "A user's permission on a namespace set or revoked.",
    rpcs: ['SetUserNamespaceAccess'],
    detailsSchema: details(['namespace'], ['target_users', 'permission']),
  },
  {
    name: 'UserLogin',
    category: ADMIN,
    description: 'A user logged in (OK) or failed to (ERROR).',
    rpcs: [],
    detailsSchema: details([], ['target_users'], { method: str('How the user authenticated (password).', 64) }),
  },
  {
    name: 'CreateNamespace',
    category: ADMIN,
    description: 'A namespace created.',
    rpcs: ['CreateNamespace'],
    detailsSchema: details(['namespace'], ['regions', 'retention_days', 'client_ca_fingerprints']),
  },
  {
    name: 'UpdateNamespace',
    category: ADMIN,
    description: 'A namespace changed: certificates or filters, custom search attributes, retention, regions, tags.',
    rpcs: ['UpdateNamespace', 'AddNamespaceRegion', 'DeleteNamespaceRegion', 'UpdateNamespaceTags'],
    detailsSchema: details(['namespace'], ['client_ca_fingerprints', 'retention_days', 'regions', 'region']),
  },
  {
    name: 'DeleteNamespace',
    category: ADMIN,
    description: 'A namespace deleted.',
    rpcs: ['DeleteNamespace'],
    detailsSchema: details(['namespace'], []),
  },
  {
    name: 'RenameCustomSearchAttribute',
    category: ADMIN,
    description: 'A custom search attribute of a namespace renamed.',
    rpcs: ['RenameCustomSearchAttribute'],
    detailsSchema: details(['namespace'], ['old_name', 'new_name']),
  },
  {
    name: 'FailoverNamespace',
    category: ADMIN,
    description: 'A multi-region namespace failed over to another region.',
    rpcs: ['FailoverNamespaceRegion'],
    detailsSchema: details(['namespace'], ['region']),
  },
  {
    name: 'CreateAPIKey',
    category: ADMIN,
    description: 'An API key created.',
    rpcs: ['CreateApiKey'],
    detailsSchema: details([], ['target_api_keys', 'target_users', 'target_service_accounts']),
  },
  {
    name: 'DeleteAPIKey',
    category: ADMIN,
    description: 'An API key deleted.',
    rpcs: ['DeleteApiKey'],
    detailsSchema: details(['target_api_keys'], []),
  },
  {
    name: 'UpdateAPIKey',
    category: ADMIN,
    description: 'An API key changed (name, description, expiry, disabled).',
    rpcs: ['UpdateApiKey'],
    detailsSchema: details(['target_api_keys'], []),
  },
  ...REFUSED_READS.map((name): OperationDef => ({
    name,
    category: ADMIN,
    description: `A ${name} call refused (status ERROR): reads are recorded only when refused.`,
    // Successful reads are not audited, so no RPC maps here (operationForRpc stays undefined).
    rpcs: [],
    detailsSchema: details([], ['namespace', 'target_users', 'target_api_keys', 'sink_name'], {
      requested_account: str("The account the call named, when it was not the caller's own.", 64),
    }),
  })),
  {
    name: 'RefusedCallsNotRecorded',
    category: ADMIN,
    description: 'Refused reads of one principal past the per-minute limit: counted here instead of one record each.',
    rpcs: [],
    detailsSchema: details([], [], {
      dropped: { description: 'How many refused calls were not recorded one by one.', type: 'integer', minimum: 1 },
      operations: stringList('The operations of the calls not recorded.'),
      window_start: str('Start of the minute they fell in (RFC 3339).', 64),
    }),
  },
  {
    name: 'VerifyAuditLogSink',
    category: SYSTEM,
    description: 'Test record written to one audit log sink by Verify; delivered, never stored in the chain.',
    rpcs: ['ValidateAccountAuditLogSink'],
    detailsSchema: details([], ['sink_name']),
  },
  {
    name: 'ChainCheckpoint',
    category: SYSTEM,
    description: "Signed checkpoint of an account's hash chain (sequence and head hash), delivered to its sinks.",
    rpcs: [],
    reserved: true,
    detailsSchema: details([], [], {
      sequence: { description: 'Chain sequence the checkpoint covers.', type: 'integer', minimum: 0 },
      head_hash: { description: 'Hash of the record at that sequence (hex SHA-256).', type: 'string', pattern: '^[0-9a-f]{64}$' },
      signed_at: str('When the checkpoint was signed (RFC 3339).', 64),
      signature: str('Ed25519 signature (base64).', 256),
      key_id: str('Which signing key.', 256),
      records_from_sequence: { description: "First sequence `records` lists: the previous checkpoint's sequence + 2.", type: 'integer', minimum: 1 },
      records: {
        description:
          'One "<digest>:<log_id>" per record from records_from_sequence to sequence (digest: first 16 hex digits of SHA-256 over the canonical record), so a consumer can name a missing, altered or reordered record. Absent when over 1,000.',
        type: 'array',
        maxItems: 1000,
        items: { type: 'string', pattern: '^[0-9a-f]{16}:', maxLength: 300 },
      },
    }),
  },
  {
    name: 'RetentionPurge',
    category: SYSTEM,
    description:
      'Signed record of a retention purge: the purged range, the new start of the chain and the checkpoint proving the records were older than the retention.',
    rpcs: [],
    reserved: true,
    detailsSchema: details(['retention_days'], [], {
      from_sequence: { description: 'First purged sequence.', type: 'integer', minimum: 1 },
      to_sequence: { description: 'Last purged sequence: the retention anchor.', type: 'integer', minimum: 1 },
      anchor_hash: { description: 'Hash of the last purged record (hex SHA-256).', type: 'string', pattern: '^[0-9a-f]{64}$' },
      purged_at: str('When the purge ran (RFC 3339).', 64),
      evidence: {
        description: "The signed checkpoint (a ChainCheckpoint's fields) covering the purged range, signed at least the retention before the purge.",
        type: 'object',
        properties: {
          sequence: { type: 'integer', minimum: 0 },
          head_hash: { type: 'string', pattern: '^[0-9a-f]{64}$' },
          signed_at: str('When the checkpoint was signed (RFC 3339).', 64),
          key_id: str('Which signing key.', 256),
          signature: str('Ed25519 signature (base64).', 256),
        },
        required: ['sequence', 'head_hash', 'signed_at', 'key_id', 'signature'],
      },
      key_id: str('Which signing key signed the purge.', 256),
      signature: str('Ed25519 signature (base64) of the purge.', 256),
    }),
  },
];

interface Entry {
  def: OperationDef;
  validate?: ValidateFunction;
}

const registry = new Map<string, Entry>();
const byRpc = new Map<string, OperationDef>();
let compiler: SchemaCompiler | undefined;

/**
 * Adds an operation (or replaces one of the same name, e.g. a deployment refining a details
 * schema). Throws when the category is not a record category or the details schema does not
 * compile, so a bad registration fails at start-up, not on the first record.
 */
export function registerOperation(def: OperationDef): void {
  addOperation(def, true);
}

/** Built-ins compile on first use (start-up cost); registrations from callers compile at once. */
function addOperation(def: OperationDef, compileNow: boolean): void {
  if (!/^[A-Za-z][A-Za-z0-9_.]{0,127}$/.test(def.name)) throw new TypeError(`invalid operation name "${def.name}"`);
  if (!(CATEGORIES as readonly string[]).includes(def.category)) {
    throw new TypeError(`operation ${def.name}: category must be one of ${CATEGORIES.join(', ')}`);
  }
  if (def.detailsSchema['type'] !== 'object') throw new TypeError(`operation ${def.name}: detailsSchema must have type "object"`);
  const frozen: OperationDef = Object.freeze({ ...def, rpcs: Object.freeze([...def.rpcs]) });
  const old = registry.get(def.name);
  if (old !== undefined) for (const rpc of old.def.rpcs) if (byRpc.get(rpc) === old.def) byRpc.delete(rpc);
  registry.set(def.name, { def: frozen, validate: compileNow ? compileDetails(frozen) : undefined });
  for (const rpc of frozen.rpcs) byRpc.set(rpc, frozen);
}

function compileDetails(def: OperationDef): ValidateFunction {
  return (compiler ??= createSchemaCompiler()).compile(def.detailsSchema);
}

/** The definition of an operation, or undefined when auditstream does not know it. */
export function getOperation(name: string): OperationDef | undefined {
  return registry.get(name)?.def;
}

/** Every registered operation, in registration order (built-ins first). */
export function listOperations(): readonly OperationDef[] {
  return [...registry.values()].map((e) => e.def);
}

/** The operation a Cloud Ops RPC is recorded under (`CreateUser` → `InviteUsers`), if audited. */
export function operationForRpc(rpc: string): OperationDef | undefined {
  return byRpc.get(rpc);
}

/**
 * Checks a record's `details` against its operation's schema. Unknown operations (the registry is
 * open) only need an object. Failures name the path under `details` (`details.target_users`).
 */
export function validateDetails(operation: string, details: unknown): SchemaResult {
  if (typeof details !== 'object' || details === null || Array.isArray(details)) {
    return { ok: false, field: 'details', message: 'details must be an object' };
  }
  const entry = registry.get(operation);
  if (entry === undefined) return { ok: true };
  const validate = (entry.validate ??= compileDetails(entry.def));
  if (validate(details)) return { ok: true };
  const result = describeErrors(validate.errors, 'details');
  if (!result.ok) result.message = `${result.message} (operation ${operation})`;
  return result;
}

/** Inputs the control plane has at hand when it records an operation. */
export interface DetailsInput {
  target_users?: readonly string[];
  namespace?: string;
  client_ca_fingerprints?: readonly string[];
  search_attribute_update?: Readonly<Record<string, string>>;
  target_api_keys?: readonly string[];
  target_service_accounts?: readonly string[];
  account_role?: string;
  permission?: string;
  region?: string;
  regions?: readonly string[];
  retention_days?: number;
  old_name?: string;
  new_name?: string;
  sink_name?: string;
  reason?: string;
  [extra: string]: unknown;
}

/**
 * `details` for a record the control plane writes, in the samples' key order (`namespace` and
 * the targets first, `search_attribute_update` always present and last of the known fields, `{}`
 * when nothing changed, as in every sample). Undefined inputs are left out. Throws when the result
 * does not fit the operation's schema: a bug in the caller, never a client's mistake.
 */
export function buildDetails(operation: string, input: DetailsInput = {}): Record<string, unknown> {
  const order = [
    'namespace',
    'target_users',
    'target_api_keys',
    'target_service_accounts',
    'client_ca_fingerprints',
    'account_role',
    'permission',
    'region',
    'regions',
    'retention_days',
    'old_name',
    'new_name',
    'sink_name',
  ];
  const out: Record<string, unknown> = {};
  for (const k of order) if (input[k] !== undefined) out[k] = copy(input[k]);
  out['search_attribute_update'] = copy(input.search_attribute_update ?? {});
  for (const [k, v] of Object.entries(input)) {
    if (v !== undefined && !(k in out)) out[k] = copy(v);
  }
  const check = validateDetails(operation, out);
  if (!check.ok) throw new TypeError(`buildDetails: ${check.message}`);
  return out;
}

function copy(v: unknown): unknown {
  return Array.isArray(v) ? [...(v as unknown[])] : v !== null && typeof v === 'object' ? { ...(v as object) } : v;
}

for (const def of BUILTIN_OPERATIONS) addOperation(def, false);
