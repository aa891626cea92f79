/** `auditstream init` and `auditstream accounts create`: tenant accounts, straight on the database. */
import type { Config } from '../config.js';
import { AuditError } from '../errors.js';
import { openCommandStore } from './store.js';
import { accountCount, createAccount } from '../control/accounts.js';
import type { Io } from './main.js';

export async function createAccountCommand(config: Readonly<Config>, opts: Record<string, unknown>, io: Io, firstOnly: boolean): Promise<void> {
  const email = opts['email'];
  if (typeof email !== 'string' || email === '') throw new AuditError('AS_ERR_INVALID_ARGUMENT', '--email is required');
  // The database holds password and key hashes: files it creates are for this user only.
  process.umask(0o077);
  const store = await openCommandStore(config, io);
  try {
    if (firstOnly && (await accountCount(store.sql)) > 0) {
      throw new AuditError('AS_ERR_FAILED_PRECONDITION', 'the database already has an account: use `auditstream accounts create` for another tenant');
    }
    const created = await createAccount(store, { email, password: opts['password'] as string | undefined });
    if (opts['json']) {
      await io.out(JSON.stringify(created) + '\n');
    } else {
      await io.out(
        `account_id ${created.account_id}\nuser_id    ${created.user_id}\napi_key    ${created.api_key}\n${created.password ? `password   ${created.password}\n` : ''}`,
      );
      io.err(
        `the API key${created.password ? ' and the generated owner password are' : ' is'} shown once: store ${created.password ? 'them' : 'it'} now (kept only as hashes)\n`,
      );
    }
  } finally {
    await store.close();
  }
}
