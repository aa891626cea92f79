/**
 * What the delivery benchmark wraps around the engine, from outside: the adapter with its per-sink
 * rate cap lifted and its `send` calls timed, and the store with its calls timed.
 */
import type { AuditStore } from '../../src/store/store.js';
import type { DeliveryEngine } from '../../src/delivery/engine.js';
import type { SinkAdapter } from '../../src/delivery/adapter.js';
import type { SinkRow } from '../../src/delivery/sql/sink-row.js';
import type { AuditLogSinkSpec } from '../../src/sinks/spec.js';
import { createAdapter } from '../../src/sinks/index.js';
import { sleep } from './util.js';

/** Time one sink's adapter spent inside `send` (filled by `uncappedAdapterFactory`). */
export interface SendTiming {
  /** Only this account's adapter is timed. */
  accountId: string;
  ms: number;
  calls: number;
  /** performance.now() when the first send started. */
  firstAt?: number;
}

/**
 * The adapter's limits with every per-second rate (`recordsPerSecond`, `bytesPerSecond`) raised
 * to 10^9; a null rate (no limit of that kind) stays null. Batch and record size limits are kept.
 */
function liftRateLimits(limits: SinkAdapter['limits']): SinkAdapter['limits'] {
  return Object.fromEntries(
    Object.entries(limits).map(([k, v]) => [k, k.endsWith('PerSecond') && typeof v === 'number' ? 1e9 : v]),
  ) as unknown as SinkAdapter['limits'];
}

/** The per-sink rate limits of the adapter as shipped, for the writeup (e.g. "1,000 records/s and 1,048,576 bytes/s"). */
export function describeRateLimits(spec: AuditLogSinkSpec): string {
  const adapter = createAdapter(spec, { accountId: 'describe', sinkName: 'describe', externalId: '' });
  void adapter.close().catch(() => {});
  const limits = adapter.limits as unknown as Record<string, unknown>;
  const parts: string[] = [];
  for (const [k, v] of Object.entries(limits)) {
    if (!k.endsWith('PerSecond') || typeof v !== 'number') continue;
    parts.push(`${v.toLocaleString('en-US')} ${k.replace(/PerSecond$/, '')}/s`);
  }
  return parts.join(' and ');
}

/**
 * The real adapter with its per-sink rate cap (`limits.recordsPerSecond` / `bytesPerSecond`: one
 * Kinesis shard's write limit / one Pub/Sub ordering key's) lifted (liftRateLimits), to measure the engine's
 * own cost against an emulator that serves more than one shard's worth. With `timing`, the
 * adapter of `timing.accountId` also adds the wall time of each `send` call to it (a worker sends
 * one batch at a time, so these intervals never overlap).
 */
export function uncappedAdapterFactory(timing?: SendTiming): (row: SinkRow, externalId: string) => SinkAdapter {
  return (row, externalId) => {
    const real = createAdapter(row.spec, { accountId: row.accountId, sinkName: row.name, externalId });
    const copy = Object.assign(Object.create(Object.getPrototypeOf(real) as object) as SinkAdapter, real);
    (copy as { limits: SinkAdapter['limits'] }).limits = liftRateLimits(real.limits);
    if (timing && row.accountId === timing.accountId) {
      copy.send = async (entries, signal) => {
        const t = performance.now();
        timing.firstAt ??= t;
        try {
          return await real.send(entries, signal);
        } finally {
          timing.ms += performance.now() - t;
          timing.calls++;
        }
      };
    }
    return copy;
  };
}
export const uncappedAdapter = uncappedAdapterFactory();

/** Wall time the engine spent in store calls (timedStore). */
export interface StoreTiming {
  /** `store.readChainBodies` (and readChain): reading the backlog, a page at a time. */
  readMs: number;
  /** `store.transaction`: cursor commits (and lease renewals, if any fell in the run). */
  txMs: number;
  /** `store.sql` get/all/run outside transactions: the fence check before each send, claim scans. */
  sqlMs: number;
}

/**
 * The store with readChain, transaction and sql calls timed into `t`. Calls made inside the store
 * (readChain's own queries, a transaction's statements) are not counted twice: the methods run
 * on the real store. The claim-scan timer may overlap a worker call by a few ms.
 */
export function timedStore(store: AuditStore, t: StoreTiming): AuditStore {
  const time = <F extends (...a: never[]) => Promise<unknown>>(f: F, key: keyof StoreTiming, self: object): F =>
    (async (...a: Parameters<F>) => {
      const s0 = performance.now();
      try {
        return await f.apply(self, a);
      } finally {
        t[key] += performance.now() - s0;
      }
    }) as F;
  const bindAll = (target: object, timed: Record<string, keyof StoreTiming>) =>
    new Proxy(target, {
      get(obj, p) {
        const v = Reflect.get(obj, p, obj) as unknown;
        if (typeof v !== 'function') return v;
        const key = typeof p === 'string' ? timed[p] : undefined;
        return key ? time(v as (...a: never[]) => Promise<unknown>, key, obj) : (v as (...a: unknown[]) => unknown).bind(obj);
      },
    });
  const sql = bindAll(store.sql, { get: 'sqlMs', all: 'sqlMs', run: 'sqlMs' }) as AuditStore['sql'];
  const proxied = bindAll(store, { readChain: 'readMs', readChainBodies: 'readMs', transaction: 'txMs' }) as AuditStore;
  return new Proxy(proxied, { get: (obj, p) => (p === 'sql' ? sql : Reflect.get(obj, p, obj)) });
}

export async function waitHeld(engine: DeliveryEngine, count = 1, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (engine.heldSinks().length < count) {
    if (Date.now() > end) throw new Error('engine did not claim the sink');
    await sleep(20);
  }
}
