/**
 * One bound on read-ahead shared by every sink worker of a process. Each worker may always hold
 * one page (so every sink progresses, however many there are); reading beyond that — filling a
 * whole batch, reading the next batch while one is in flight — takes from this budget, and a
 * worker that finds it spent sends what it holds instead. Memory for records read but not yet
 * acknowledged is then about `limitBytes` plus one page per sink, whatever the number of sinks and
 * the size of their backlogs.
 *
 * Bytes are `entrySize` (the encoded records), taken after a page is read (a page's size is known
 * only then), so the budget can be exceeded by one page per worker reading at that moment.
 */
export class ReadBudget {
  private used = 0;

  /** @param limitBytes the shared bound; `Infinity` for none. */
  constructor(readonly limitBytes: number) {}

  /** Whether read-ahead may go on now. */
  available(): boolean {
    return this.used < this.limitBytes;
  }

  /** Records of `bytes` were read (held until `release`). */
  take(bytes: number): void {
    this.used += bytes;
  }

  /** Records of `bytes` were acknowledged or dropped. */
  release(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
  }

  /** Bytes held by all workers now. */
  get inUse(): number {
    return this.used;
  }
}
