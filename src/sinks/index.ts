/**
 * The sink registry: every sink kind this build knows, one registration line each (bottom of
 * this file). A kind is one folder under src/sinks/ exporting a `SinkDriver` (driver.ts); the
 * delivery engine receives the registry as its `AdapterFactory` (dependency injection), the
 * control plane and the CLI ask it everything kind-specific, so none of them names a kind.
 */
import type { AdapterDeps, AdapterFactory, SinkAdapter, StoredSinkSpec } from '../delivery/adapter.js';
import type { DestinationKey, SinkDriver } from './driver.js';
import { destinationsOf, validateSpecWith } from './validate-spec.js';
import { cleanFilter } from './filter-spec.js';
import { kinesisDriver } from './kinesis/driver.js';
import { pubSubDriver } from './pubsub/driver.js';
import { webhookDriver } from './webhook/driver.js';

export type { AdapterDeps, SendOutcome } from '../delivery/adapter.js';
export type { AuditLogSinkSpec, KinesisSinkSpec, PubSubSinkSpec, SinkKind } from './spec.js';
export type { SinkDriver } from './driver.js';

export class SinkRegistry implements AdapterFactory {
  private readonly list: SinkDriver[] = [];

  /** Adds a kind (a test may replace one by registering the same kind again). */
  register<S>(driver: SinkDriver<S>): this {
    const d = driver as unknown as SinkDriver;
    const i = this.list.findIndex((x) => x.kind === d.kind);
    if (i >= 0) this.list[i] = d;
    else this.list.push(d);
    return this;
  }

  /** Every registered kind, in registration order. */
  drivers(): readonly SinkDriver[] {
    return this.list;
  }

  /** The driver of a kind, or undefined. */
  byKind(kind: string): SinkDriver | undefined {
    return this.list.find((d) => d.kind === kind);
  }

  /** The driver of the destination a spec sets (the first when it sets several; validate refuses that). */
  driverOf(spec: StoredSinkSpec): SinkDriver | undefined {
    return destinationsOf(this.list, spec)[0];
  }

  /** The destination object of a spec, for its driver. */
  destinationOf(spec: StoredSinkSpec, driver: SinkDriver): unknown {
    return (spec as unknown as Record<DestinationKey, unknown>)[driver.specKey];
  }

  /** Throws AS_ERR_INVALID_ARGUMENT naming the field; returns the spec's driver. */
  validate(spec: StoredSinkSpec): SinkDriver {
    return validateSpecWith(this.list, spec);
  }

  /** A validated spec with only its known fields. */
  clean(spec: StoredSinkSpec): StoredSinkSpec {
    const driver = this.validate(spec);
    const out: StoredSinkSpec = { name: spec.name, enabled: spec.enabled };
    (out as unknown as Record<string, unknown>)[driver.specKey] = driver.clean(this.destinationOf(spec, driver));
    const filter = cleanFilter(spec.filter);
    if (filter) out.filter = filter;
    return out;
  }

  /** The destination in one line (audit details), or undefined for a spec with none. */
  describe(spec: StoredSinkSpec): string | undefined {
    const d = this.driverOf(spec);
    return d ? d.describe(this.destinationOf(spec, d)) : undefined;
  }

  createAdapter(spec: StoredSinkSpec, deps: AdapterDeps): SinkAdapter {
    const d = this.driverOf(spec);
    if (!d) throw new TypeError(`sink ${spec.name} names no destination this build knows`);
    return d.create(this.destinationOf(spec, d), deps);
  }
}

/** The kinds of this build. Adding one: its folder, plus one line here. */
export const sinkRegistry = new SinkRegistry()
  .register(kinesisDriver)
  .register(pubSubDriver)
  .register(webhookDriver);

/** Builds the adapter for a validated spec with the build's registry; throws when no kind matches. */
export function createAdapter(spec: StoredSinkSpec, deps: AdapterDeps): SinkAdapter {
  return sinkRegistry.createAdapter(spec, deps);
}

/** Validates a spec against the build's registry (AS_ERR_INVALID_ARGUMENT naming the field). */
export function validateSpec(spec: StoredSinkSpec): void {
  sinkRegistry.validate(spec);
}
