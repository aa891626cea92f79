/**
 * Creating tenant accounts (operator actions: `auditstream init`, `auditstream accounts create`,
 * and the first start of `serve`). Each creates the account, its owner and an API key in one
 * transaction, and records the owner's invitation and the key's creation in the new account's
 * own audit log, as done by the system.
 */
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { AuditError, invalidArgument } from '../errors.js';
import { formatEmitTime, newLogId, type AuditRecord } from '../record/record.js';
import { buildDetails } from '../record/operations.js';
import { ACCOUNT_ID_PATTERN } from '../store/chain-append.js';
import type { AuditStore, Sql } from '../store/store.js';
import { generatePassword, hashPassword, newAccountId, newApiKeyId, newApiKeyToken, newUserId, passwordProblem, sha256Hex } from './secrets.js';
import { newResourceVersion } from './model.js';
import { checkEmail } from './validate.js';

export interface NewAccount {
  account_id: string;
  user_id: string;
  api_key: string;
  /**
   * The owner's generated password, when none was given: shown once to the operator. Every owner
   * has a password from the start, so no other user can claim the account through an invitation.
   */
  password?: string;
}

export interface CreateAccountOptions {
  email: string;
  password?: string | undefined;
  /** Defaults to a random 8-character id. */
  accountId?: string;
  name?: string;
}

/** The principal of records the system writes on an operator's behalf. */
export const SYSTEM_PRINCIPAL = { id: 'auditstream', type: 'serviceaccount', name: 'auditstream' } as const;

function systemRecord(operation: string, details: Record<string, unknown>, now: number): AuditRecord {
  return {
    emit_time: formatEmitTime(now),
    level: 'LOG_LEVEL_INFO',
    user_email: '',
    caller_ip_address: '',
    operation,
    details,
    status: 'OK',
    category: 'LOG_CATEGORY_SYSTEM',
    version: 1,
    log_id: newLogId(),
    principal: { ...SYSTEM_PRINCIPAL },
  };
}

export async function accountCount(sql: Sql): Promise<number> {
  const r = await sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM accounts');
  return Number(r?.n ?? 0);
}

export async function createAccount(store: AuditStore, opts: CreateAccountOptions): Promise<NewAccount> {
  const email = checkEmail(opts.email, '--email');
  if (opts.password !== undefined) {
    const problem = passwordProblem(opts.password);
    if (problem) throw invalidArgument(problem);
  }
  const accountId = opts.accountId ?? newAccountId();
  if (!ACCOUNT_ID_PATTERN.test(accountId)) throw invalidArgument(`invalid account id "${accountId}"`);
  // An owner without a password would be a standing invitation: whoever may invite (a Global
  // Admin) could set it and sign in as the owner. So there is always one, known to the operator.
  const generated = opts.password === undefined ? generatePassword() : undefined;
  const passwordHash = await hashPassword(opts.password ?? generated!);
  const userId = newUserId();
  const keyId = newApiKeyId();
  const token = newApiKeyToken(keyId);
  await store.transaction(async (tx) => {
    if (await tx.get('SELECT id FROM accounts WHERE id = ?', [accountId])) throw new AuditError('AS_ERR_ALREADY_EXISTS', `account ${accountId} already exists`);
    const now = Date.now();
    const rv = newResourceVersion();
    await tx.run('INSERT INTO accounts (id, name, spec_json, resource_version, created_ms, modified_ms) VALUES (?, ?, ?, ?, ?, ?)', [
      accountId,
      opts.name ?? accountId,
      '{}',
      rv,
      now,
      now,
    ]);
    await tx.run(
      `INSERT INTO users (id, account_id, email, role, namespace_access_json, password_hash, resource_version, async_operation_id, created_ms, modified_ms)
       VALUES (?, ?, ?, 'ROLE_OWNER', '{}', ?, ?, '', ?, ?)`,
      [userId, accountId, email, passwordHash, rv, now, now],
    );
    await tx.run(
      `INSERT INTO api_keys (id, account_id, owner_id, owner_type, display_name, description, expiry_ms, disabled, secret_hash, resource_version, async_operation_id, created_ms, modified_ms)
       VALUES (?, ?, ?, 'OWNER_TYPE_USER', 'initial key', 'created with the account', NULL, 0, ?, ?, '', ?, ?)`,
      [keyId, accountId, userId, sha256Hex(token), rv, now, now],
    );
    await tx.append({
      accountId,
      records: [
        systemRecord('InviteUsers', buildDetails('InviteUsers', { target_users: [email], account_role: 'ROLE_OWNER' }), now),
        systemRecord('CreateAPIKey', buildDetails('CreateAPIKey', { target_api_keys: [keyId], target_users: [userId] }), now),
      ],
      ingestedBy: null,
      clientLogIds: false,
    });
  });
  return { account_id: accountId, user_id: userId, api_key: token, ...(generated !== undefined ? { password: generated } : {}) };
}

/**
 * First start on an empty database: a `default` account whose owner's one-time credentials go to
 * `<dataDir>/initial-admin.json` (mode 0600). Returns the file's path, or undefined when the
 * database already had an account. The secret is never logged.
 */
export async function ensureInitialAccount(store: AuditStore, dataDir: string): Promise<string | undefined> {
  if ((await accountCount(store.sql)) > 0) return undefined;
  const password = generatePassword();
  const email = 'admin@auditstream.local';
  let created: NewAccount;
  try {
    created = await createAccount(store, { email, password, accountId: 'default', name: 'default' });
  } catch (err) {
    // Another process sharing the database created it first.
    if (err instanceof AuditError && err.code === 'AS_ERR_ALREADY_EXISTS') return undefined;
    throw err;
  }
  const path = `${dataDir.replace(/\/$/, '')}/initial-admin.json`;
  mkdirSync(dirname(path), { recursive: true });
  if (existsSync(path)) chmodSync(path, 0o600);
  writeFileSync(path, JSON.stringify({ ...created, email, password }, null, 2) + '\n', { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}
