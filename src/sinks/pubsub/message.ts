/**
 * How one stored record becomes one Pub/Sub message.
 *
 * - `data`: the record's JSON bytes exactly as stored (seed key order), nothing wrapped around
 *   them, so a consumer reads the same bytes `auditstream logs` prints.
 * - `orderingKey`: the partition key, the account id by default, so one account's records arrive
 *   in chain order on a subscription with message ordering enabled.
 * - attributes `log_id`, `account_id`, `sequence`: delivery is at least once (a retried publish
 *   whose first answer was lost is published twice), so consumers dedupe by `log_id`, and can
 *   check gaps by `sequence` without parsing the body.
 */
import type { EncodedEntry } from '../../delivery/adapter.js';

/** The message shape Publish takes (google.pubsub.v1.PubsubMessage, the fields we set). */
export interface OutgoingMessage {
  data: Buffer;
  attributes: { log_id: string; account_id: string; sequence: string };
  orderingKey: string;
}

/** `log_id` + `account_id` + `sequence`: the attribute keys' bytes in every message. */
const ATTRIBUTE_KEY_BYTES = 6 + 10 + 8;

/**
 * Encodes one stored record for Pub/Sub; the partition key is the account id. `sizeBytes` is the
 * message as Pub/Sub's quotas count it ("based on the size of the published PubsubMessages"):
 * data, ordering key and attributes, so the 1 MB/s per ordering key is not overrun by ~20 % of
 * attribute bytes on ~400-byte records.
 */
export function encodeRecord(accountId: string, seq: number, logId: string, recordJson: string): EncodedEntry {
  const data = Buffer.from(recordJson, 'utf8');
  const key = Buffer.byteLength(accountId, 'utf8');
  const sizeBytes = data.length + key /* ordering key */ + ATTRIBUTE_KEY_BYTES + Buffer.byteLength(logId, 'utf8') + key + String(seq).length;
  return { seq, logId, partitionKey: accountId, data, sizeBytes };
}

/** The Pub/Sub message for one encoded entry (its partition key is the account id). */
export function toMessage(entry: EncodedEntry): OutgoingMessage {
  return {
    data: entry.data,
    attributes: { log_id: entry.logId, account_id: entry.partitionKey, sequence: String(entry.seq) },
    orderingKey: entry.partitionKey,
  };
}
