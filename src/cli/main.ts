/**
 * The `auditstream` command (commander). Thin: each subcommand parses flags, resolves the
 * configuration and calls into the library. Exit codes: 0 success, 1 failure, 2 usage error.
 * Errors go to stderr in one line; machine-readable output only on stdout.
 */
import { once } from 'node:events';
import { Command, CommanderError, Option } from 'commander';
import { AuditError, isAuditError } from '../errors.js';
import { ENV_OF, resolveConfig } from '../config.js';
import { logsCommand } from './logs.js';
import { verifyCommand, checkpointCommand } from './verify.js';
import { createAccountCommand } from './accounts.js';
import { addSinkCommands } from './sinks.js';
import { addConsumeCommand } from './consume.js';
import { addKeysCommands } from './keys.js';

/** Thrown for a usage error: exit code 2. */
export class UsageError extends Error {}

export interface Io {
  /** Writes to stdout; the promise (if any) resolves once the stream can take more. */
  out: (text: string) => void | Promise<void>;
  err: (text: string) => void;
}

const stdio: Io = {
  out: (t) => (process.stdout.write(t) ? undefined : once(process.stdout, 'drain').then(() => undefined)),
  err: (t) => void process.stderr.write(t),
};

function env(flag: string): string {
  const name = ENV_OF[flag];
  return name ? ` (env ${name})` : '';
}

/** Adds the flags that mirror environment variables. */
function withSettings(cmd: Command, flags: [string, string, string][]): Command {
  for (const [spec, key, help] of flags) cmd.addOption(new Option(spec, `${help}${env(key)}`));
  return cmd;
}

const DB_FLAG: [string, string, string] = ['--database-url <url>', 'databaseUrl', 'postgres://... or a SQLite file path (default ./data/auditstream.db)'];

