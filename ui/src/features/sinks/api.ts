/**
 * Audit log sinks: the Cloud Ops API's sink RPCs (`/cloud/audit-log-sinks`, proto3 JSON) and
 * auditstream's extensions (`/api/v1/audit-log-sinks/:name/{status,verify,replay,dead-letters,setup}`).
 * Every mutation is the same call the CLI makes, so it leaves the same audit record.
 */
import { queryOptions, useMutation, useQueryClient } from '@tanstack/react-query';
import { api, operationId, seg } from '../../lib/api-client';

export interface KinesisSpec {
  roleName: string;
  destinationUri: string;
  region: string;
}
export interface PubSubSpec {
  serviceAccountId: string;
  topicName: string;
  gcpProjectId: string;
}
export interface SinkSpec {
  name: string;
  enabled: boolean;
  kinesisSink?: KinesisSpec | null;
  pubSubSink?: PubSubSpec | null;
}
export interface Sink {
  name: string;
  resourceVersion: string;
  state: string;
  spec: SinkSpec;
  health: string;
  errorMessage: string;
  lastSucceededTime?: string | null;
}
export interface SinkStatus {
  name: string;
  enabled: boolean;
  state: 'active' | 'deleting';
  health: string;
  errorKind: string | null;
  errorMessage: string | null;
  errorSinceMs: number | null;
  lastSuccessMs: number | null;
  cursorSeq: number;
  headSeq: number;
  backlog: number;
  lagMs: number;
  deliveredCount: number;
  deadLetters: number;
  deadLetteredTotal: number;
  expiredUndelivered: number;
  replays: { id: string; mode: string; state: string; fromSeq: number; toSeq: number; deliveredCount: number }[];
}
export type SinkSetup =
  | { kind: 'kinesis'; external_id: string; parameters: Record<string, string>; quick_create_url: string; template_file_name: string; template: string }
  | { kind: 'pubsub'; service_account: string; commands: { purpose: string; text: string; required: boolean }[] };
export type VerifyResult = { status: 'Success'; log_id: string | null } | { status: 'Failed'; cause: string; message: string };
export interface AsyncOperation {
  id: string;
  state: string;
  failureReason?: string;
}

const base = (name: string) => `/api/v1/audit-log-sinks/${seg(name)}`;

export const sinksQuery = () =>
  queryOptions({
    queryKey: ['sinks'],
    queryFn: async () => {
      const all: Sink[] = [];
      let token = '';
      do {
        const page = await api<{ sinks?: Sink[]; nextPageToken?: string }>(
          'GET',
          `/cloud/audit-log-sinks?page_size=100${token ? `&page_token=${seg(token)}` : ''}`,
        );
        all.push(...(page.sinks ?? []));
        token = page.nextPageToken ?? '';
      } while (token);
      return all;
    },
  });

export const sinkQuery = (name: string) =>
  queryOptions({ queryKey: ['sinks', name], queryFn: async () => (await api<{ sink: Sink }>('GET', `/cloud/audit-log-sinks/${seg(name)}`)).sink });

export const statusQuery = (name: string) =>
  queryOptions({ queryKey: ['sinks', name, 'status'], queryFn: () => api<SinkStatus>('GET', `${base(name)}/status`), refetchInterval: 3000 });

export const setupQuery = (name: string) =>
  queryOptions({ queryKey: ['sinks', name, 'setup'], queryFn: () => api<SinkSetup>('GET', `${base(name)}/setup`), staleTime: 60_000 });

export const deadLettersQuery = (name: string) =>
  queryOptions({
    queryKey: ['sinks', name, 'dead-letters'],
    queryFn: () => api<{ dead_letters: { seq: number; logId: string; reason: string; createdMs: number }[] }>('GET', `${base(name)}/dead-letters`),
  });

export function getSetup(name: string): Promise<SinkSetup> {
  return api<SinkSetup>('GET', `${base(name)}/setup`);
}

/** Sink changes invalidate the list and the sink's own queries. */
function useInvalidate() {
  const qc = useQueryClient();
  return (name?: string) => qc.invalidateQueries({ queryKey: name ? ['sinks', name] : ['sinks'] });
}

