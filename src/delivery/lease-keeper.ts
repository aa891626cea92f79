/**
 * Keeping one sink's lease while its worker delivers (what a lease is and the fence: lease.ts).
 *
 * The keeper renews the lease every third of its TTL and tells the worker when to stop: gently
 * when the sink was deleted or paused while still ours (a send in flight runs to its answer), at
 * once when the lease was lost. Before every send it makes the fence check, renewing first when
 * the lease runs short, and it gives each send an AbortSignal that fires before the lease would
 * expire.
 */
import type { AuditStore } from '../store/store.js';
import type { Logger } from '../log.js';
import { readForSend, releaseLease, renewLease, sendRefusal, type Lease, type LeaseTiming } from './lease.js';
import type { SinkRow } from './sql/sink-row.js';

/** Thrown out of a worker's loop when it must stop without treating it as a failure. */
export class StopSignal extends Error {
  constructor(readonly why: string) {
    super(why);
  }
}

/** What the keeper tells its worker. */
export interface LeaseKeeperEvents {
  /** Still ours, but the sink was deleted or paused: start no new send, let one in flight finish. */
  letGo(): void;
  /** The lease is lost (or the fence refuses): stop now, aborting a send in flight. */
  lost(why: string): void;
}

export class LeaseKeeper {
  private renewTimer: NodeJS.Timeout | undefined;

  /** @param aborted the worker's hard stop: once it fired, renewing is pointless. */
  constructor(
    private readonly store: AuditStore,
    readonly lease: Lease,
    private readonly timing: LeaseTiming,
    private readonly aborted: AbortSignal,
    private readonly events: LeaseKeeperEvents,
    private readonly logger?: Logger,
  ) {}

  /** Starts renewing (every third of the TTL, at least every 50 ms). */
  start(): void {
    this.renewTimer = setInterval(() => void this.renew(), Math.max(50, this.timing.ttlMs / 3));
    this.renewTimer.unref();
  }

  /** Stops renewing; the lease runs out unless released. */
  stop(): void {
    clearInterval(this.renewTimer);
  }

  /** Lets go of the lease: call only once no send of this holder is in flight (lease.ts). */
  release(): Promise<void> {
    return releaseLease(this.store, this.lease);
  }

  private async renew(): Promise<void> {
    if (this.aborted.aborted) return;
    try {
      const ok = await renewLease(this.store, this.lease, this.timing.ttlMs);
      if (!ok) {
        const row = await readForSend(this.store.sql, this.lease.sinkId);
        // Deleted (deleteSink bumps the fence, and a deleting sink cannot be claimed by anyone) or
        // paused (fence unchanged), and still in our name: stop gracefully.
        const ours = row !== undefined && row.leaseOwner === this.lease.owner;
        if (ours && (row.state === 'deleting' || (row.fence === this.lease.token && !row.enabled))) {
          // Still ours, but deleted or paused: stop gracefully. A send in flight is NOT aborted:
          // its request may already be on the wire, and aborting would let us release the lease
          // (and a delete be acknowledged) while the destination still processes it. It runs to
          // its answer, bounded by the lease's expiry (its own AbortSignal), and only then is the
          // lease released — which is what awaitSinkDeleted waits for.
          this.events.letGo();
        } else {
          this.events.lost('lease lost');
        }
      }
    } catch (err) {
      // A store hiccup: keep going; the pre-send check refuses to send on a lease that runs short.
      this.logger?.warn({ err, sink: this.lease.sinkId }, 'sink lease renewal failed');
    }
  }

  /**
   * The fence check before a send (lease.ts): the row still carries our token, the sink is active
   * and enabled, the lease has time left (renewed here when it runs short). Returns the row; on a
   * refusal reports `lost` and throws StopSignal.
   */
  async checkBeforeSend(): Promise<SinkRow> {
    let row = await readForSend(this.store.sql, this.lease.sinkId);
    let refusal = sendRefusal(row, this.lease, this.timing);
    if (refusal === 'lease too short' && (await renewLease(this.store, this.lease, this.timing.ttlMs))) {
      row = await readForSend(this.store.sql, this.lease.sinkId);
      refusal = sendRefusal(row, this.lease, this.timing);
    }
    if (refusal) {
      this.events.lost(refusal);
      throw new StopSignal(refusal);
    }
    return row!;
  }

  /** The same check when the row changed, between sends: a short lease is left to the next send's check. */
  async checkNow(): Promise<void> {
    const row = await readForSend(this.store.sql, this.lease.sinkId);
    const refusal = sendRefusal(row, this.lease, this.timing);
    if (refusal && refusal !== 'lease too short') {
      this.events.lost(refusal);
      throw new StopSignal(refusal);
    }
  }

  /** The signal for one send: the worker's hard stop, or the lease about to expire (minus the clock-skew margin). */
  sendSignal(): AbortSignal {
    const deadline = this.lease.expiresMs - this.timing.clockSkewMs - Date.now();
    return AbortSignal.any([this.aborted, AbortSignal.timeout(Math.max(1, deadline))]);
  }
}
