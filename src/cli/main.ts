/**
 * The `auditstream` command (commander). Thin: each subcommand parses flags, resolves the
 * configuration and calls into the library. Exit codes: 0 success, 1 failure, 2 usage error.
 * Errors go to stderr in one line; machine-readable output only on stdout.
 */
import { once } from 'node:events';
import { Command, CommanderError, Option } from 'commander';
import { AuditError, isAuditError } from '../errors.js';
import { configFromCommandLine } from '../config.js';
import { addSettingFlags } from './flags.js';
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

export function buildProgram(io: Io = stdio): Command {
  const program = new Command('auditstream')
    .description('Self-hostable audit logging: capture, tamper-evident store, streaming to your sinks.')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (t) => void io.out(t), writeErr: io.err })
    .exitOverride();

  addSettingFlags(program.command('serve').description('run the HTTP + gRPC server, delivery workers and the retention job'), 'serve').action(
    async (opts: Record<string, unknown>) => {
      // Loaded here so the other commands do not pay for the whole server at start.
      const { serveUntilSignal } = await import('../server.js');
      const code = await serveUntilSignal(configFromCommandLine(opts));
      process.exitCode = code;
    },
  );

  addSettingFlags(
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
    'logs',
  ).action(async (opts: Record<string, unknown>) => {
    await logsCommand(configFromCommandLine(opts), opts, io);
  });

  addSettingFlags(
    program
      .command('verify')
      .description('recompute the hash chains and check them against signed checkpoints; exit 1 naming the first broken link')
      .option('--account <id>', 'only this account')
      .option('--checkpoints <file>', 'also check against checkpoints kept elsewhere (JSONL, as `auditstream checkpoint` prints)')
      .option('--public-key <file...>', 'trust these Ed25519 public keys (PEM) for checkpoint signatures')
      .option('--json', 'print the reports as JSON'),
    'verify',
  ).action(async (opts: Record<string, unknown>) => {
    process.exitCode = await verifyCommand(configFromCommandLine(opts), opts, io);
  });

  addSettingFlags(
    program.command('checkpoint').description('sign a checkpoint of every chain now and print them (JSONL) to keep outside the database'),
    'checkpoint',
  ).action(async (opts: Record<string, unknown>) => {
    await checkpointCommand(configFromCommandLine(opts), io);
  });

  const accountFlags = (cmd: Command, name: 'init' | 'accounts create') =>
    addSettingFlags(
      cmd
        .requiredOption('--email <email>', "the owner's email")
        .option('--password <password>', 'owner password for browser login (at least 12 characters); without it, one is generated and printed once')
        .option('--json', 'print {"account_id","user_id","api_key"} (plus "password" when generated) and nothing else on stdout'),
      name,
    );
  accountFlags(program.command('init').description('on an empty database: create the first account, its owner and an API key'), 'init').action(
    async (opts: Record<string, unknown>) => createAccountCommand(configFromCommandLine(opts), opts, io, true),
  );
  const accounts = program.command('accounts').description('tenant accounts');
  accountFlags(accounts.command('create').description('create a tenant account with its owner and an API key'), 'accounts create').action(
    async (opts: Record<string, unknown>) => createAccountCommand(configFromCommandLine(opts), opts, io, false),
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
    if (
      err instanceof UsageError ||
      (isAuditError(err) && (err.code === 'AS_ERR_INVALID_ARGUMENT' || err.code === 'AS_ERR_INVALID_CURSOR' || err.code === 'AS_ERR_FAILED_PRECONDITION'))
    ) {
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
