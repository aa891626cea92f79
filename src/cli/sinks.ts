/**
 * `auditstream sinks ...`: sink management through the API (AUDITSTREAM_URL, AUDITSTREAM_API_KEY),
 * so every change is audited with the key's principal. Uses the Cloud Ops API's HTTP mapping
 * (`/cloud/audit-log-sinks`) and auditstream's `/api/v1/audit-log-sinks/...` extensions. For an
 * HTTPS server with a private CA, Node's standard NODE_EXTRA_CA_CERTS applies.
 */
import { Command, Option } from 'commander';
import { randomUUID } from 'node:crypto';
import { AuditError } from '../errors.js';
import type { Io } from './main.js';

interface ApiTarget {
  url: string;
  key: string;
}

function target(): ApiTarget {
  const url = (process.env['AUDITSTREAM_URL'] ?? 'http://127.0.0.1:7780').replace(/\/$/, '');
  const key = process.env['AUDITSTREAM_API_KEY'];
  if (!key) throw new AuditError('AS_ERR_INVALID_ARGUMENT', 'AUDITSTREAM_API_KEY is not set: the sinks commands act through the API with an Owner or Global Admin key');
  return { url, key };
}

/** One API call; an error answer becomes one line a person can act on. */
async function call(t: ApiTarget, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  let res: Response;
  try {
    res = await fetch(`${t.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${t.key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch (err) {
    throw new Error(`cannot reach ${t.url} (${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}): is AUDITSTREAM_URL right and the server running?`);
  }
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    // not JSON: keep the text for the message
  }
  if (!res.ok) {
    const err = (json['error'] as { message?: string } | undefined)?.message ?? (json['message'] as string | undefined) ?? text;
    throw new Error(`${method} ${path}: ${res.status} ${err}`);
  }
  return json;
}

interface SpecFlags {
  kinesisStreamArn?: string;
  kinesisRoleName?: string;
  kinesisRegion?: string;
  pubsubTopic?: string;
  pubsubProject?: string;
  pubsubServiceAccount?: string;
  disabled?: boolean;
  enabled?: boolean;
  /** auditstream extension, set through /api/v1/audit-log-sinks/:name/extensions; undefined: unchanged. */
  kinesisAggregate?: boolean;
}

function specFrom(name: string, f: SpecFlags, base?: Record<string, unknown>): Record<string, unknown> {
  const spec: Record<string, unknown> = { ...(base ?? {}), name };
  const kinesis = f.kinesisStreamArn ?? f.kinesisRoleName ?? f.kinesisRegion;
  const pubsub = f.pubsubTopic ?? f.pubsubProject ?? f.pubsubServiceAccount;
  if (kinesis && pubsub) throw new AuditError('AS_ERR_INVALID_ARGUMENT', 'give either the --kinesis-* or the --pubsub-* flags, not both');
  if (kinesis) {
    const prev = (base?.['kinesisSink'] ?? {}) as Record<string, string>;
    delete spec['pubSubSink'];
    spec['kinesisSink'] = { destinationUri: f.kinesisStreamArn ?? prev['destinationUri'] ?? '', roleName: f.kinesisRoleName ?? prev['roleName'] ?? '', region: f.kinesisRegion ?? prev['region'] ?? '' };
  }
  if (pubsub) {
    const prev = (base?.['pubSubSink'] ?? {}) as Record<string, string>;
    delete spec['kinesisSink'];
    spec['pubSubSink'] = { topicName: f.pubsubTopic ?? prev['topicName'] ?? '', gcpProjectId: f.pubsubProject ?? prev['gcpProjectId'] ?? '', serviceAccountId: f.pubsubServiceAccount ?? prev['serviceAccountId'] ?? '' };
  }
  if (!spec['kinesisSink'] && !spec['pubSubSink']) throw new AuditError('AS_ERR_INVALID_ARGUMENT', 'a sink needs a destination: --kinesis-stream-arn/--kinesis-role-name/--kinesis-region or --pubsub-topic/--pubsub-project/--pubsub-service-account');
  // New sinks start enabled unless --disabled; an update keeps the current state unless told.
  spec['enabled'] = f.disabled ? false : f.enabled ? true : base === undefined ? true : base['enabled'] === true;
  return spec;
}

function withSpecFlags(cmd: Command): Command {
  return cmd
    .option('--kinesis-stream-arn <arn>', 'Kinesis stream ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME)')
    .option('--kinesis-role-name <name>', 'IAM role in that AWS account that auditstream assumes')
    .option('--kinesis-region <region>', "the stream's region")
    .option('--pubsub-topic <id>', 'Pub/Sub topic id')
    .option('--pubsub-project <id>', 'GCP project of the topic')
    .option('--pubsub-service-account <email>', 'service account auditstream impersonates to publish')
    .option('--kinesis-aggregate', 'pack records in the KPL aggregated format (Kinesis only; consumers must deaggregate, see README)')
    .option('--no-kinesis-aggregate', 'one Kinesis record per audit record (the default)');
}

/** Sets the sink's extension settings when a flag asked for one (audited like any update). */
async function setExtensions(t: ApiTarget, name: string, spec: Record<string, unknown>, f: SpecFlags): Promise<void> {
  if (f.kinesisAggregate === undefined) return;
  if (!spec['kinesisSink']) throw new AuditError('AS_ERR_INVALID_ARGUMENT', '--kinesis-aggregate / --no-kinesis-aggregate apply to Kinesis sinks only');
  await call(t, 'POST', `/api/v1/audit-log-sinks/${enc(name)}/extensions`, { kinesis_aggregate: f.kinesisAggregate });
}

const enc = encodeURIComponent;

export function addSinkCommands(program: Command, io: Io): void {
  const sinks = program
    .command('sinks')
    .description('audit log sinks, through the API (env AUDITSTREAM_URL, default http://127.0.0.1:7780, and AUDITSTREAM_API_KEY)')
    // Usage errors in one line (INTERFACES.md), the hint on the same line; the subcommands inherit it.
    .showHelpAfterError(false)
    .configureOutput({ outputError: (text, write) => write(`${text.trimEnd()} (run with --help for usage)\n`) });
  const print = async (v: unknown) => io.out(JSON.stringify(v, null, 2) + '\n');

  sinks.command('list').description('all sinks of the account').action(async () => {
    const t = target();
    const all: unknown[] = [];
    let token = '';
    do {
      const page = await call(t, 'GET', `/cloud/audit-log-sinks?page_size=100${token ? `&page_token=${enc(token)}` : ''}`);
      all.push(...((page['sinks'] as unknown[]) ?? []));
      token = (page['nextPageToken'] as string) ?? '';
    } while (token);
    await print(all);
  });

  sinks.command('get <name>').description('one sink with its health').action(async (name: string) => {
    await print((await call(target(), 'GET', `/cloud/audit-log-sinks/${enc(name)}`))['sink']);
  });

  sinks.command('status <name>').description('health, last success, backlog, lag, dead letters, replays').action(async (name: string) => {
    await print(await call(target(), 'GET', `/api/v1/audit-log-sinks/${enc(name)}/status`));
  });

  withSpecFlags(sinks.command('create <name>').description('create a sink (it starts at the current head; use replay for history)'))
    .option('--disabled', 'create it paused')
    .action(async (name: string, f: SpecFlags) => {
      const t = target();
      const spec = specFrom(name, f);
      if (f.kinesisAggregate === true && !spec['kinesisSink']) throw new AuditError('AS_ERR_INVALID_ARGUMENT', '--kinesis-aggregate applies to Kinesis sinks only');
      if (f.kinesisAggregate !== true) {
        await call(t, 'POST', '/cloud/audit-log-sinks', { spec, async_operation_id: randomUUID() });
      } else {
        // Created paused, aggregation set, then enabled: no record goes out unaggregated.
        await call(t, 'POST', '/cloud/audit-log-sinks', { spec: { ...spec, enabled: false }, async_operation_id: randomUUID() });
        await setExtensions(t, name, spec, f);
        if (spec['enabled'] === true) {
          const current = (await call(t, 'GET', `/cloud/audit-log-sinks/${enc(name)}`))['sink'] as { spec: Record<string, unknown>; resourceVersion: string };
          await call(t, 'POST', `/cloud/audit-log-sinks/${enc(name)}`, { spec: { ...current.spec, enabled: true }, resource_version: current.resourceVersion, async_operation_id: randomUUID() });
        }
      }
      await print((await call(t, 'GET', `/cloud/audit-log-sinks/${enc(name)}`))['sink']);
    });

  withSpecFlags(sinks.command('update <name>').description('change a sink: destination flags, --enable / --disable'))
    .addOption(new Option('--enable', 'resume delivery').conflicts('disable'))
    .addOption(new Option('--disable', 'pause delivery (the cursor is kept)'))
    .option('--resource-version <v>', 'fail if the sink changed since this version')
    .action(async (name: string, f: SpecFlags & { enable?: boolean; disable?: boolean; resourceVersion?: string }) => {
      const t = target();
      const current = (await call(t, 'GET', `/cloud/audit-log-sinks/${enc(name)}`))['sink'] as { spec: Record<string, unknown>; resourceVersion: string };
      const spec = specFrom(name, { ...f, ...(f.disable ? { disabled: true } : {}), ...(f.enable ? { enabled: true } : {}) }, current.spec);
      await call(t, 'POST', `/cloud/audit-log-sinks/${enc(name)}`, { spec, resource_version: f.resourceVersion ?? current.resourceVersion, async_operation_id: randomUUID() });
      await setExtensions(t, name, spec, f);
      await print((await call(t, 'GET', `/cloud/audit-log-sinks/${enc(name)}`))['sink']);
    });

  sinks
    .command('delete <name>')
    .description('delete a sink; returns once nothing more can reach its destination')
    .option('--resource-version <v>', 'fail if the sink changed since this version')
    .option('--no-wait', 'return once the delete is committed, even if it is still in progress')
    .option('--timeout <seconds>', 'longest to wait for the delete to complete', '60')
    .action(async (name: string, f: { resourceVersion?: string; wait: boolean; timeout: string }) => {
      const t = target();
      const timeoutS = Number(f.timeout);
      if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new AuditError('AS_ERR_INVALID_ARGUMENT', `--timeout must be a positive number of seconds, got ${f.timeout}`);
      const opId = randomUUID();
      const q = new URLSearchParams({ async_operation_id: opId, ...(f.resourceVersion ? { resource_version: f.resourceVersion } : {}) });
      let op = (await call(t, 'DELETE', `/cloud/audit-log-sinks/${enc(name)}?${q.toString()}`))['asyncOperation'] as { state?: string } | undefined;
      if (op?.state === 'STATE_IN_PROGRESS') {
        if (!f.wait) {
          io.err(`deleting ${name}: committed, still in progress (operation ${opId}; GET /cloud/operations/${opId} shows when it is done)\n`);
          return;
        }
        // The process that delivered this sink has not let go (it may have died: then its lease
        // must expire first). Nothing is sent in the meantime by a live process.
        io.err(`deleting ${name}: waiting for the process that delivered it to let go (at most its lease time)...\n`);
        const giveUp = Date.now() + timeoutS * 1000;
        while (op?.state === 'STATE_IN_PROGRESS') {
          if (Date.now() > giveUp) throw new Error(`delete of ${name} still in progress after ${timeoutS} s (operation ${opId}); it completes when the delivering process's lease expires`);
          await new Promise((r) => setTimeout(r, 500));
          op = (await call(t, 'GET', `/cloud/operations/${enc(opId)}`))['asyncOperation'] as { state?: string } | undefined;
        }
      }
      if (op?.state !== undefined && op.state !== 'STATE_FULFILLED') throw new Error(`delete of ${name} ended in ${op.state}`);
      io.err(`deleted ${name}\n`);
    });

  sinks.command('verify <name>').description('write one test record to the sink now and report Success or the cause').action(async (name: string) => {
    const res = await call(target(), 'POST', `/api/v1/audit-log-sinks/${enc(name)}/verify`, {});
    await print(res);
    if (res['status'] !== 'Success') process.exitCode = 1;
  });

  sinks
    .command('replay <name>')
    .description('re-deliver the records stored in a time range (still in retention) to this sink')
    .requiredOption('--since <time>', 'from (RFC 3339 or relative: 24h, 7d)')
    .option('--until <time>', 'to (default now)')
    .action(async (name: string, f: { since: string; until?: string }) => {
      await print(await call(target(), 'POST', `/api/v1/audit-log-sinks/${enc(name)}/replay`, { since: f.since, ...(f.until ? { until: f.until } : {}) }));
    });

  sinks.command('setup <name>').description('AWS: ExternalId, CloudFormation quick-create link and template; GCP: the gcloud commands').action(async (name: string) => {
    await print(await call(target(), 'GET', `/api/v1/audit-log-sinks/${enc(name)}/setup`));
  });
}
