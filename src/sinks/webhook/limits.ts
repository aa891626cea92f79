/**
 * Limits of the webhook sink. There is no provider quota: these keep one request within what
 * common receivers take by default — Splunk HEC's `max_content_length` is 1 MB
 * (https://docs.splunk.com/Documentation/Splunk/latest/Admin/Limitsconf, [http_input]); Datadog's
 * log intake 5 MB per payload and 1 MB per entry, at most 1,000 entries
 * (https://docs.datadoghq.com/api/latest/logs/#send-logs). A receiver with a lower limit answers
 * 413 and the batch is split (adapter.ts).
 */
import type { SinkLimits } from '../../delivery/adapter.js';

export const WEBHOOK_LIMITS: SinkLimits = Object.freeze({
  maxBatchRecords: 1000,
  maxBatchBytes: 1000 * 1000,
  maxRecordBytes: 1000 * 1000,
  recordsPerSecond: null,
  // No quota; a high ceiling so the engine's adaptive rate only acts on 429s.
  bytesPerSecond: 64 * 1024 * 1024,
});
