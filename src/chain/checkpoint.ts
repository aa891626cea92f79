/**
 * Signed checkpoints. A chain verified only against itself cannot show that its tail was cut
 * off or that the whole chain was rewritten with fresh hashes; a checkpoint signed with an
 * Ed25519 key that lives outside the database can. auditstream signs one per account every few
 * minutes and on demand; `auditstream verify` checks the chain against them (and against a
 * checkpoint file kept elsewhere, e.g. read back from a sink).
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { AuditError } from '../errors.js';
import type { ChainHead, ChainLink, Checkpoint, SystemAppend } from './types.js';
import { canonicalJson, recordDigest } from './hash.js';
import { formatEmitTime, newLogId, type AuditRecord } from '../record/record.js';
import { buildDetails } from '../record/operations.js';

export interface Signer {
  keyId: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** Key id: the first 16 hex digits of SHA-256 over the public key's DER form. */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex')
    .slice(0, 16);
}

/** The exact bytes a checkpoint signature covers. */
export function checkpointMessage(cp: Pick<Checkpoint, 'accountId' | 'seq' | 'hash' | 'createdAt'>): Buffer {
  return Buffer.from(`auditstream-checkpoint-v1\n${cp.accountId}\n${cp.seq}\n${cp.hash}\n${cp.createdAt}`);
}

/**
 * Loads the Ed25519 private key at `path` (PEM), generating one with mode 0600 when the file
 * does not exist and `generate` is set (first start with the default location).
 */
export function loadSigner(path: string, generate: boolean): Signer {
  if (!existsSync(path)) {
    if (!generate) throw new AuditError('AS_ERR_INVALID_ARGUMENT', `signing key ${path} does not exist`);
    mkdirSync(dirname(path), { recursive: true });
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(readFileSync(path));
  } catch (err) {
    throw new AuditError('AS_ERR_INVALID_ARGUMENT', `signing key ${path} is not a PEM private key`, undefined, { cause: err });
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new AuditError('AS_ERR_INVALID_ARGUMENT', `signing key ${path} is ${privateKey.asymmetricKeyType}, expected ed25519`);
  }
  const publicKey = createPublicKey(privateKey);
  return { keyId: keyIdOf(publicKey), privateKey, publicKey };
}

/** Loads a public key (PEM) that `verify` should trust, e.g. kept by an auditor. */
export function loadPublicKey(path: string): KeyObject {
  try {
    return createPublicKey(readFileSync(path));
  } catch (err) {
    throw new AuditError('AS_ERR_INVALID_ARGUMENT', `public key ${path} is not a PEM key`, undefined, { cause: err });
  }
}

export function signCheckpoint(signer: Signer, cp: Pick<Checkpoint, 'accountId' | 'seq' | 'hash' | 'createdAt'>): Checkpoint {
  const signature = sign(null, checkpointMessage(cp), signer.privateKey).toString('base64');
  return { ...cp, keyId: signer.keyId, signature };
}

/** Checks an Ed25519 signature (base64) over `message` by the trusted key `keyId`. */
export function verifySignature(keyId: string, message: Buffer, signature: string, trusted: Map<string, KeyObject>): 'ok' | 'untrusted-key' | 'bad-signature' {
  const key = trusted.get(keyId);
  if (!key) return 'untrusted-key';
  try {
    return verify(null, message, key, Buffer.from(signature, 'base64')) ? 'ok' : 'bad-signature';
  } catch {
    return 'bad-signature';
  }
}

export function checkSignature(cp: Checkpoint, trusted: Map<string, KeyObject>): 'ok' | 'untrusted-key' | 'bad-signature' {
  return verifySignature(cp.keyId, checkpointMessage(cp), cp.signature, trusted);
}

/** The checkpoint a `ChainCheckpoint` record of `accountId` carries; a string says why it is malformed. */
export function checkpointFromRecord(accountId: string, record: AuditRecord): Checkpoint | string {
  const d = record.details as Record<string, unknown>;
  const seq = d['sequence'];
  const signedAt = typeof d['signed_at'] === 'string' ? Date.parse(d['signed_at']) : NaN;
  if (
    typeof seq !== 'number' ||
    !Number.isSafeInteger(seq) ||
    seq < 0 ||
    typeof d['head_hash'] !== 'string' ||
    !Number.isFinite(signedAt) ||
    typeof d['key_id'] !== 'string' ||
    typeof d['signature'] !== 'string'
  ) {
    return 'ChainCheckpoint record is malformed';
  }
  return { accountId, seq, hash: d['head_hash'], createdAt: signedAt, keyId: d['key_id'], signature: d['signature'] };
}

/**
 * What a `ChainCheckpoint` record says about the records it covers, beyond the signed head:
 * `records_from_sequence` F and `records`, one `"<digest>:<log_id>"` per record with sequence F..S
 * (F = the previous checkpoint's sequence + 2, i.e. the records after the previous checkpoint
 * record), `recordDigest` of each. Unsigned, but inside the chain, so the next checkpoint's hash
 * covers them. Present only when there are at most `MAX_COVERED_ENTRIES` such records.
 */
export interface CoveredRecords {
  fromSeq: number;
  entries: string[];
}

/** The most per-record entries a `ChainCheckpoint` record lists (about 50 bytes each). */
export const MAX_COVERED_ENTRIES = 1000;

