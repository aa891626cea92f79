/**
 * stdout as JSONL: each record's bytes exactly as delivered, one per line — the seeds' format byte
 * for byte. A pipe has no committed position to roll back to, so a consumer killed between
 * writing a batch and committing it writes that batch again on restart (SIGTERM never does);
 * use a directory or table output where a hard kill must not duplicate.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { Output } from '../types.js';

export class StdoutOutput implements Output {
  readonly description = 'stdout';

  constructor(private readonly stream: Writable = process.stdout) {}

  async open(): Promise<void> {}

  async write(records: { account: string; data: Buffer }[]): Promise<undefined> {
    if (records.length === 0) return undefined;
    const parts: Buffer[] = [];
    for (const r of records) parts.push(r.data, NEWLINE);
    if (!this.stream.write(Buffer.concat(parts))) await once(this.stream, 'drain');
    return undefined;
  }

  async close(): Promise<void> {}
}

const NEWLINE = Buffer.from('\n');
