/**
 * Sink leases: each sink is delivered by one process at a time (several auditstream processes
 * may share one PostgreSQL database).
 *
 * A lease is (`lease_owner`, `lease_expires_ms`) on the sink row plus the fencing token `fence`.
 * Claiming bumps `fence`; the holder's token is the value after its claim. Every write the holder
 * makes (renew, cursor, health, dead letters, replay progress) matches `fence = token`, so a
 * process that lost its lease (expired and claimed by another, or the sink was deleted) changes
 * nothing. Before every send the holder re-reads the row and sends only if the token still
 * matches, the sink is active and enabled, and the lease has at least `minSendWindowMs` left; the
 * send is aborted when the lease would expire (minus a clock-skew margin). So:
 *
 * **Delete fence.** `deleteSink` marks the row `deleting` and bumps `fence` in the caller's
 * transaction. After it commits, no holder starts another send (its pre-send check fails), and
 * `awaitSinkDeleted` waits until the holder has let go — it releases its lease only after its
 * in-flight send settled — or until the lease expires, by which time the holder has aborted any
 * send it had started. Once `awaitSinkDeleted` resolves, no further send call for that sink is
 * in progress or will start in any process. (What no client can rule out is a request whose
 * bytes already left before the abort being processed by the provider a moment later; the window
 * is that network delay, and Kinesis has no conditional write to close it.) Assumes process
 * clocks agree within `clockSkewMs`.
 */
import type { AuditStore, Sql } from '../store/store.js';
import type { SinkRow } from './sql/sink-row.js';
import { sinkById } from './sql/sink-by-id.js';
import { claimSinkLease } from './sql/claim-sink-lease.js';
import { renewSinkLease } from './sql/renew-sink-lease.js';
import { releaseSinkLease } from './sql/release-sink-lease.js';

export { claimableSinks } from './sql/claimable-sinks.js';

export interface LeaseTiming {
  /** How long a claim or renewal holds. Default 15 s. */
  ttlMs: number;
  /** Largest clock difference between processes tolerated. Default 1 s. */
  clockSkewMs: number;
  /** A send is started only with at least this much lease left. Default ttl/3. */
  minSendWindowMs: number;
}

export function leaseTiming(ttlMs = 15_000, clockSkewMs = Math.min(1000, ttlMs / 10)): LeaseTiming {
  return { ttlMs, clockSkewMs, minSendWindowMs: ttlMs / 3 };
}

/**
 * How long a delete request waits for the sink's holder to let go before it answers with the
 * operation in progress. A live holder lets go right after its in-flight send (usually well
 * under a second); only a dead one (lease still running) outlasts this.
 */
export const DELETE_WAIT_MS = 2000;

/** A held lease: the token to fence writes with and when it runs out. */
export interface Lease {
  sinkId: string;
  owner: string;
  token: number;
  expiresMs: number;
}

/** Claims a free or expired lease on an active, enabled sink; undefined when another holds it. */
export async function claimLease(
  store: AuditStore,
  sinkId: string,
  owner: string,
  ttlMs: number,
  now = Date.now(),
): Promise<{ lease: Lease; row: SinkRow } | undefined> {
  return store.transaction(async (tx) => {
    if ((await claimSinkLease(tx, sinkId, owner, now + ttlMs, now)) !== 1) return undefined;
    const row = (await sinkById(tx, sinkId))!;
    return { lease: { sinkId, owner, token: row.fence, expiresMs: now + ttlMs }, row };
  });
}

/** Extends a held lease; false when it was lost (taken over, deleted, disabled). */
export async function renewLease(store: AuditStore, lease: Lease, ttlMs: number, now = Date.now()): Promise<boolean> {
  const expires = now + ttlMs;
  const changes = await store.transaction((tx) => renewSinkLease(tx, lease, expires));
  if (changes === 1) lease.expiresMs = expires;
  return changes === 1;
}

/**
 * Lets go of a lease (graceful stop, pause, or acknowledging a delete). Matches the owner only,
 * not the token: a holder that saw its sink deleted still clears its name so the deleter need
 * not wait for expiry. Call only once no send of this holder is in flight.
 */
export async function releaseLease(store: AuditStore, lease: Lease): Promise<void> {
  await store.transaction((tx) => releaseSinkLease(tx, lease));
}

/** Why the holder may not send now, or undefined when it may. */
export function sendRefusal(row: SinkRow | undefined, lease: Lease, timing: LeaseTiming, now = Date.now()): string | undefined {
  if (!row) return 'sink deleted';
  if (row.fence !== lease.token || row.leaseOwner !== lease.owner) return 'lease lost';
  if (row.state !== 'active') return 'sink deleting';
  if (!row.enabled) return 'sink disabled';
  if (lease.expiresMs - now < timing.minSendWindowMs) return 'lease too short';
  return undefined;
}

/** Reads the row for the pre-send check. */
export function readForSend(sql: Sql, sinkId: string): Promise<SinkRow | undefined> {
  return sinkById(sql, sinkId);
}