/** The system record that carries a checkpoint to the account's sinks (and into its chain). */
export function checkpointRecord(cp: Checkpoint, covered?: CoveredRecords): AuditRecord {
  return {
    emit_time: formatEmitTime(cp.createdAt),
    level: 'LOG_LEVEL_INFO',
    user_email: '',
    caller_ip_address: '',
    operation: 'ChainCheckpoint',
    details: buildDetails('ChainCheckpoint', {
      sequence: cp.seq,
      head_hash: cp.hash,
      signed_at: new Date(cp.createdAt).toISOString(),
      key_id: cp.keyId,
      signature: cp.signature,
      ...(covered ? { records_from_sequence: covered.fromSeq, records: covered.entries } : {}),
    }),
    status: 'OK',
    category: 'LOG_CATEGORY_SYSTEM',
    version: 1,
    log_id: newLogId(),
    principal: { id: 'auditstream', type: 'serviceaccount', name: 'auditstream' },
  };
}

/** The covered-records list of a `ChainCheckpoint` record, when it carries a well-formed one. */
export function coveredFromRecord(record: AuditRecord): CoveredRecords | undefined {
  const d = record.details as Record<string, unknown>;
  const fromSeq = d['records_from_sequence'];
  const entries = d['records'];
  if (typeof fromSeq !== 'number' || !Number.isSafeInteger(fromSeq) || !Array.isArray(entries)) return undefined;
  if (!entries.every((e) => typeof e === 'string' && /^[0-9a-f]{16}:/.test(e))) return undefined;
  return { fromSeq, entries: entries as string[] };
}

/** What `checkpointAll` needs of a store (an `AuditStore` is one). */
export interface CheckpointStore {
  chainAccounts(): Promise<string[]>;
  chainHead(accountId: string): Promise<ChainHead | undefined>;
  checkpoints(accountId: string): Promise<Checkpoint[]>;
  readChain(accountId: string, fromSeq: number, limit: number): Promise<ChainLink[]>;
  transaction<T>(fn: (tx: CheckpointTx) => Promise<T>): Promise<T>;
}

/**
 * Stores a signed checkpoint once: a second insert of the same (account, seq) is a no-op; the
 * same statement serves both engines.
 */
export async function insertCheckpoint(sql: Pick<CheckpointTx, 'run'>, cp: Checkpoint): Promise<void> {
  await sql.run('INSERT INTO checkpoints (account_id, seq, hash, created_at, key_id, signature) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING', [
    cp.accountId,
    cp.seq,
    cp.hash,
    cp.createdAt,
    cp.keyId,
    cp.signature,
  ]);
}

/** A write transaction: SQL on its connection and appends that commit with it. */
export interface CheckpointTx {
  run(text: string, params?: readonly unknown[]): Promise<{ changes: number }>;
  append(batch: SystemAppend): Promise<{ sequences: number[] }>;
}

/** The head moved between reading it and appending the checkpoint record: sign again. */
class HeadMoved extends Error {}

/**
 * Signs and stores a checkpoint of every account whose head moved since its last checkpoint, and
 * appends it to that account's chain as a `ChainCheckpoint` system record in the same
 * transaction, so the account's sinks receive it like any record (a consumer can check the stream
 * it got against the signed heads). The record of a checkpoint signing sequence S always sits at
 * S + 1 (when another append got in between, the transaction rolls back and the new head is
 * signed), so a consumer knows where each checkpoint record is in the chain. A head whose only
 * new record is that checkpoint record is not signed again. Returns the new checkpoints.
 */
export async function checkpointAll(store: CheckpointStore, signer: Signer, now = Date.now()): Promise<Checkpoint[]> {
  const made: Checkpoint[] = [];
  for (const accountId of await store.chainAccounts()) {
    for (let attempt = 0; ; attempt++) {
      const head = await store.chainHead(accountId);
      if (!head || head.seq === 0) break;
      const existing = await store.checkpoints(accountId);
      const latest = existing.filter((c) => c.keyId === signer.keyId).pop();
      if (latest && latest.seq === head.seq && latest.hash === head.hash) break;
      if (latest && latest.seq === head.seq - 1) {
        const [last] = await store.readChain(accountId, head.seq, 1);
        if (last?.columns.operation === 'ChainCheckpoint') break;
      }
      const previous = existing.filter((c) => c.seq < head.seq).pop();
      const covered = previous ? await coveredRecords(store, accountId, previous.seq + 2, head.seq) : undefined;
      const cp = signCheckpoint(signer, { accountId, seq: head.seq, hash: head.hash, createdAt: now });
      try {
        await store.transaction(async (tx) => {
          await insertCheckpoint(tx, cp);
          const { sequences } = await tx.append({ accountId, records: [checkpointRecord(cp, covered)], ingestedBy: null, clientLogIds: false });
          if (sequences[0] !== cp.seq + 1) throw new HeadMoved();
        });
      } catch (err) {
        if (err instanceof HeadMoved && attempt < 5) continue;
        throw err;
      }
      made.push(cp);
      break;
    }
  }
  return made;
}

/** The per-record entries of sequences fromSeq..toSeq, or undefined when too many or not all stored. */
async function coveredRecords(store: CheckpointStore, accountId: string, fromSeq: number, toSeq: number): Promise<CoveredRecords | undefined> {
  const count = toSeq - fromSeq + 1;
  if (count < 0 || count > MAX_COVERED_ENTRIES) return undefined;
  const links = count === 0 ? [] : await store.readChain(accountId, fromSeq, count);
  if (links.length !== count) return undefined;
  return { fromSeq, entries: links.map((l) => `${recordDigest(canonicalJson(JSON.parse(l.recordJson)))}:${l.columns.logId}`) };
}
