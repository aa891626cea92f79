/** The delivery benchmark's options and results (bench/results-delivery.json holds the last run's). */
export type SinkKind = 'kinesis' | 'pubsub';

export interface DeliveryOptions {
  only?: string[];
  sinks?: SinkKind[];
  latencySeconds?: number;
  rates?: string[];
  flushMs?: number[];
  /** Backlog per throughput round. */
  records?: number;
  rounds?: number;
  memoryRecords?: number;
  /** Accounts (sinks) the memory run's backlog is spread over. */
  memoryAccounts?: number;
  memoryMaxSeconds?: number;
}

export interface LatencyRow {
  sink: SinkKind;
  /** engine (default), floor (direct calls, one in flight per account, same consumer), aggregate (engine, KPL aggregation). Absent in older results: engine. */
  mode?: 'engine' | 'floor' | 'aggregate';
  /** Whether every account's records were first seen in chain order. Absent in older results. */
  inOrder?: boolean;
  rate: number;
  /** Accounts the rate is spread over (one sink each; Kinesis: a stream each, Pub/Sub: one topic). */
  accounts: number;
  flushMs: number;
  seconds: number;
  appended: number;
  received: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Round of the floor/engine comparison (their order alternates); absent in older results and for other rows. */
  round?: number;
}
/** One round of the throughput comparison: the plain loop and the engine (rate cap lifted), same records. */
export interface ThroughputRound {
  round: number;
  /** Which side ran first in this round (alternates). */
  first: 'baseline' | 'engine';
  baselineRps: number;
  /** The engine with the adapter's per-sink rate cap lifted (see uncappedAdapterFactory). */
  engineRps: number;
  /** From `engine.start()` until the destination acknowledged all records. */
  engineSeconds: number;
  /** Of engineSeconds, wall time inside the adapter's `send` (the destination round trips). */
  sendSeconds: number;
  sendCalls: number;
  /** From `engine.start()` to the start of the first send (claim, lease, first page read and encode): part of the time outside send. */
  startupSeconds: number;
  /** In `store.readChainBodies` (reading the backlog; overlaps the sends, see worker.ts). */
  storeReadSeconds: number;
  /** In `store.transaction` (cursor commits; SQLite WAL, synchronous=FULL). */
  storeTxSeconds: number;
  /** In other store SQL (the lease/fence check before each send, claim scans). */
  storeSqlSeconds: number;
  ratio: number;
  /** 100 × (engineSeconds − sendSeconds) / engineSeconds. */
  outsideSendPct: number;
}
export interface ThroughputRow {
  sink: SinkKind;
  recordsPerRound: number;
  recordBytes: number;
  rounds: ThroughputRound[];
  baselineMedianRps: number;
  engineMedianRps: number;
  ratioOfMedians: number;
  ratioMin: number;
  ratioMax: number;
  outsideSendMedianPct: number;
  /** The engine as shipped (per-sink rate limits of the adapter, `cappedLimits`), one run. */
  cappedLimits: string;
  cappedRecords: number;
  cappedSeconds: number;
  cappedRps: number;
  /** cappedRps / baselineMedianRps. */
  cappedRatio: number;
  baselineDesc: string;
}
export interface MemorySample {
  t: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  delivered: number;
  /** Sinks the engine held at that moment. */
  held: number;
  /** Memory of Buffers and other objects outside the V8 heap (process.memoryUsage().external). */
  external: number;
}
export interface MemoryResult {
  records: number;
  /** Accounts the backlog is spread over, each with its own sink and stream/topic. */
  accounts: number;
  /** Records per account (largest share when n does not divide evenly). */
  recordsPerAccount: number;
  loadSeconds: number;
  completed: boolean;
  delivered: number;
  seconds: number;
  rps: number;
  peakRssMB: number;
  peakHeapUsedMB: number;
  peakHeapTotalMB: number;
  /** Peak of process.memoryUsage().external (Buffers etc., outside the heap limit). */
  peakExternalMB: number;
  exitCode: number | null;
  rateCapLifted: boolean;
  sink: SinkKind;
  samples: MemorySample[];
}
export interface DeliveryResults {
  date: string;
  machine: string;
  node: string;
  latency: LatencyRow[];
  throughput: ThroughputRow[];
  memory?: MemoryResult;
  /** When `memory` was not measured in this run but kept from the previous results: that run's date. */
  memoryFrom?: string;
  notes: string[];
}
