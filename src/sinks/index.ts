/**
 * The sink registry with every kind's adapter code loaded (top-level await): what `serve`, the
 * benchmarks and the tests import. The CLI and the control plane import the light
 * src/sinks/registry.ts, so they never load an SDK they do not use.
 */
import type { AdapterDeps, SinkAdapter, StoredSinkSpec } from '../delivery/adapter.js';
import { sinkRegistry } from './registry.js';

export * from './registry.js';

await sinkRegistry.loadAll();

/** Builds the adapter for a validated spec with the build's registry; throws when no kind matches. */
export function createAdapter(spec: StoredSinkSpec, deps: AdapterDeps): SinkAdapter {
  return sinkRegistry.createLoadedAdapter(spec, deps);
}
