/**
 * `auditstream consume`: read the customer's stream, dedupe, write the records out and, with the
 * operator's public key, prove what arrived against the signed checkpoints. Progress and the
 * report go to stderr (`--json-report` writes the report as JSON). Exit 0; 1 when the proof
 * found a break; 2 for a setup problem (one line on stderr).
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { CheckpointDb } from '../consumer/checkpoints.js';
import { consume, formatReport } from '../consumer/consume.js';
import { loadTrustedKeys } from '../consumer/keys.js';
import { DirectoryOutput } from '../consumer/outputs/directory.js';
import { tableOutput } from '../consumer/outputs/table.js';
import { StdoutOutput } from '../consumer/outputs/stdout.js';
import { PubSubSource } from '../consumer/sources/pubsub.js';
import { parseS3Uri, S3Source } from '../consumer/sources/s3.js';
import { KinesisSource, type StartFrom } from '../consumer/sources/kinesis.js';
import { PgConsumerState } from '../consumer/leases.js';
import { ConsumerSetupError, type ConsumerState, type Output, type ShardLeases, type Source } from '../consumer/types.js';
import type { Io } from './main.js';

/** `500ms`, `30s`, `5m`, `1h` → ms. */
export function parseDurationMs(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
}

function parseFrom(text: string): StartFrom {
  if (text === 'trim-horizon') return { kind: 'trim-horizon' };
  if (text === 'latest') return { kind: 'latest' };
  const ms = /^\d{4}-\d{2}-\d{2}T/.test(text) ? Date.parse(text) : NaN;
  if (!Number.isFinite(ms)) throw new ConsumerSetupError(`--from ${text}: expected trim-horizon, latest or an RFC 3339 time`);
  return { kind: 'timestamp', at: new Date(ms) };
}

function makeSource(opts: Record<string, unknown>, leases: ShardLeases | undefined): Source {
  const given = ['kinesisStreamArn', 'pubsubSubscription', 's3Uri'].filter((k) => opts[k] !== undefined);
  if (given.length !== 1) throw new ConsumerSetupError('give exactly one source: --kinesis-stream-arn, --pubsub-subscription or --s3-uri');
  if (opts['s3Uri'] !== undefined) return new S3Source({ uri: String(opts['s3Uri']) });
  if (opts['pubsubSubscription'] !== undefined) return new PubSubSource({ subscription: String(opts['pubsubSubscription']) });
  const region = opts['kinesisRegion'] as string | undefined;
  return new KinesisSource({
    streamArn: String(opts['kinesisStreamArn']),
    ...(region ? { region } : {}),
    from: parseFrom(String(opts['from'] ?? 'trim-horizon')),
    ...(leases ? { leases } : {}),
  });
}