export function useCreateSink() {
  const invalidate = useInvalidate();
  return useMutation({
    mutationFn: (spec: SinkSpec) =>
      api<{ asyncOperation: AsyncOperation }>('POST', '/cloud/audit-log-sinks', { body: { spec, async_operation_id: operationId() } }),
    onSuccess: () => invalidate(),
  });
}

export function useUpdateSink() {
  const invalidate = useInvalidate();
  return useMutation({
    mutationFn: ({ sink, spec }: { sink: Sink; spec: SinkSpec }) =>
      api<{ asyncOperation: AsyncOperation }>('POST', `/cloud/audit-log-sinks/${seg(sink.name)}`, {
        body: { spec, resource_version: sink.resourceVersion, async_operation_id: operationId() },
      }),
    onSuccess: (_d, v) => invalidate(v.sink.name),
  });
}

export function useVerifySink() {
  return useMutation({ mutationFn: (name: string) => api<VerifyResult>('POST', `${base(name)}/verify`, { body: {} }) });
}

export function useReplaySink() {
  const invalidate = useInvalidate();
  return useMutation({
    mutationFn: ({ name, since, until }: { name: string; since: string; until?: string }) =>
      api<{ replay_id: string; from_seq: number; to_seq: number; state: string }>('POST', `${base(name)}/replay`, {
        body: { since, ...(until ? { until } : {}) },
      }),
    onSuccess: (_d, v) => invalidate(v.name),
  });
}

export function useReplayDeadLetters() {
  const invalidate = useInvalidate();
  return useMutation({
    mutationFn: (name: string) => api<{ replay_id: string | null }>('POST', `${base(name)}/dead-letters/replay`, { body: {} }),
    onSuccess: (_d, name) => invalidate(name),
  });
}

/** Deletes a sink; the answer may be STATE_IN_PROGRESS (then poll the operation). */
export function useDeleteSink() {
  const invalidate = useInvalidate();
  return useMutation({
    mutationFn: async (sink: Sink) => {
      const q = new URLSearchParams({ resource_version: sink.resourceVersion, async_operation_id: operationId() });
      return (await api<{ asyncOperation: AsyncOperation }>('DELETE', `/cloud/audit-log-sinks/${seg(sink.name)}?${q.toString()}`)).asyncOperation;
    },
    onSuccess: () => invalidate(),
  });
}

export function getOperation(id: string): Promise<AsyncOperation> {
  return api<{ asyncOperation: AsyncOperation }>('GET', `/cloud/operations/${seg(id)}`).then((r) => r.asyncOperation);
}

/** The template with the sink's parameters as defaults: ready to upload as it is (Manual). */
export function filledTemplate(setup: Extract<SinkSetup, { kind: 'kinesis' }>): string {
  const t = JSON.parse(setup.template) as { Parameters?: Record<string, Record<string, unknown>> };
  for (const [k, v] of Object.entries(setup.parameters)) {
    const p = t.Parameters?.[k];
    if (p && v !== '') p['Default'] = v;
  }
  return `${JSON.stringify(t, null, 2)}\n`;
}

/** The sink's one-line state: what the badge next to the heading says. */
export function sinkBadge(s: { enabled: boolean; health: string; state?: string }): { tone: 'ok' | 'warn' | 'error' | 'muted'; label: string } {
  if (s.state === 'deleting' || s.state === 'RESOURCE_STATE_DELETING') return { tone: 'muted', label: 'Deleting' };
  if (!s.enabled) return { tone: 'warn', label: 'Paused' };
  if (s.health === 'ok' || s.health === 'HEALTH_OK') return { tone: 'ok', label: 'On' };
  return { tone: 'error', label: 'Error' };
}

export const AWS_REGIONS = [
  'us-east-1',
  'us-east-2',
  'us-west-1',
  'us-west-2',
  'ca-central-1',
  'sa-east-1',
  'eu-west-1',
  'eu-west-2',
  'eu-west-3',
  'eu-central-1',
  'eu-central-2',
  'eu-north-1',
  'eu-south-1',
  'ap-south-1',
  'ap-northeast-1',
  'ap-northeast-2',
  'ap-northeast-3',
  'ap-southeast-1',
  'ap-southeast-2',
  'ap-east-1',
  'me-central-1',
  'af-south-1',
];
