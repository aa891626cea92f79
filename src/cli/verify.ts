/** `auditstream verify` and `auditstream checkpoint`: tamper evidence from the command line. */
import { existsSync, readFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import type { Config } from '../config.js';
import { AuditError } from '../errors.js';
import { openCommandStore } from './store.js';
import type { Checkpoint } from '../chain/types.js';
import { checkpointAll, keyIdOf, loadPublicKey, loadSigner } from '../chain/checkpoint.js';
import { accountsToVerify, verifyAccount, type VerifyReport } from '../chain/verify.js';
import type { Io } from './main.js';

/** Reads a JSONL file of checkpoints (the form `auditstream checkpoint` prints). */
export function readCheckpointFile(path: string): Checkpoint[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new AuditError('AS_ERR_INVALID_ARGUMENT', `cannot read checkpoint file ${path}`);
  }
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((line, i) => {
      let v: Partial<Checkpoint>;
      try {
        v = JSON.parse(line) as Partial<Checkpoint>;
      } catch {
        throw new AuditError('AS_ERR_INVALID_ARGUMENT', `${path}:${i + 1} is not JSON`);
      }
      if (
        typeof v.accountId !== 'string' ||
        typeof v.seq !== 'number' ||
        typeof v.hash !== 'string' ||
        typeof v.createdAt !== 'number' ||
        typeof v.keyId !== 'string' ||
        typeof v.signature !== 'string'
      ) {
        throw new AuditError('AS_ERR_INVALID_ARGUMENT', `${path}:${i + 1} is not a checkpoint (accountId, seq, hash, createdAt, keyId, signature)`);
      }
      return v as Checkpoint;
    });
}

export async function verifyCommand(config: Readonly<Config>, opts: Record<string, unknown>, io: Io): Promise<number> {
  const trusted = new Map<string, KeyObject>();
  if (existsSync(config.signingKeyPath)) {
    const signer = loadSigner(config.signingKeyPath, false);
    trusted.set(signer.keyId, signer.publicKey);
  }
  for (const file of (opts['publicKey'] as string[] | undefined) ?? []) {
    const key = loadPublicKey(file);
    trusted.set(keyIdOf(key), key);
  }
  const external = opts['checkpoints'] ? readCheckpointFile(String(opts['checkpoints'])) : [];
  const store = await openCommandStore(config, io);
  const reports: VerifyReport[] = [];
  try {
    // Every account the database or the trusted file knows is verified: one deleted whole is a break.
    const accounts = opts['account'] ? [String(opts['account'])] : await accountsToVerify(store, external);
    if (opts['account'] && !(await store.chainAccounts()).includes(String(opts['account'])) && !external.some((c) => c.accountId === opts['account'])) {
      throw new AuditError('AS_ERR_NOT_FOUND', `account ${String(opts['account'])} has no audit records`);
    }
    for (const accountId of accounts) {
      let lastShown = Date.now();
      const report = await verifyAccount(store, accountId, {
        trustedKeys: trusted,
        externalCheckpoints: external,
        onProgress: (n) => {
          if (Date.now() - lastShown > 2000) {
            io.err(`${accountId}: ${n} records checked...\n`);
            lastShown = Date.now();
          }
        },
      });
      reports.push(report);
      if (!opts['json']) {
        io.err(
          report.ok
            ? `ok      ${accountId}: ${report.checked} records (seq ${report.fromSeq}..${report.toSeq}), ${report.checkpointsChecked} checkpoints\n`
            : `${report.break!.kind === 'search-index' ? 'INDEX ' : 'BROKEN'}  ${accountId}: at seq ${report.break!.seq}: ${report.break!.reason}\n`,
        );
      }
    }
  } finally {
    await store.close();
  }
  if (opts['json']) await io.out(JSON.stringify(reports, null, 2) + '\n');
  if (trusted.size === 0 && !opts['json']) io.err('note: no signing key or --public-key given, so checkpoint signatures could not be trusted\n');
  const broken = reports.find((r) => !r.ok);
  if (broken) {
    io.err(
      broken.break!.kind === 'search-index'
        ? `auditstream: the search index of ${broken.accountId} differs from its records at seq ${broken.break!.seq}: ${broken.break!.reason}\n`
        : `auditstream: chain of ${broken.accountId} is broken at seq ${broken.break!.seq}: ${broken.break!.reason}\n`,
    );
    return 1;
  }
  return 0;
}

export async function checkpointCommand(config: Readonly<Config>, io: Io): Promise<void> {
  const signer = loadSigner(config.signingKeyPath, config.signingKeyGenerate);
  const store = await openCommandStore(config, io);
  try {
    await checkpointAll(store, signer);
    // Print the latest checkpoint of every account (new or not): the file to keep elsewhere.
    for (const accountId of await store.chainAccounts()) {
      const cps = await store.checkpoints(accountId);
      const latest = cps.filter((c) => c.keyId === signer.keyId).pop();
      if (latest) await io.out(JSON.stringify(latest) + '\n');
    }
  } finally {
    await store.close();
  }
}
