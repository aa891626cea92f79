/**
 * Group commits of the SQLite store in a worker thread (append-worker.ts). Each flush is one
 * message: the batches go over (structured clone), the worker runs the shared chain code and the
 * transaction on its own write connection, and one outcome per batch comes back. The store's
 * mutex still orders these flushes with every other write of the process, so the worker's
 * `BEGIN IMMEDIATE` never waits for this process's own connection; other processes sharing the
 * file wait in the worker's busy handler, not on the event loop.
 *
 * Acknowledged = durable as before: a flush resolves only after the worker's COMMIT (WAL fsynced,
 * synchronous=FULL) returned. If the worker dies, the batches of a flush in flight fail as
 * unavailable (their commit may or may not have reached the disk, so none is acknowledged and
 * none is retried here) and the store goes back to committing on its own connection.
 */
import { Worker, type ResourceLimits } from 'node:worker_threads';
import { AuditError, type ErrorCode } from '../../errors.js';
import type { FlushOutcome } from '../group-commit.js';
import type { AppendBatch, AppendResult } from '../store.js';

export interface FlushRequest {
  id: number;
  batches: AppendBatch[];
  now: number;
}

/** An error as it crosses the thread boundary (structured clone drops AuditError's class and fields). */
interface WireError {
  message: string;
  code?: string;
  details?: Record<string, unknown>;
}

export function toWire(err: unknown): WireError {
  if (err instanceof AuditError) return { message: err.message, code: err.code, ...(err.details ? { details: err.details } : {}) };
  return { message: err instanceof Error ? err.message : String(err) };
}

function fromWire(e: WireError): Error {
  return e.code ? new AuditError(e.code as ErrorCode, e.message, e.details) : new Error(e.message);
}

/** V8's heap and stack sizes: a worker takes them as `resourceLimits`, not as options. */
const V8_LIMIT =
  /^--(max[-_]old[-_]space[-_]size|max[-_]old[-_]space[-_]size[-_]percentage|max[-_]semi[-_]space[-_]size|max[-_]young[-_]generation[-_]size|stack[-_]size)(=.*)?$/;

/**
 * A worker's Node options: the process's, less those a worker thread refuses — `--input-type` and
 * the code of `node -e`, and V8's heap and stack sizes. The old-space limit is carried over as the
 * worker's own `resourceLimits`, so `node --max-old-space-size=N` bounds each thread alike.
 */
export function workerOptions(argv: readonly string[]): { execArgv: string[]; resourceLimits: ResourceLimits } {
  const execArgv: string[] = [];
  const resourceLimits: ResourceLimits = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('--input-type')) {
      if (a === '--input-type') i++;
      continue;
    }
    if (a === '-e' || a === '--eval' || a === '-p' || a === '--print') {
      i++;
      continue;
    }
    const limit = V8_LIMIT.exec(a);
    if (limit) {
      const value = limit[2] !== undefined ? limit[2].slice(1) : argv[++i];
      const mb = Number(value);
      if (limit[1]!.replace(/_/g, '-') === 'max-old-space-size' && Number.isFinite(mb) && mb > 0) resourceLimits.maxOldGenerationSizeMb = mb;
      continue;
    }
    execArgv.push(a);
  }
  return { execArgv, resourceLimits };
}

/**
 * Starts one of the store's worker threads with `workerOptions`. Should Node refuse another of the
 * process's options, the worker starts without them: an option must never stop the store opening.
 */
export function startWorker(url: URL, workerData: unknown): Worker {
  const { execArgv, resourceLimits } = workerOptions(process.execArgv);
  try {
    return new Worker(url, { workerData, execArgv, resourceLimits });
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw err;
    return new Worker(url, { workerData, execArgv: [], resourceLimits });
  }
}

type Reply = { id: number; outcomes: ({ ok: true; value: AppendResult } | { ok: false; error: WireError })[] } | { id: number; thrown: WireError };

export class WorkerAppender {
  private readonly worker: Worker;
  private readonly pending = new Map<
    number,
    { count: number; resolve: (o: FlushOutcome<AppendResult>[] | 'not-started') => void; reject: (e: Error) => void }
  >();
  /** Whether the worker ever ran: until then no flush can have reached the database. */
  private started = false;
  private nextId = 0;
  /** False once the worker stopped (an error, or close): the store then commits on its own connection. */
  alive = true;
  private readonly exited: Promise<void>;

  constructor(path: string, autocheckpoint: number) {
    this.worker = startWorker(new URL('./append-worker.js', import.meta.url), { path, autocheckpoint });
    this.worker.unref();
    this.worker.once('online', () => (this.started = true));
    this.worker.on('message', (msg: Reply | 'closed') => {
      if (msg === 'closed') return;
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if ('thrown' in msg) p.reject(fromWire(msg.thrown));
      else p.resolve(msg.outcomes.map((o) => (o.ok ? o : { ok: false as const, error: fromWire(o.error) })));
      if (this.pending.size === 0) this.worker.unref();
    });
    this.exited = new Promise<void>((resolve) => {
      const stopped = (err?: unknown) => {
        this.alive = false;
        // Whether a commit in flight reached the disk is unknown: each of its batches fails (as
        // an outcome, so the group committer does not store it again), never succeeds silently.
        const reason = new AuditError('AS_ERR_UNAVAILABLE', `append worker stopped${err instanceof Error ? `: ${err.message}` : ''}: outcome unknown`);
        // A worker that never started committed nothing: its flushes run on the store's connection.
        for (const p of this.pending.values())
          p.resolve(this.started ? Array.from({ length: p.count }, () => ({ ok: false as const, error: reason })) : 'not-started');
        this.pending.clear();
        resolve();
      };
      this.worker.once('error', stopped);
      this.worker.once('exit', () => stopped());
    });
  }

  /** One group commit in the worker; `'not-started'` when the worker failed before it ran (nothing committed). */
  flush(batches: AppendBatch[], now: number): Promise<FlushOutcome<AppendResult>[] | 'not-started'> {
    if (!this.alive) return Promise.resolve('not-started');
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { count: batches.length, resolve, reject });
      // Referenced while a commit is in flight: its caller is waiting for the acknowledgement.
      this.worker.ref();
      try {
        this.worker.postMessage({ id, batches, now } satisfies FlushRequest);
      } catch (err) {
        // Nothing was sent (a value that cannot be cloned): this flush fails, nothing committed.
        this.pending.delete(id);
        if (this.pending.size === 0) this.worker.unref();
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  /** Closes the worker's connection and waits for it to exit (call when no flush is in flight). */
  async close(): Promise<void> {
    if (this.alive) {
      this.alive = false;
      this.worker.ref();
      this.worker.postMessage('close');
    }
    await this.exited;
  }
}
