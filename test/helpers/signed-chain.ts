/**
 * An account's chain built in memory with the real chain code, as auditstream appends it: rounds
 * of records, each round followed by its signed checkpoint record at S + 1 (with the per-record
 * list from the second checkpoint on). The consumer's in-process tests feed it to the proof.
 */
import { randomBytes } from 'node:crypto';
import { canonicalJson, GENESIS_HASH, linkHash, recordDigest } from '../../src/chain/hash.js';
import { checkpointRecord, signCheckpoint, type Signer } from '../../src/chain/checkpoint.js';
import { newLogId, type AuditRecord } from '../../src/record/record.js';

/** A valid seed-shaped record, distinct per account and index. */
export function chainRecord(account: string, i: number): AuditRecord {
  return {
    emit_time: '2023-11-14T07:56:55Z',
    level: 'LOG_LEVEL_INFO',
    user_email: `user-${i}-${randomBytes(3).toString('hex')}@example.com`,
    caller_ip_address: '10.1.2.3',
    operation: 'DeleteUser',
    details: { target_users: [`${account}-${i}`], search_attribute_update: {} },
    status: 'OK',
    category: 'LOG_CATEGORY_ADMIN',
    version: 1,
    log_id: newLogId(),
    principal: { id: 'p', type: 'user', name: 'user@example.com' },
  };
}

export interface ChainEntry {
  seq: number;
  record: AuditRecord;
  /** The record's JSON text as a stream carries it. */
  data: Buffer;
}

/** `rounds[k]` records, then a checkpoint record, for each k. */
export function buildSignedChain(s: Signer, account: string, rounds: number[]): ChainEntry[] {
  const out: ChainEntry[] = [];
  let seq = 0;
  let hash = GENESIS_HASH;
  let previousCp: number | undefined;
  let n = 0;
  const link = (r: AuditRecord) => {
    seq++;
    hash = linkHash(account, seq, hash, canonicalJson(r));
    out.push({ seq, record: r, data: Buffer.from(JSON.stringify(r)) });
  };
  for (const size of rounds) {
    for (let i = 0; i < size; i++) link(chainRecord(account, n++));
    const cp = signCheckpoint(s, { accountId: account, seq, hash, createdAt: 1_700_000_000_000 + seq });
    const covered =
      previousCp !== undefined
        ? {
            fromSeq: previousCp + 2,
            entries: out.filter((d) => d.seq >= previousCp! + 2).map((d) => `${recordDigest(canonicalJson(d.record))}:${d.record.log_id}`),
          }
        : undefined;
    previousCp = seq;
    link(checkpointRecord(cp, covered));
  }
  return out;
}
