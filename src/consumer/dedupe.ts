/**
 * Dedupe by `log_id` (per account: auditstream's log ids are unique per account). Sinks deliver
 * at least once, so a record may arrive again after a sink or consumer restart; the first copy is
 * written, later identical copies are dropped silently, and a later copy with other content is an
 * altered record: dropped and reported to the proof. The set of written ids lives in the
 * checkpoint database and commits with the batch that wrote them.
 */
import type { ConsumerState } from './types.js';

export type DedupeVerdict = 'new' | 'duplicate' | 'conflict';

export class Dedupe {
  /** Ids written in the batch being built, not yet committed. */
  private batch = new Map<string, string>();

  constructor(private readonly state: ConsumerState) {}

  /** Loads what the database knows of these keys before a batch is judged (one lookup per key). */
  async prefetch(keys: { account: string; logId: string }[]): Promise<void> {
    for (const [k, v] of await this.state.seenDigests(keys)) this.batch.set(k, v);
  }

  judge(account: string, logId: string, digest: string): DedupeVerdict {
    const key = `${account}\n${logId}`;
    const known = this.batch.get(key);
    if (known === undefined) {
      this.batch.set(key, digest);
      return 'new';
    }
    return known === digest ? 'duplicate' : 'conflict';
  }

  /** Forgets the batch's lookups once it committed (the database has them now). */
  reset(): void {
    this.batch = new Map();
  }
}
