/** Loading the operator's checkpoint public keys for the proof. */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { keyIdOf } from '../chain/checkpoint.js';
import { ConsumerSetupError } from './types.js';

const PEM_BLOCK = /-----BEGIN ([A-Z ]+)-----[\s\S]+?-----END \1-----/g;

/**
 * Every Ed25519 public key in these PEM files (a file may hold several, as `auditstream keys
 * public` prints them), by key id. A missing file, a file without a PEM public key or a key of
 * another type is a `ConsumerSetupError`.
 */
export function loadTrustedKeys(paths: string[]): Map<string, KeyObject> {
  const keys = new Map<string, KeyObject>();
  for (const path of paths) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConsumerSetupError(`cannot read public key file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const blocks = text.match(PEM_BLOCK) ?? [];
    if (blocks.length === 0) throw new ConsumerSetupError(`public key file ${path} holds no PEM key`);
    for (const block of blocks) {
      if (!block.startsWith('-----BEGIN PUBLIC KEY-----'))
        throw new ConsumerSetupError(`public key file ${path} holds a ${block.slice(11, block.indexOf('-----', 11))}, not a PUBLIC KEY`);
      let key: KeyObject;
      try {
        key = createPublicKey(block);
      } catch {
        throw new ConsumerSetupError(`public key file ${path} holds an unreadable PEM public key`);
      }
      if (key.asymmetricKeyType !== 'ed25519')
        throw new ConsumerSetupError(`public key file ${path} holds an ${key.asymmetricKeyType} key; checkpoints are signed with Ed25519`);
      keys.set(keyIdOf(key), key);
    }
  }
  return keys;
}
