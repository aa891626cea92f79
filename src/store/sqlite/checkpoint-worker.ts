/**
 * The SQLite store's checkpointer, run in a worker thread (see checkpointer.ts): copies committed
 * WAL frames into the database file (`wal_checkpoint(PASSIVE)`, which never waits for and never
 * blocks the writer), so the write connection no longer does it inside a commit and the event
 * loop no longer waits for the database file's fsync.
 *
 * Messages in: `'wrote'` (a commit added frames), `'close'`. Out: `'checkpointed'` after each
 * checkpoint, `'closed'` once its connection is closed.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

interface CheckpointWorkerData {
  path: string;
  /** Least time between two checkpoints, ms. */
  minIntervalMs: number;
}

const { path, minIntervalMs } = workerData as CheckpointWorkerData;
const port = parentPort!;
const db = new Database(path);
db.pragma('busy_timeout = 0');
// The checkpoint fsyncs the WAL before copying and the database file after.
db.pragma('synchronous = FULL');

let last = 0;
let timer: NodeJS.Timeout | undefined;
let closed = false;

function checkpoint(): void {
  timer = undefined;
  if (closed) return;
  last = Date.now();
  db.pragma('wal_checkpoint(PASSIVE)');
  port.postMessage('checkpointed');
}

port.on('message', (msg: string) => {
  if (msg === 'wrote') {
    if (timer || closed) return;
    timer = setTimeout(checkpoint, Math.max(0, last + minIntervalMs - Date.now()));
  } else if (msg === 'close') {
    closed = true;
    if (timer) clearTimeout(timer);
    db.close();
    port.postMessage('closed');
    port.close();
  }
});
