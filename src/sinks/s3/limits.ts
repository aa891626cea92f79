/**
 * Limits of the S3 sink. One batch is one object: at most 5 MiB of JSONL before gzip (the issue's
 * default batch, far under PutObject's 5 GiB single-request limit), collected for at most 60 s
 * (`batchWindowMs`, AUDITSTREAM_BATCH_WINDOW_MS overrides it), with stable boundaries (the same
 * records, key and bytes on a resend, docs/decisions/0022-deterministic-object-batches.md).
 * Sources: https://docs.aws.amazon.com/AmazonS3/latest/userguide/upload-objects.html (5 GiB per
 * PUT), https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance.html (3,500
 * PUT/s per prefix: one object per window is far below it, so there is no request rate here; S3
 * limits no bytes per second, so the byte rate is a high ceiling that only SlowDown answers lower).
 */
import type { SinkLimits } from '../../delivery/adapter.js';

/** The default batch window: one object a minute at most per sink, while records arrive. */
export const S3_BATCH_WINDOW_MS = 60_000;

export const S3_LIMITS: SinkLimits = Object.freeze({
  maxBatchRecords: 100_000,
  maxBatchBytes: 5 * 1024 * 1024,
  maxRecordBytes: 5 * 1024 * 1024,
  recordsPerSecond: null,
  bytesPerSecond: 1024 * 1024 * 1024,
  batchWindowMs: S3_BATCH_WINDOW_MS,
  stableBatches: true,
});
