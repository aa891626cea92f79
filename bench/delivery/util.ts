/** Small helpers shared by the delivery benchmark's parts. */
import type { AuditLogSinkSpec } from '../../src/sinks/spec.js';
import { MOTO_ACCOUNT, TEST_REGION } from '../../test/helpers/moto.js';

/** The Pub/Sub emulator project and the service account the sinks name (the emulator checks neither). */
export const PROJECT = 'auditstream-bench';
export const SA = 'audit-bench@customer-proj.iam.gserviceaccount.com';

const started = Date.now();
export function progress(msg: string): void {
  process.stderr.write(`[delivery ${((Date.now() - started) / 1000).toFixed(1).padStart(7)}s] ${msg}\n`);
}
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const envList = (name: string) =>
  process.env[name]
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
export function pct(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
export const MB = (b: number) => Math.round((b / 1048576) * 10) / 10;

export function kinesisSpec(stream: string): AuditLogSinkSpec {
  return {
    name: 'main',
    enabled: true,
    kinesisSink: { roleName: 'auditstream-writer', destinationUri: `arn:aws:kinesis:${TEST_REGION}:${MOTO_ACCOUNT}:stream/${stream}`, region: TEST_REGION },
  };
}
export function pubsubSpec(topic: string): AuditLogSinkSpec {
  return { name: 'main', enabled: true, pubSubSink: { serviceAccountId: SA, topicName: topic, gcpProjectId: PROJECT } };
}

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
