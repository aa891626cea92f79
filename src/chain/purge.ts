/**
 * Provable retention. Deleting the oldest records and writing a retention anchor is all an
 * attacker with database access needs to make a chain start later; so every purge appends, in
 * its own transaction, a signed `RetentionPurge` system record to the account's chain naming
 * the purged range, the new anchor, the retention in force and, as evidence, the newest signed
 * checkpoint that covers the purged range and was signed at least one retention period before
 * the purge. A checkpoint at sequence S signed at time T proves that records ≤ S were stored by
 * T, so the evidence shows the purged records were older than the retention without trusting
 * any per-record `stored_at` (a stream consumer never sees it). `verify` requires every
 * retention anchor to be justified by such a record, and checks every one it finds.
 */
import { sign, type KeyObject } from 'node:crypto';
import { formatEmitTime, newLogId, type AuditRecord } from '../record/record.js';
import { buildDetails } from '../record/operations.js';
import { checkpointMessage, checkSignature, verifySignature, type Signer } from './checkpoint.js';
import type { Checkpoint } from './types.js';

const DAY_MS = 86_400_000;

/** What one purge transaction did. */
export interface PurgeFacts {
  accountId: string;
  /** First and last sequence the purge deleted. */
  fromSeq: number;
  toSeq: number;
  /** Hash of record `toSeq`: the account's new retention anchor. */
  anchorHash: string;
  /** A signed checkpoint at or after `toSeq`, signed at or before purge time − retention. */
  evidence: Checkpoint;
}

/** A purge as its `RetentionPurge` record states it, signed. */
export interface SignedPurge extends PurgeFacts {
  retentionDays: number;
  purgedAt: number;
  keyId: string;
  signature: string;
}

/**
 * What a store's purge needs from the chain side: which checkpoints count as evidence, and the
 * signed record to append for each purge (in the purge's transaction).
 */
export interface PurgeAttestor {
  /** Only checkpoints signed with this key are used as evidence. */
  readonly keyId: string;
  /** A checkpoint signed at or before this (purge time − retention) proves its records expired. */
  readonly evidenceBeforeMs: number;
  /**
   * Whether a stored checkpoint really is this key's signature: a row planted in the database
   * must not make retention delete records (verify would catch it, but too late for the data).
   */
  isSigned(evidence: Checkpoint): boolean;
  purgeRecord(facts: PurgeFacts): AuditRecord;
}

/** The exact bytes a purge signature covers (the evidence by all of its signed fields). */
export function purgeMessage(p: Omit<SignedPurge, 'keyId' | 'signature'>): Buffer {
  return Buffer.concat([
    Buffer.from(`auditstream-retention-purge-v1\n${p.accountId}\n${p.fromSeq}\n${p.toSeq}\n${p.anchorHash}\n${p.retentionDays}\n${p.purgedAt}\n`),
    checkpointMessage(p.evidence),
    Buffer.from(`\n${p.evidence.keyId}\n${p.evidence.signature}`),
  ]);
}

/** The attestor of one retention round: purge time `now`, retention `retentionDays`. */
export function retentionAttestor(signer: Signer, retentionDays: number, now: number): PurgeAttestor {
  return {
    keyId: signer.keyId,
    evidenceBeforeMs: now - retentionDays * DAY_MS,
    isSigned: (evidence) => checkSignature(evidence, new Map([[signer.keyId, signer.publicKey]])) === 'ok',
    purgeRecord: (facts) => purgeRecord(signPurge(signer, { ...facts, retentionDays, purgedAt: now })),
  };
}

export function signPurge(signer: Signer, p: Omit<SignedPurge, 'keyId' | 'signature'>): SignedPurge {
  return { ...p, keyId: signer.keyId, signature: sign(null, purgeMessage(p), signer.privateKey).toString('base64') };
}

