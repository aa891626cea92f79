/** `auditstream keys public`: the Ed25519 public key that signs checkpoints, for consumers and auditors. */
import type { Command } from 'commander';
import { loadSigner } from '../chain/checkpoint.js';
import { configFromCommandLine } from '../config.js';
import { addSettingFlags } from './flags.js';
import type { Io } from './main.js';

export function addKeysCommands(program: Command, io: Io): void {
  const keys = program.command('keys').description('the keys that sign chain checkpoints');
  addSettingFlags(
    keys.command('public').description('print the Ed25519 public key that signs checkpoints (PEM), to give to `consume --public-key` or `verify --public-key`'),
    'keys public',
  ).action(async (opts: Record<string, unknown>) => {
    const config = configFromCommandLine(opts);
    const signer = loadSigner(config.signingKeyPath, false);
    await io.out(signer.publicKey.export({ type: 'spki', format: 'pem' }).toString());
  });
}
