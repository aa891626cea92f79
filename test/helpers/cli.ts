/** Runs the real `auditstream` executable (bin/auditstream.js) as a child process. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

export const BIN = fileURLToPath(new URL('../../../bin/auditstream.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs one command to completion with extra environment variables. */
export function runCli(args: string[], env: Record<string, string> = {}, cwd?: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, LOG_LEVEL: 'warn', ...env }, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export interface ServeHandle {
  child: ChildProcess;
  url: string;
  /** Every stdout line so far (pino JSON). */
  lines: string[];
  exited: Promise<number | null>;
}

/** Starts `auditstream serve` on an ephemeral port and waits for its "listening" log line. */
export function startServe(env: Record<string, string>, cwd?: string, timeoutMs = 20_000): Promise<ServeHandle> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'serve', '--http-port', '0', '--grpc-port', '0'], {
      env: { ...process.env, LOG_LEVEL: 'info', ...env },
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: string[] = [];
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`serve did not start within ${timeoutMs} ms: ${stderr}`));
    }, timeoutMs);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code} before listening: ${stderr}\n${lines.join('\n')}`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line);
      try {
        const entry = JSON.parse(line) as { msg?: string; url?: string };
        if (entry.msg === 'auditstream listening' && entry.url) {
          clearTimeout(timer);
          resolve({ child, url: entry.url, lines, exited });
        }
      } catch {
        // not a log line
      }
    });
  });
}

/** SIGTERM to a serve process still running, and its exit awaited; nothing when it never started or has gone. */
export async function stopServe(serve: ServeHandle | undefined): Promise<void> {
  if (serve && serve.child.exitCode === null) {
    serve.child.kill('SIGTERM');
    await serve.exited;
  }
}

/** A running `auditstream consume`: its stderr so far and its exit code. */
export interface ConsumeRun {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Starts `auditstream consume ...args` with `env` over this process's environment; its stdout is discarded. */
export function startConsume(args: string[], env: Record<string, string>, cwd: string): ConsumeRun {
  const child = spawn(process.execPath, [BIN, 'consume', ...args], { env: { ...process.env, ...env }, cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return { child, stderr: () => stderr, exited: new Promise((r) => child.on('exit', (code) => r(code))) };
}
