/**
 * Pub/Sub's publish limits, each with its source, as the `SinkLimits` the delivery engine batches by.
 *
 * Sources:
 * - Resource limits, https://cloud.google.com/pubsub/quotas#resource_limits : a publish request
 *   carries at most 1,000 messages and 10 MB; a message's `data` is at most 10 MB; at most 100
 *   attributes per message, keys ≤ 256 bytes, values ≤ 1,024 bytes.
 * - "10 MB" is 10,000,000 bytes on gRPC: the service answers `INVALID_ARGUMENT: The value for
 *   request_size is too large. You passed 10000558 in the request, but the maximum value is
 *   10000000.` (GoogleCloudPlatform/pubsub#267; google-cloud-python#5898).
 * - Ordering keys: at most 1 KB, and "If messages have ordering keys, the maximum publisher
 *   throughput is 1 MB/s per ordering key" (quotas page, "Publisher throughput"; the ordering
 *   page, https://cloud.google.com/pubsub/docs/ordering : "The publish throughput on each ordering
 *   key is limited to 1 MBps"). A limit in bytes only: no page states a per-key message count.
 */
import type { SinkLimits } from '../../delivery/adapter.js';

/** The service's hard ceilings (see the sources above). */
export const PUBSUB_HARD_LIMITS = Object.freeze({
  messagesPerRequest: 1_000,
  requestBytes: 10_000_000,
  messageDataBytes: 10_000_000,
  attributeValueBytes: 1_024,
  orderingKeyBytes: 1_024,
  /** Publisher throughput per ordering key, bytes per second. */
  bytesPerSecondPerOrderingKey: 1_000_000,
});

/**
 * Room left in each request for what the engine does not count: the topic name and, per message,
 * its protobuf framing, the three attributes (`log_id`, `account_id`, `sequence`) and the ordering
 * key. 1,000,000 bytes for 1,000 messages is 1,000 bytes each, enough for account ids up to ~440
 * bytes (each message carries the account id twice: attribute and ordering key). The official
 * Node client keeps the same kind of margin (`BATCH_LIMITS.maxBytes` = 9 MiB in
 * @google-cloud/pubsub build/src/publisher/index.js), and 9,000,000 is what the Pub/Sub Kafka
 * connector settled on after hitting the limit (GoogleCloudPlatform/pubsub#267).
 * test/pubsub-limits.test.ts encodes a worst-case request and checks it stays under 10,000,000.
 */
export const PUBLISH_FRAMING_RESERVE_BYTES = 1_000_000;

/**
 * What the engine batches by.
 * - `maxBatchRecords` 1,000: the per-request message limit (the emulator enforces it too:
 *   `INVALID_ARGUMENT: Too many messages to publish`).
 * - `maxBatchBytes` 9,000,000: the 10,000,000-byte request limit less the framing reserve.
 * - `maxRecordBytes` 9,000,000: a record must fit a request on its own, so the data limit
 *   (10 MB) is cut to the batch limit. Audit records are at most 256 KiB (docs/decisions/0004), so
 *   this only guards against configuration drift.
 * - `bytesPerSecond` 1,000,000: the 1 MB/s per ordering key (the account id), so the message
 *   rate follows the record size: ~1,600–2,000 messages/s of the seed records (400–600 bytes),
 *   fewer of larger ones. The quota is metered on the whole `PubsubMessage` ("based on the size
 *   of the published PubsubMessages"), so each entry counts data, ordering key and attributes
 *   (`sizeBytes` in message.ts). If the service still pushes back (RESOURCE_EXHAUSTED, a
 *   `throttle` in classify.ts), the AIMD slows down.
 * - `recordsPerSecond` null: Pub/Sub has no per-key message count limit.
 */
export const PUBSUB_LIMITS: Readonly<SinkLimits> = Object.freeze({
  maxBatchRecords: PUBSUB_HARD_LIMITS.messagesPerRequest,
  maxBatchBytes: PUBSUB_HARD_LIMITS.requestBytes - PUBLISH_FRAMING_RESERVE_BYTES,
  maxRecordBytes: PUBSUB_HARD_LIMITS.requestBytes - PUBLISH_FRAMING_RESERVE_BYTES,
  recordsPerSecond: null,
  bytesPerSecond: PUBSUB_HARD_LIMITS.bytesPerSecondPerOrderingKey,
});