function makeOutput(spec: string): Output {
  if (spec === '-') return new StdoutOutput();
  if (spec.startsWith('sqlite:') || /^postgres(ql)?:\/\//.test(spec)) return tableOutput(spec);
  return new DirectoryOutput(spec);
}

export function addConsumeCommand(program: Command, io: Io): void {
  program
    .command('consume')
    .description('read your stream (every shard), dedupe by log_id, write the records out and prove them against the signed checkpoints')
    .option('--kinesis-stream-arn <arn>', 'the Kinesis stream to read')
    .option('--kinesis-region <region>', 'its region (default: the one in the ARN)')
    .option('--pubsub-subscription <name>', 'projects/P/subscriptions/S (a subscription with message ordering)')
    .option(
      '--s3-uri <uri>',
      "s3://bucket/prefix of an S3 sink: each account's objects in sequence order (AWS_REGION and credentials as for any AWS SDK program)",
    )
    .option(
      '--output <where>',
      '- (stdout JSONL, the records byte for byte), a directory of daily .jsonl.gz files, sqlite:FILE or postgres://... (table consumed_audit_records)',
      '-',
    )
    .option('--checkpoint-db <file>', 'SQLite file holding shard positions, dedupe ids and the proof state', './consumer-checkpoints.db')
    .option(
      '--lease-db <url>',
      'postgres://...[?schema=S]: instead of --checkpoint-db, state and shard leases shared by several consumer processes on one stream',
    )
    .option('--lease-ttl <duration>', 'with --lease-db: a lease not renewed for this long is taken over', '10s')
    .option('--from <where>', 'Kinesis, first start only: trim-horizon (default), latest or an RFC 3339 time')
    .option(
      '--public-key <file...>',
      "the operator's Ed25519 public key(s) (PEM, `auditstream keys public`): verify against the signed checkpoints, exit 1 on a break",
    )
    .option('--reorder-hold <duration>', 'how long an account may be quiet before records held to put a resend back in chain order are written anyway', '10s')
    .option('--exit-when-idle <duration>', 'stop once nothing arrived for this long (500ms, 30s, 5m)')
    .option('--json-report <file>', 'also write the report as JSON')
    .option('--reject-file <file>', 'where records that are not valid audit records go', './consumer-rejects.jsonl')
    .option('--max-record-bytes <n>', 'larger records are rejected', String(1024 * 1024))
    .action(async (opts: Record<string, unknown>) => {
      process.exitCode = await consumeCommand(opts, io);
    });
}

export async function consumeCommand(opts: Record<string, unknown>, io: Io): Promise<number> {
  let state: ConsumerState | undefined;
  try {
    const given = ['kinesisStreamArn', 'pubsubSubscription', 's3Uri'].filter((k) => opts[k] !== undefined);
    if (given.length !== 1) throw new ConsumerSetupError('give exactly one source: --kinesis-stream-arn, --pubsub-subscription or --s3-uri');
    if (opts['s3Uri'] !== undefined) parseS3Uri(String(opts['s3Uri'])); // a bad URI is refused before any database is opened
    // An S3 source always reads from the first object, which is what trim-horizon asks for.
    const from = opts['from'] === undefined ? undefined : String(opts['from']);
    if (from !== undefined && opts['kinesisStreamArn'] === undefined && !(opts['s3Uri'] !== undefined && from === 'trim-horizon')) {
      throw new ConsumerSetupError(
        `--from ${from} applies to Kinesis only: a Pub/Sub subscription starts where it was created or last seeked (gcloud pubsub subscriptions seek), and an S3 source reads every object under its prefix (--from trim-horizon)`,
      );
    }
    const output = makeOutput(String(opts['output']));
    const idle = opts['exitWhenIdle'] !== undefined ? parseDurationMs(String(opts['exitWhenIdle'])) : undefined;
    if (opts['exitWhenIdle'] !== undefined && idle === undefined)
      throw new ConsumerSetupError(`--exit-when-idle ${String(opts['exitWhenIdle'])}: expected a duration such as 500ms, 30s or 5m`);
    const reorderHoldMs = parseDurationMs(String(opts['reorderHold']));
    if (reorderHoldMs === undefined)
      throw new ConsumerSetupError(`--reorder-hold ${String(opts['reorderHold'])}: expected a duration such as 500ms, 30s or 5m`);
    const maxRecordBytes = Number(opts['maxRecordBytes']);
    if (!Number.isSafeInteger(maxRecordBytes) || maxRecordBytes < 1) throw new ConsumerSetupError('--max-record-bytes must be a positive whole number');
    const keyFiles = (opts['publicKey'] as string[] | undefined) ?? [];
    const trustedKeys = keyFiles.length ? loadTrustedKeys(keyFiles) : undefined;
    let leases: ShardLeases | undefined;
    if (opts['leaseDb'] !== undefined) {
      const ttl = parseDurationMs(String(opts['leaseTtl']));
      if (ttl === undefined || ttl < 1000) throw new ConsumerSetupError(`--lease-ttl ${String(opts['leaseTtl'])}: expected a duration of at least 1s`);
      const pg = await PgConsumerState.open(String(opts['leaseDb']), { ttlMs: ttl });
      state = pg;
      leases = pg;
    } else {
      const path = String(opts['checkpointDb']);
      state = CheckpointDb.open(path).state(path);
    }
    const source = makeSource(opts, leases);

    // SIGTERM/SIGINT: finish the batch in hand, commit, report, exit. A second one exits at once.
    const stop = new AbortController();
    const onSignal = () => {
      if (stop.signal.aborted) process.exit(130);
      stop.abort();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    try {
      const result = await consume({
        source,
        output,
        state,
        ...(trustedKeys ? { trustedKeys } : {}),
        rejectFile: String(opts['rejectFile']),
        maxRecordBytes,
        ...(idle !== undefined ? { exitWhenIdleMs: idle } : {}),
        reorderHoldMs,
        log: (l) => io.err(`${l}\n`),
        signal: stop.signal,
      });
      io.err(
        `consume: stopped (${result.stoppedBy}): ${result.received} received, ${result.written} written, ${result.duplicates} duplicates dropped, ${result.rejected} rejected\n`,
      );
      if (result.accounts) io.err(`${formatReport(result.accounts) || 'no account received'}\n`);
      else io.err('consume: not verified (give --public-key to check the stream against the signed checkpoints)\n');
      if (opts['jsonReport'] !== undefined) {
        const { accounts, ...totals } = result;
        writeFileSync(String(opts['jsonReport']), `${JSON.stringify({ ...totals, verified: accounts !== undefined, accounts: accounts ?? [] }, null, 2)}\n`);
      }
      return result.broken ? 1 : 0;
    } finally {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    }
  } catch (err) {
    if (err instanceof ConsumerSetupError) {
      io.err(`auditstream consume: ${err.message}\n`);
      return 2;
    }
    throw err;
  } finally {
    await state?.close();
  }
}
