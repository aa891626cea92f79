/**
 * Checkpoints of the SQLite store's WAL, off the write path. SQLite's automatic checkpoint runs
 * inside the commit that crosses `wal_autocheckpoint` pages, on the write connection: with the
 * store's indexes a group commit of ~1,000 records writes ~7 MB of WAL, so nearly every commit
 * also copied pages into the database file and fsynced it, on the event loop (measured: the
 * commit took twice as long). A worker thread with its own connection runs PASSIVE checkpoints
 * instead, at most every `minIntervalMs`; the write connection keeps an automatic checkpoint at a
 * much higher mark as a backstop (if the worker falls behind or fails, the WAL stays bounded).
 *
 * Durability is unchanged: a commit is durable once its WAL frames are fsynced (synchronous=FULL),
 * before and after this; a checkpoint only moves durable frames into the database file.
 */
import type { Worker } from 'node:worker_threads';
import { startWorker } from './appender.js';

/** The write connection's own automatic checkpoint while the worker runs (pages, ~64 MiB). */
export const BACKSTOP_AUTOCHECKPOINT = 16384;
/** SQLite's default mark, restored if the worker stops. */
const DEFAULT_AUTOCHECKPOINT = 1000;

export class Checkpointer {
  private readonly worker: Worker;
  private wroteSent = false;
  private alive = true;
  private done: Promise<void>;
  /** Checkpoints the worker has run (for tests). */
  checkpoints = 0;

  /**
   * @param setAutocheckpoint sets the write connection's `wal_autocheckpoint` (to the backstop
   *   now, back to SQLite's default if the worker stops on its own).
   */
  constructor(
    path: string,
    private readonly setAutocheckpoint: (pages: number) => void,
    minIntervalMs = 100,
  ) {
    this.worker = startWorker(new URL('./checkpoint-worker.js', import.meta.url), { path, minIntervalMs });
    this.worker.unref();
    this.setAutocheckpoint(BACKSTOP_AUTOCHECKPOINT);
    this.worker.on('message', (msg: string) => {
      if (msg === 'checkpointed') {
        this.checkpoints++;
        this.wroteSent = false;
      }
    });
    this.done = new Promise<void>((resolve) => {
      const stopped = () => {
        if (this.alive) {
          // Stopped on its own (an error): the writer checkpoints as SQLite normally does.
          this.alive = false;
          this.setAutocheckpoint(DEFAULT_AUTOCHECKPOINT);
        }
        resolve();
      };
      this.worker.once('error', stopped);
      this.worker.once('exit', stopped);
    });
  }

  /** Tells the worker a commit added WAL frames (one message until it has checkpointed). */
  wrote(): void {
    if (!this.alive || this.wroteSent) return;
    this.wroteSent = true;
    this.worker.postMessage('wrote');
  }

  /** Stops the worker and closes its connection (before the write connection closes, so that one runs the last checkpoint). */
  async close(): Promise<void> {
    if (this.alive) {
      this.alive = false;
      // Unreferenced so it never keeps a process alive; while it closes, closing must be awaited.
      this.worker.ref();
      this.worker.postMessage('close');
    }
    await this.done;
  }
}
