/**
 * The reject file: every stream record that is not a valid audit record (not JSON, wrong shape,
 * oversized, a partition key that is no account id, an altered second copy of a log_id) is
 * appended as one JSON line naming its shard and sequence number, with the bytes (as text when
 * they are UTF-8, else base64), and fsynced before the batch commits. It never stops the consumer.
 */
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import type { SourceRecord } from './types.js';

export interface Reject {
  record: SourceRecord;
  reason: string;
}

/** Where a record arrived: `shard/sequence[/sub-sequence]`. */
export function positionOf(r: SourceRecord): string {
  return `${r.shard}/${r.sequence}${r.subSequence !== undefined ? `/${r.subSequence}` : ''}`;
}

export class RejectFile {
  constructor(readonly path: string) {}

  write(rejects: Reject[]): void {
    if (rejects.length === 0) return;
    const lines = rejects.map(({ record: r, reason }) => {
      const text = r.data.toString('utf8');
      const utf8 = Buffer.from(text, 'utf8').equals(r.data);
      return `${JSON.stringify({
        shard: r.shard,
        sequence: r.sequence,
        ...(r.subSequence !== undefined ? { sub_sequence: r.subSequence } : {}),
        account: r.account,
        reason,
        ...(utf8 ? { data: text } : { data_base64: r.data.toString('base64') }),
      })}\n`;
    });
    const fd = openSync(this.path, 'a');
    try {
      writeSync(fd, lines.join(''));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}
