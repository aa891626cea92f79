/** Prometheus metrics (prom-client), one registry per app so several apps can share a process (tests). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface ApiMetrics {
  registry: Registry;
  requests: Counter<'route' | 'method' | 'status'>;
  requestSeconds: Histogram<'route' | 'method'>;
  ingestedRecords: Counter;
  ingestDuplicates: Counter;
  authFailures: Counter<'reason'>;
  retentionPurged: Counter;
  checkpointsSigned: Counter;
  lastCheckpointTime: Gauge;
}

export function createMetrics(withDefaults = true): ApiMetrics {
  const registry = new Registry();
  if (withDefaults) collectDefaultMetrics({ register: registry });
  const m = {
    registry,
    requests: new Counter({
      name: 'auditstream_http_requests_total',
      help: 'HTTP requests by route and status',
      labelNames: ['route', 'method', 'status'] as const,
      registers: [registry],
    }),
    requestSeconds: new Histogram({
      name: 'auditstream_http_request_duration_seconds',
      help: 'HTTP request latency',
      labelNames: ['route', 'method'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    ingestedRecords: new Counter({ name: 'auditstream_ingested_records_total', help: 'Records stored through the ingest API', registers: [registry] }),
    ingestDuplicates: new Counter({
      name: 'auditstream_ingest_duplicates_total',
      help: 'Ingested records that repeated a stored log_id with identical content',
      registers: [registry],
    }),
    authFailures: new Counter({
      name: 'auditstream_auth_failures_total',
      help: 'Refused credentials (no tenant: not audited)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    retentionPurged: new Counter({ name: 'auditstream_retention_purged_records_total', help: 'Records removed by retention', registers: [registry] }),
    checkpointsSigned: new Counter({ name: 'auditstream_checkpoints_signed_total', help: 'Chain checkpoints signed', registers: [registry] }),
    lastCheckpointTime: new Gauge({
      name: 'auditstream_last_checkpoint_timestamp_seconds',
      help: 'When the last checkpoint round finished',
      registers: [registry],
    }),
  };
  return m;
}
