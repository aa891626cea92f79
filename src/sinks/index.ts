/**
 * The adapter factory: the one place the delivery engine turns a sink spec into a `SinkAdapter`
 * (src/delivery/adapter.ts). Each destination kind registers a `SinkDriver` here; the engine,
 * `verifySink` and the tests only ever call `createAdapter` / `driverFor`.
 *
 * Adding a kind (e.g. src/sinks/pubsub/): export from its folder
 *
 * ```ts
 * export function createPubSubAdapter(spec: PubSubSinkSpec, deps: AdapterDeps): SinkAdapter
 * export function diagnosePubSub(outcome: SendOutcome, verdict: Verdict): VerifyResult   // optional
 * ```
 *
 * and add one `registerSinkDriver({ kind: 'pubsub', create: ..., diagnose: ... })` line at the
 * bottom of this file. A factory must not do network I/O (the engine creates adapters eagerly
 * and may close them unused); credentials are fetched lazily on the first `send`.
 */
import type { SinkAdapter, Verdict, VerifyResult } from '../delivery/adapter.js';
import type { Logger } from '../log.js';
import type { AuditLogSinkSpec, KinesisSinkSpec, PubSubSinkSpec, SinkKind } from './spec.js';
import { createKinesisAdapter, diagnoseKinesis } from './kinesis/adapter.js';
import { createPubSubAdapter, diagnosePubSub } from './pubsub/index.js';

export type { AuditLogSinkSpec, KinesisSinkSpec, PubSubSinkSpec, SinkKind } from './spec.js';

/** What every adapter is given besides its own spec. */
export interface AdapterDeps {
  /** The account whose records this adapter sends: the default partition / ordering key. */
  accountId: string;
  /** The sink's name, for log lines and metrics. */
  sinkName: string;
  /**
   * The account's ExternalId (random, unique per account, see src/delivery/external-id.ts),
   * passed to STS AssumeRole for Kinesis; other kinds ignore it.
   */
  externalId: string;
  /**
   * auditstream's own GCP identity (AUDITSTREAM_GCP_SERVICE_ACCOUNT), through which the Pub/Sub
   * adapter impersonates the customer's service account; unset = ADC's own principal.
   */
  gcpServiceAccount?: string;
  logger?: Logger;
}

/** The raw outcome of one `send`, as `classify` receives it. */
export interface SendOutcome {
  value?: unknown;
  error?: unknown;
}

/** Per-kind spec type. */
export interface SpecOfKind {
  kinesis: KinesisSinkSpec;
  pubsub: PubSubSinkSpec;
}

export interface SinkDriver<K extends SinkKind = SinkKind> {
  kind: K;
  /** Builds an adapter; no network I/O here. */
  create(spec: SpecOfKind[K], deps: AdapterDeps): SinkAdapter;
  /**
   * Turns a failed verify send into the cause a UI names (role not assumable, destination not
   * found, permission denied, wrong region, endpoint unreachable). Without it, verify reports
   * `unknown` with the verdict's reason.
   */
  diagnose?(outcome: SendOutcome, verdict: Verdict): VerifyResult;
}

const drivers = new Map<SinkKind, SinkDriver>();

/** Registers (or replaces, in tests) the driver of one kind. */
export function registerSinkDriver<K extends SinkKind>(driver: SinkDriver<K>): void {
  drivers.set(driver.kind, driver as unknown as SinkDriver);
}

/** The driver of a kind, or undefined when none is registered (e.g. Pub/Sub not built in). */
export function driverFor(kind: SinkKind): SinkDriver | undefined {
  return drivers.get(kind);
}

/** Builds the adapter for a validated spec; throws when the kind has no driver. */
export function createAdapter(spec: AuditLogSinkSpec, deps: AdapterDeps): SinkAdapter {
  if (spec.kinesisSink) return requireDriver('kinesis').create(spec.kinesisSink, deps);
  if (spec.pubSubSink) return requireDriver('pubsub').create(spec.pubSubSink, deps);
  throw new TypeError(`sink ${spec.name} names no destination`);
}

function requireDriver(kind: SinkKind): SinkDriver {
  const d = drivers.get(kind);
  if (!d) throw new Error(`no adapter registered for sink kind "${kind}"`);
  return d;
}

registerSinkDriver({ kind: 'kinesis', create: createKinesisAdapter, diagnose: diagnoseKinesis });
registerSinkDriver({ kind: 'pubsub', create: createPubSubAdapter, diagnose: diagnosePubSub });
