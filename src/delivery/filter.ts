/**
 * A sink's filter (`spec.filter`, validated by the control plane) as a predicate over stored
 * records. A record that does not pass is skipped: the cursor moves past it without a send, and
 * the sink's status counts it (`filteredCount`).
 */
import type { SinkFilter } from './adapter.js';

/** The predicate of a filter, or undefined when the sink takes every record. */
export function recordFilter(filter: SinkFilter | undefined): ((recordJson: string) => boolean) | undefined {
  if (!filter) return undefined;
  const include = filter.includeOperations ? new Set(filter.includeOperations) : undefined;
  const exclude = filter.excludeOperations ? new Set(filter.excludeOperations) : undefined;
  const categories = filter.categories ? new Set(filter.categories) : undefined;
  const status = filter.status;
  if (!include && !exclude && !categories && !status) return undefined;
  return (recordJson) => {
    const r = JSON.parse(recordJson) as { operation?: unknown; status?: unknown; category?: unknown };
    const op = String(r.operation);
    if (include && !include.has(op)) return false;
    if (exclude?.has(op)) return false;
    if (status && r.status !== status) return false;
    if (categories && !categories.has(String(r.category))) return false;
    return true;
  };
}
