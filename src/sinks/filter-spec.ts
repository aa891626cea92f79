/**
 * Validation of a sink's filter (`spec.filter`): every operation and category must exist, the
 * lists must not be empty, and the whole filter must be able to match some record — a filter
 * that can never match would silently deliver nothing, so it is refused at create/update time.
 */
import type { SinkFilter } from '../delivery/adapter.js';
import { listOperations } from '../record/operations.js';
import { CATEGORIES, STATUSES } from '../record/record.js';
import { AuditError } from '../errors.js';

const invalid = (message: string): AuditError => new AuditError('AS_ERR_INVALID_ARGUMENT', message);

const FILTER_KEYS = ['includeOperations', 'excludeOperations', 'status', 'categories'] as const;
const WIRE: Record<(typeof FILTER_KEYS)[number], string> = {
  includeOperations: 'include_operations',
  excludeOperations: 'exclude_operations',
  status: 'status',
  categories: 'categories',
};

function list(v: unknown, field: string, known: ReadonlySet<string>, what: string): string[] {
  if (!Array.isArray(v)) throw invalid(`${field} must be a list of ${what}s`);
  if (v.length === 0) throw invalid(`${field} must name at least one ${what} (leave it out to not filter on it)`);
  for (const x of v) {
    if (typeof x !== 'string' || !known.has(x)) throw invalid(`${field}: ${JSON.stringify(x)} is not a known ${what}`);
  }
  return v as string[];
}

/** Throws AS_ERR_INVALID_ARGUMENT naming the field (`spec.filter.include_operations`, ...). */
export function validateFilter(f: SinkFilter, field: string): void {
  if (f === null || typeof f !== 'object' || Array.isArray(f)) throw invalid(`${field} must be an object`);
  for (const k of Object.keys(f)) {
    if (!(FILTER_KEYS as readonly string[]).includes(k)) throw invalid(`${field}.${k} is not a filter field (known: ${Object.values(WIRE).join(', ')})`);
  }
  const ops = new Map(listOperations().map((o) => [o.name, o]));
  const opNames = new Set(ops.keys());
  const include = f.includeOperations === undefined ? undefined : list(f.includeOperations, `${field}.include_operations`, opNames, 'operation');
  const exclude = f.excludeOperations === undefined ? undefined : list(f.excludeOperations, `${field}.exclude_operations`, opNames, 'operation');
  const categories = f.categories === undefined ? undefined : list(f.categories, `${field}.categories`, new Set(CATEGORIES), 'category');
  if (f.status !== undefined && !(STATUSES as readonly string[]).includes(f.status)) {
    throw invalid(`${field}.status must be ${STATUSES.join(' or ')}, got ${JSON.stringify(f.status)}`);
  }
  // Could any record pass? Each operation has one category, so the candidates are known.
  const candidates = (include ?? [...opNames]).filter((n) => !exclude?.includes(n) && (!categories || categories.includes(ops.get(n)!.category)));
  if (candidates.length === 0)
    throw invalid(
      `${field} matches no record: no operation is both included and not excluded${categories ? ` within categories ${categories.join(', ')}` : ''}`,
    );
}

/** Only the known fields of a filter; undefined for an empty one. */
export function cleanFilter(f: SinkFilter | undefined): SinkFilter | undefined {
  if (!f) return undefined;
  const out: SinkFilter = {};
  if (f.includeOperations) out.includeOperations = [...f.includeOperations];
  if (f.excludeOperations) out.excludeOperations = [...f.excludeOperations];
  if (f.status) out.status = f.status;
  if (f.categories) out.categories = [...f.categories];
  return Object.keys(out).length ? out : undefined;
}
