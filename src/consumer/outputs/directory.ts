/**
 * A directory of daily-rotated gzip files, `audit-YYYY-MM-DD.jsonl.gz` (UTC day of writing).
 * Each batch is appended as one gzip member (concatenated members are one valid gzip file that
 * `gunzip`/`zcat` read whole) and fsynced before the batch commits; the committed position
 * holds every file's committed size. On open, whatever a crash left past it is cut off (files
 * truncated, files created after the last commit removed), so a hard kill neither loses nor
 * duplicates a record.
 */
import { closeSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ConsumerSetupError, type Output } from '../types.js';

const FILE = /^audit-\d{4}-\d{2}-\d{2}\.jsonl\.gz$/;

/** Committed sizes by file name. */
type Position = Record<string, number>;

export class DirectoryOutput implements Output {
  readonly description: string;
  private sizes: Position = {};

  constructor(
    private readonly dir: string,
    private readonly now: () => number = Date.now,
  ) {
    this.description = `directory ${dir}`;
  }

  async open(position: string | undefined): Promise<void> {
    try {
      mkdirSync(this.dir, { recursive: true });
      const files = readdirSync(this.dir).filter((f) => FILE.test(f));
      if (position === undefined) {
        // First use of this directory by this checkpoint database: adopt what is there as is.
        for (const f of files) this.sizes[f] = statSync(join(this.dir, f)).size;
        return;
      }
      this.sizes = JSON.parse(position) as Position;
      for (const f of files) {
        const committed = this.sizes[f];
        const path = join(this.dir, f);
        if (committed === undefined) unlinkSync(path);
        else if (statSync(path).size > committed) {
          const fd = openSync(path, 'r+');
          try {
            ftruncateSync(fd, committed);
            fsyncSync(fd);
          } finally {
            closeSync(fd);
          }
        }
      }
    } catch (err) {
      if (err instanceof ConsumerSetupError) throw err;
      throw new ConsumerSetupError(`cannot use output directory ${this.dir}: ${(err as Error).message}`);
    }
  }

  /** The position to commit before anything is written (so a first-run crash is undone too). */
  position(): string {
    return JSON.stringify(this.sizes);
  }

  async write(records: { account: string; data: Buffer }[]): Promise<string> {
    if (records.length === 0) return this.position();
    const name = `audit-${new Date(this.now()).toISOString().slice(0, 10)}.jsonl.gz`;
    const parts: Buffer[] = [];
    for (const r of records) parts.push(r.data, NEWLINE);
    // Level 1: several times faster than the default for about 10% more bytes on JSON lines.
    const member = gzipSync(Buffer.concat(parts), { level: 1 });
    const fd = openSync(join(this.dir, name), 'a');
    try {
      writeSync(fd, member);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.sizes[name] = (this.sizes[name] ?? 0) + member.length;
    return this.position();
  }

  async close(): Promise<void> {}
}

const NEWLINE = Buffer.from('\n');