export function buildProgram(io: Io = stdio): Command {
  const program = new Command('auditstream')
    .description('Self-hostable audit logging: capture, tamper-evident store, streaming to your sinks.')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (t) => void io.out(t), writeErr: io.err })
    .exitOverride();

  withSettings(program.command('serve').description('run the HTTP + gRPC server, delivery workers and the retention job'), [
    ['--host <addr>', 'host', 'bind address (default 127.0.0.1)'],
    ['--http-port <port>', 'httpPort', 'HTTP port (default 7780)'],
    ['--grpc-port <port>', 'grpcPort', 'gRPC port (default 7781)'],
    ['--tls-cert <file>', 'tlsCert', 'PEM certificate for both listeners'],
    ['--tls-key <file>', 'tlsKey', 'PEM private key for both listeners'],
    DB_FLAG,
    ['--data-dir <dir>', 'dataDir', 'where first-start files go (default ./data)'],
    ['--retention-days <n>', 'retentionDays', 'days records are kept (default 30)'],
    ['--trusted-proxies <cidrs>', 'trustedProxies', 'CIDR list of proxies trusted in X-Forwarded-For'],
    ['--ingest-token <token>', 'ingestToken', 'bearer token for POST /api/v1/audit-logs besides API keys'],
    ['--flush-interval-ms <ms>', 'flushIntervalMs', 'longest a record waits in a sink batch (default 1000)'],
    ['--signing-key <file>', 'signingKey', 'Ed25519 PEM key that signs chain checkpoints (default generated in the data dir)'],
    ['--log-level <level>', 'logLevel', 'pino level (default info)'],
  ]).action(async (opts: Record<string, unknown>) => {
    // Loaded here so the other commands do not pay for the whole server at start.
    const { serveUntilSignal } = await import('../server.js');
    const code = await serveUntilSignal(resolveConfig(process.env, opts));
    process.exitCode = code;
  });

  withSettings(
    program
      .command('logs')
      .description('query the store: one page, newest first (or --all to export every match, oldest first)')
      .option('--account <id>', 'account id')
      .option('--since <time>', 'emit_time from (RFC 3339 or relative: 24h, 7d)')
      .option('--until <time>', 'emit_time before (RFC 3339 or relative)')
      .option('--operation <name>', 'operation, e.g. DeleteUser')
      .option('--user-email <email>', 'user_email')
      .option('--principal-id <id>', 'principal.id')
      .option('--status <status>', 'OK or ERROR')
      .option('--namespace <ns>', 'details.namespace')
      .option('--limit <n>', 'records per page (1-1000, default 100); with --all, the most to export')
      .option('--cursor <cursor>', 'continue from a page cursor printed earlier')
      .option('--order <order>', 'desc (newest first, default) or asc')
      .option('--all', 'stream every matching record, oldest first (export)')
      .addOption(new Option('--format <format>', 'output format').choices(['json', 'jsonl', 'csv']).default('json')),
    [DB_FLAG],
  ).action(async (opts: Record<string, unknown>) => {
    await logsCommand(resolveConfig(process.env, opts), opts, io);
  });

  withSettings(
    program
      .command('verify')
      .description('recompute the hash chains and check them against signed checkpoints; exit 1 naming the first broken link')
      .option('--account <id>', 'only this account')
      .option('--checkpoints <file>', 'also check against checkpoints kept elsewhere (JSONL, as `auditstream checkpoint` prints)')
      .option('--public-key <file...>', 'trust these Ed25519 public keys (PEM) for checkpoint signatures')
      .option('--json', 'print the reports as JSON'),
    [DB_FLAG, ['--signing-key <file>', 'signingKey', 'the signing key whose checkpoints are trusted']],
  ).action(async (opts: Record<string, unknown>) => {
    process.exitCode = await verifyCommand(resolveConfig(process.env, opts), opts, io);
  });

  withSettings(
    program.command('checkpoint').description('sign a checkpoint of every chain now and print them (JSONL) to keep outside the database'),
    [DB_FLAG, ['--signing-key <file>', 'signingKey', 'Ed25519 PEM key (default generated in the data dir)'], ['--data-dir <dir>', 'dataDir', 'data directory']],
  ).action(async (opts: Record<string, unknown>) => {
    await checkpointCommand(resolveConfig(process.env, opts), io);
  });

  const accountFlags = (cmd: Command) =>
    withSettings(
      cmd
        .requiredOption('--email <email>', "the owner's email")
        .option('--password <password>', 'owner password for browser login (at least 12 characters); without it, use the API key')
        .option('--json', 'print {"account_id","user_id","api_key"} and nothing else on stdout'),
      [DB_FLAG],
    );
  accountFlags(program.command('init').description('on an empty database: create the first account, its owner and an API key')).action(
    async (opts: Record<string, unknown>) => createAccountCommand(resolveConfig(process.env, opts), opts, io, true),
  );
  const accounts = program.command('accounts').description('tenant accounts');
  accountFlags(accounts.command('create').description('create a tenant account with its owner and an API key')).action(
    async (opts: Record<string, unknown>) => createAccountCommand(resolveConfig(process.env, opts), opts, io, false),
  );

  addSinkCommands(program, io);
  addConsumeCommand(program, io);
  addKeysCommands(program, io);

  return program;
}

/** Runs the CLI; resolves to the exit code. */
export async function main(argv: string[], io: Io = stdio): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with code 0; a usage mistake has already been printed.
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof UsageError || (isAuditError(err) && (err.code === 'AS_ERR_INVALID_ARGUMENT' || err.code === 'AS_ERR_INVALID_CURSOR' || err.code === 'AS_ERR_FAILED_PRECONDITION'))) {
      io.err(`auditstream: ${(err as Error).message}\n`);
      return 2;
    }
    io.err(`auditstream: ${describe(err)}\n`);
    return 1;
  }
}

function describe(err: unknown): string {
  if (err instanceof AuditError) return err.message;
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ECONNREFUSED') return `cannot reach the database (${e.message}); is DATABASE_URL right and the server running?`;
  if (e?.code === 'EADDRINUSE') return `${e.message}: another process uses that port; pick another with --http-port`;
  if (e?.code === 'SQLITE_CANTOPEN') return `cannot open the SQLite file: ${e.message}`;
  return e instanceof Error ? e.message : String(err);
}
