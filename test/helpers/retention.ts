/**
 * Provable purges for tests: retention only deletes what a checkpoint signed a retention ago
 * covers, so a test signs its checkpoints now and purges as if one retention day had passed.
 */
import { generateKeyPairSync } from 'node:crypto';
import { checkpointAll, keyIdOf, type Signer } from '../../src/chain/checkpoint.js';
import { retentionAttestor, type PurgeAttestor } from '../../src/chain/purge.js';
import type { AuditStore } from '../../src/store/store.js';

export const DAY_MS = 86_400_000;

export function testSigner(): Signer {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { keyId: keyIdOf(publicKey), privateKey, publicKey };
}

/**
 * Signs every account's head now and returns the attestor of a purge one day later (retention 1
 * day), for which those checkpoints are evidence: everything stored so far may then be purged.
 */
export async function attestorAfterCheckpoint(store: AuditStore, signer: Signer): Promise<PurgeAttestor> {
  const now = Date.now();
  await checkpointAll(store, signer, now);
  return retentionAttestor(signer, 1, now + DAY_MS);
}
