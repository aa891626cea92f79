/**
 * The sink registry: every sink kind this build knows, one registration line each (bottom of
 * this file). Light: each kind's adapter code (and its SDK) loads on first use, so the CLI and
 * validation never load an SDK (src/sinks/index.ts preloads them for `serve` and the tests). A kind is one folder under src/sinks/ exporting a `SinkDriver` (driver.ts); the
 * delivery engine receives the registry as its `AdapterFactory` (dependency injection), the
 * control plane and the CLI ask it everything kind-specific, so none of them names a kind.
 */
import type { AdapterDeps, AdapterFactory, SinkAdapter, StoredSinkSpec } from '../delivery/adapter.js';
import type { DestinationKey, LoadedDriver, SinkDriver, SinkSwitch } from './driver.js';
import { destinationsOf, validateSpecWith } from './validate-spec.js';
import { cleanFilter } from './filter-spec.js';
import { kinesisDriver } from './kinesis/driver.js';
import { pubSubDriver } from './pubsub/driver.js';
import { webhookDriver } from './webhook/driver.js';
import { s3Driver } from './s3/driver.js';

export type { AdapterDeps } from '../delivery/adapter.js';
export type { SinkDriver } from './driver.js';

export class SinkRegistry implements AdapterFactory {
  private readonly list: SinkDriver[] = [];
  private readonly loaded = new Map<string, LoadedDriver>();

  /** Adds a kind (a test may replace one by registering the same kind again). */
  register<S>(driver: SinkDriver<S>): this {
    const d = driver as unknown as SinkDriver;
    const i = this.list.findIndex((x) => x.kind === d.kind);
    if (i >= 0) this.list[i] = d;
    else this.list.push(d);
    this.loaded.delete(d.kind);
    return this;
  }

  /** Every registered kind, in registration order. */
  drivers(): readonly SinkDriver[] {
    return this.list;
  }

  /** Every kind's switches (`SinkSwitch`), each with its driver, in registration order. */
  switches(): { driver: SinkDriver; sw: SinkSwitch<unknown> }[] {
    return this.list.flatMap((driver) => (driver.switches ?? []).map((sw) => ({ driver, sw })));
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

  /** The loaded half of a kind (adapter factory, Verify diagnosis), loading it on first use. */
  async load(driver: SinkDriver): Promise<LoadedDriver> {
    let l = this.loaded.get(driver.kind);
    if (!l) {
      l = await driver.load();
      this.loaded.set(driver.kind, l);
    }
    return l;
  }

  /** Loads every kind's adapter code now (serve, at start: the first delivery then waits for nothing). */
  async loadAll(): Promise<void> {
    await Promise.all(this.list.map((d) => this.load(d)));
  }

  createAdapter(spec: StoredSinkSpec, deps: AdapterDeps): SinkAdapter | Promise<SinkAdapter> {
    const d = this.driverOf(spec);
    if (!d) throw new TypeError(`sink ${spec.name} names no destination this build knows`);
    const l = this.loaded.get(d.kind);
    if (l) return l.create(this.destinationOf(spec, d), deps);
    return this.load(d).then((x) => x.create(this.destinationOf(spec, d), deps));
  }

  /** Like createAdapter, for a registry whose kinds are loaded (`loadAll`); throws otherwise. */
  createLoadedAdapter(spec: StoredSinkSpec, deps: AdapterDeps): SinkAdapter {
    const d = this.driverOf(spec);
    if (!d) throw new TypeError(`sink ${spec.name} names no destination this build knows`);
    const l = this.loaded.get(d.kind);
    if (!l) throw new Error(`the ${d.kind} adapter is not loaded yet (await sinkRegistry.loadAll())`);
    return l.create(this.destinationOf(spec, d), deps);
  }
}

/** The kinds of this build. Adding one: its folder, plus one line here. */
export const sinkRegistry = new SinkRegistry().register(kinesisDriver).register(pubSubDriver).register(webhookDriver).register(s3Driver);

/** Validates a spec against the build's registry (AS_ERR_INVALID_ARGUMENT naming the field). */
export function validateSpec(spec: StoredSinkSpec): void {
  sinkRegistry.validate(spec);
}