/** The `RetentionPurge` system record of a signed purge. */
export function purgeRecord(p: SignedPurge): AuditRecord {
  return {
    emit_time: formatEmitTime(p.purgedAt),
    level: 'LOG_LEVEL_INFO',
    user_email: '',
    caller_ip_address: '',
    operation: 'RetentionPurge',
    details: buildDetails('RetentionPurge', {
      retention_days: p.retentionDays,
      from_sequence: p.fromSeq,
      to_sequence: p.toSeq,
      anchor_hash: p.anchorHash,
      purged_at: new Date(p.purgedAt).toISOString(),
      evidence: {
        sequence: p.evidence.seq,
        head_hash: p.evidence.hash,
        signed_at: new Date(p.evidence.createdAt).toISOString(),
        key_id: p.evidence.keyId,
        signature: p.evidence.signature,
      },
      key_id: p.keyId,
      signature: p.signature,
    }),
    status: 'OK',
    category: 'LOG_CATEGORY_SYSTEM',
    version: 1,
    log_id: newLogId(),
    principal: { id: 'auditstream', type: 'serviceaccount', name: 'auditstream' },
  };
}

const int = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const str = (v: unknown): v is string => typeof v === 'string';
const time = (v: unknown): number | undefined => (str(v) && Number.isFinite(Date.parse(v)) ? Date.parse(v) : undefined);

/** Reads a `RetentionPurge` record of `accountId`; a string says why it is malformed. */
export function purgeFromRecord(accountId: string, record: AuditRecord): SignedPurge | string {
  const d = record.details as Record<string, unknown>;
  const e = (typeof d['evidence'] === 'object' && d['evidence'] !== null ? d['evidence'] : {}) as Record<string, unknown>;
  const purgedAt = time(d['purged_at']);
  const signedAt = time(e['signed_at']);
  if (
    !int(d['from_sequence']) ||
    !int(d['to_sequence']) ||
    !str(d['anchor_hash']) ||
    !int(d['retention_days']) ||
    purgedAt === undefined ||
    !str(d['key_id']) ||
    !str(d['signature']) ||
    !int(e['sequence']) ||
    !str(e['head_hash']) ||
    signedAt === undefined ||
    !str(e['key_id']) ||
    !str(e['signature'])
  ) {
    return 'RetentionPurge record is malformed';
  }
  return {
    accountId,
    fromSeq: d['from_sequence'],
    toSeq: d['to_sequence'],
    anchorHash: d['anchor_hash'],
    retentionDays: d['retention_days'],
    purgedAt,
    keyId: d['key_id'],
    signature: d['signature'],
    evidence: { accountId, seq: e['sequence'], hash: e['head_hash'], createdAt: signedAt, keyId: e['key_id'], signature: e['signature'] },
  };
}

/**
 * Checks what a signed purge can show on its own: its signature and its evidence's, and that the
 * evidence covers the purged range and was signed at least the retention before the purge.
 * Returns why it fails, or undefined. (Whether the named hashes match the chain is the caller's.)
 */
export function checkPurge(p: SignedPurge, trusted: Map<string, KeyObject>): string | undefined {
  const own = verifySignature(p.keyId, purgeMessage(p), p.signature, trusted);
  if (own !== 'ok')
    return own === 'untrusted-key' ? `RetentionPurge record is signed by an untrusted key ${p.keyId}` : 'RetentionPurge record has a bad signature';
  const ev = checkSignature(p.evidence, trusted);
  if (ev !== 'ok')
    return `the evidence checkpoint of a RetentionPurge record ${ev === 'untrusted-key' ? `is signed by an untrusted key ${p.evidence.keyId}` : 'has a bad signature'}`;
  if (p.retentionDays < 1) return 'RetentionPurge record names a retention under one day';
  if (p.fromSeq < 1 || p.fromSeq > p.toSeq) return 'RetentionPurge record names an empty range';
  if (p.evidence.seq < p.toSeq)
    return `purge up to ${p.toSeq} is not covered by its evidence checkpoint (seq ${p.evidence.seq}): records younger than the retention were deleted`;
  if (p.evidence.createdAt > p.purgedAt - p.retentionDays * DAY_MS) {
    return `purge up to ${p.toSeq} at ${new Date(p.purgedAt).toISOString()} deleted records not proven older than ${p.retentionDays} days (evidence signed ${new Date(p.evidence.createdAt).toISOString()})`;
  }
  return undefined;
}
