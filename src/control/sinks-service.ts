/**
 * Sink management (the control plane's; the delivery engine only reads the rows), as the Cloud Ops API handlers (Create/Get/GetAll/Update/Delete/Validate
 * AccountAuditLogSink) and the web UI call it. Writes take the handler's `StoreTx`, so the change
 * and its audit record commit together; reads take any `Sql`.
 *
 * How a handler uses it:
 * ```ts
 * // CreateAccountAuditLogSink
 * const view = await store.transaction(async (tx) => {
 *   const v = await createSink(tx, accountId, spec);      // before the audit append: the sink
 *   await tx.append(auditRecordOfThisCall);               // starts at the head, so its first
 *   return v;                                              // record is its own creation
 * });
 * engine.sinksChanged(accountId);                          // claim it now
 * engine.notify(accountId);
 *
 * // DeleteAccountAuditLogSink
 * const deletion = await store.transaction(async (tx) => { const d = await deleteSink(tx, ...); await tx.append(...); return d; });
 * const gone = await awaitSinkDeleted(store, deletion, { engine }); // done once true
 * ```
 */
import { randomBytes } from 'node:crypto';
import { checkVersion, newResourceVersion } from '../resource-version.js';
import { AuditError, failedPrecondition, notFound } from '../errors.js';
import type { AuditStore, Sql, StoreTx } from '../store/store.js';
import type { AuditLogSinkSpec } from '../sinks/spec.js';
import { sinkRegistry, type SinkRegistry } from '../sinks/registry.js';
import { switchField, type SecretSealer } from '../sinks/driver.js';
import { secretBox } from '../sinks/secret-box.js';
import { ensureExternalId } from '../delivery/external-id.js';
import type { SinkErrorKind, SinkHealth, SinkRow } from '../delivery/sql/sink-row.js';
import { sinkById } from '../delivery/sql/sink-by-id.js';
import { sinkByName } from '../delivery/sql/sink-by-name.js';
import { sinksOfAccount } from '../delivery/sql/sinks-of-account.js';
import { markDeleting } from '../delivery/sql/mark-deleting.js';
import { finishDeletion } from '../delivery/sql/finish-deletion.js';
import type { ReplayRow } from '../delivery/sql/replay-row.js';
import { insertReplay } from '../delivery/sql/insert-replay.js';
import { chainHeadSeq } from '../delivery/sql/chain-head-seq.js';
import { insertSink } from '../delivery/sql/insert-sink.js';
import { updateSinkSpec } from '../delivery/sql/update-sink-spec.js';
import { seqRangeStored } from '../delivery/sql/seq-range-stored.js';
import { deadLetterSeqRange } from '../delivery/sql/dead-letter-seq-range.js';
import { deadLettersOfSink, type DeadLetterRow } from '../delivery/sql/dead-letters-of-sink.js';
import { statusOf, type SinkStatus } from '../delivery/status.js';
import { leaseTiming } from '../delivery/lease.js';
import { sleep } from '../delivery/retry.js';

export { validateSpec } from '../sinks/registry.js';
export { verifySink } from './sink-verify.js';
export { readExternalId, ensureExternalId } from '../delivery/external-id.js';
export type { SinkStatus } from '../delivery/status.js';
export type { ReplayRow } from '../delivery/sql/replay-row.js';
export { DELETE_WAIT_MS } from '../delivery/lease.js';

/** A sink as the API shows it (maps onto Temporal's `AccountAuditLogSink`). */
export interface AuditLogSinkView {
  name: string;
  resourceVersion: string;
  /** The sink kind (`kinesis`, `pubsub`, `webhook`, ...). */
  kind: string;
  /** `deleting` between a delete and the moment no holder can send any more. */
  state: 'active' | 'deleting';
  spec: AuditLogSinkSpec;
  /** `ok`, or `error` with `errorKind` (HEALTH_ERROR_USER_CONFIGURATION / HEALTH_ERROR_INTERNAL). */
  health: SinkHealth;
  errorKind: SinkErrorKind | null;
  errorMessage: string;
  errorSinceMs: number | null;
  /** Last acknowledged delivery (`last_succeeded_time`). */
  lastSucceededMs: number | null;
  createdMs: number;
  modifiedMs: number;
}

/** What `deleteSink` hands to `awaitSinkDeleted` once the transaction committed. */
export interface SinkDeletion {
  sinkId: string;
  accountId: string;
  name: string;
}

/** The stored spec as reads show it: every secret value replaced by `"set"`. */
export function readableSpec(spec: AuditLogSinkSpec, registry: SinkRegistry = sinkRegistry): AuditLogSinkSpec {
  const driver = registry.driverOf(spec);
  if (!driver?.secrets) return spec;
  return { ...spec, [driver.specKey]: driver.secrets.redact(registry.destinationOf(spec, driver)) };
}

function view(row: SinkRow, registry: SinkRegistry = sinkRegistry): AuditLogSinkView {
  return {
    name: row.name,
    resourceVersion: row.resourceVersion,
    kind: row.kind,
    state: row.state,
    spec: readableSpec(row.spec, registry),
    health: row.health,
    errorKind: row.errorKind,
    errorMessage: row.errorMessage ?? '',
    errorSinceMs: row.errorSinceMs,
    lastSucceededMs: row.lastSuccessMs,
    createdMs: row.createdMs,
    modifiedMs: row.modifiedMs,
  };
}

async function liveSink(sql: Sql, accountId: string, name: string): Promise<SinkRow> {
  const row = await sinkByName(sql, accountId, name);
  if (!row) throw notFound(`audit log sink ${name} not found`);
  if (row.state === 'deleting') throw failedPrecondition(`audit log sink ${name} is being deleted`);
  return row;
}

/**
 * Creates a sink. It starts at the account's current head: it delivers what is stored from now
 * on (history through `replaySink`). Creates the account's ExternalId on first use.
 * Throws AS_ERR_INVALID_ARGUMENT (spec), AS_ERR_ALREADY_EXISTS (name taken).
 */
export async function createSink(
  tx: StoreTx,
  accountId: string,
  spec: AuditLogSinkSpec,
  now = Date.now(),
  opts: SinkServiceOptions = {},
): Promise<CreatedSink> {
  const registry = opts.registry ?? sinkRegistry;
  registry.validate(spec);
  const existing = await sinkByName(tx, accountId, spec.name);
  if (existing?.state === 'deleting') throw failedPrecondition(`audit log sink ${spec.name} is still being deleted; retry in a few seconds`);
  if (existing) throw new AuditError('AS_ERR_ALREADY_EXISTS', `an audit log sink named ${spec.name} already exists in this account`);
  await ensureExternalId(tx, accountId, now);
  const cursorSeq = await chainHeadSeq(tx, accountId);
  const { spec: clean, kind, shownOnce } = prepare(registry, spec, undefined, opts);
  const id = `snk_${randomBytes(12).toString('hex')}`;
  await insertSink(tx, { id, accountId, kind, spec: clean, resourceVersion: newResourceVersion(), cursorSeq, now });
  return { ...view((await sinkById(tx, id))!, registry), shownOnce };
}

/** What the control plane may pass besides the spec (defaults: this build's registry and secret box). */
export interface SinkServiceOptions {
  registry?: SinkRegistry;
  secrets?: SecretSealer;
  /**
   * Update only: keep the stored filter when the request cannot express one (the Cloud Ops API's
   * `AuditLogSinkSpec` has no filter field).
   */
  keepFilter?: boolean;
}

/** A created (or updated) sink, with the secrets generated by this call (shown once). */
export type CreatedSink = AuditLogSinkView & { shownOnce: Record<string, string> };

/** Cleans a validated spec and seals its secrets (keeping `prev`'s where the request left them out). */
function prepare(
  registry: SinkRegistry,
  spec: AuditLogSinkSpec,
  prev: AuditLogSinkSpec | undefined,
  opts: SinkServiceOptions,
): { spec: AuditLogSinkSpec; kind: string; shownOnce: Record<string, string> } {
  const clean = registry.clean(spec);
  const driver = registry.driverOf(clean)!;
  if (opts.keepFilter && prev?.filter) clean.filter = prev.filter;
  const prevDest = prev && registry.driverOf(prev) === driver ? registry.destinationOf(prev, driver) : undefined;
  if (prevDest !== undefined && driver.keep)
    Object.assign(registry.destinationOf(clean, driver) as object, driver.keep(registry.destinationOf(spec, driver), prevDest));
  if (!driver.secrets) return { spec: clean, kind: driver.kind, shownOnce: {} };
  const sealed = driver.secrets.seal(registry.destinationOf(clean, driver), prevDest, opts.secrets ?? secretBox());
  (clean as unknown as Record<string, unknown>)[driver.specKey] = sealed.spec;
  return { spec: clean, kind: driver.kind, shownOnce: sealed.shownOnce };
}

/**
 * Replaces a sink's spec (found by `spec.name`). The cursor is kept: pausing (`enabled: false`)
 * stops delivery where it is, and a new destination continues from there. An empty
 * `resourceVersion` skips the concurrency check. Throws NOT_FOUND, FAILED_PRECONDITION, INVALID_ARGUMENT.
 */
export async function updateSink(
  tx: StoreTx,
  accountId: string,
  spec: AuditLogSinkSpec,
  resourceVersion: string,
  now = Date.now(),
  opts: SinkServiceOptions = {},
): Promise<CreatedSink> {
  const registry = opts.registry ?? sinkRegistry;
  registry.validate(spec);
  const row = await liveSink(tx, accountId, spec.name);
  checkVersion(resourceVersion, row.resourceVersion, `audit log sink ${spec.name}`);
  const { spec: clean, kind, shownOnce } = prepare(registry, spec, row.spec, opts);
  await updateSinkSpec(tx, row.id, kind, clean, newResourceVersion(), now);
  return { ...view((await sinkById(tx, row.id))!, registry), shownOnce };
}

/**
 * auditstream's own on/off sink settings, beyond the Ops API's AuditLogSinkSpec, by switch key
 * (each kind's `SinkSwitch`, src/sinks/driver.ts; e.g. `kinesisAggregate`): every registered
 * switch, false for a sink of another kind.
 */
export type SinkExtensions = Record<string, boolean>;

/** The extension settings of a spec. */
export function extensionsOf(spec: AuditLogSinkSpec, registry: SinkRegistry = sinkRegistry): SinkExtensions {
  const own = registry.driverOf(spec);
  return Object.fromEntries(registry.switches().map(({ driver, sw }) => [sw.key, driver === own && sw.get(registry.destinationOf(spec, driver))]));
}

/**
 * Changes a sink's extension settings (a new resource version, like any update). Throws
 * NOT_FOUND, FAILED_PRECONDITION (stale version, being deleted), INVALID_ARGUMENT (a switch of
 * another kind, or one no kind has).
 */
export async function setSinkExtensions(
  tx: StoreTx,
  accountId: string,
  name: string,
  ext: Partial<SinkExtensions>,
  resourceVersion: string,
  now = Date.now(),
  registry: SinkRegistry = sinkRegistry,
): Promise<AuditLogSinkView> {
  const row = await liveSink(tx, accountId, name);
  checkVersion(resourceVersion, row.resourceVersion, `audit log sink ${name}`);
  // The stored spec is already clean (and its secrets sealed): change only the extension.
  const spec = structuredClone(row.spec);
  const own = registry.driverOf(spec);
  const kind = own?.kind ?? 'unknown';
  for (const [key, on] of Object.entries(ext)) {
    if (on === undefined) continue;
    const owner = registry.switches().find((s) => s.sw.key === key);
    if (!owner) throw new AuditError('AS_ERR_INVALID_ARGUMENT', `${switchField(key)} is not a sink extension`);
    if (owner.driver !== own)
      throw new AuditError('AS_ERR_INVALID_ARGUMENT', `${switchField(key)} applies to ${owner.sw.appliesTo} sinks only; ${name} is a ${kind} sink`);
    const dest = spec as unknown as Record<string, unknown>;
    dest[own.specKey] = owner.sw.set(dest[own.specKey], on);
  }
  await updateSinkSpec(tx, row.id, kind, spec, newResourceVersion(), now);
  return view((await sinkById(tx, row.id))!, registry);
}

/**
 * First half of a fenced delete: marks the sink `deleting` and bumps its fencing token in the
 * caller's transaction. After the commit, call `awaitSinkDeleted` and report the delete only when
 * it resolves: from then on no record of the account reaches that destination (lease.ts).
 */
export async function deleteSink(tx: StoreTx, accountId: string, name: string, resourceVersion: string, now = Date.now()): Promise<SinkDeletion> {
  const row = await sinkByName(tx, accountId, name);
  if (!row) throw notFound(`audit log sink ${name} not found`);
  if (row.state !== 'deleting') {
    checkVersion(resourceVersion, row.resourceVersion, `audit log sink ${name}`);
    await markDeleting(tx, row.id, now);
  }
  return { sinkId: row.id, accountId, name };
}

export interface AwaitDeletionOptions {
  /** The local engine: its worker for this sink is told at once instead of at its next check. */
  engine?: { sinksChanged(accountId: string): void };
  /** Lease TTL the engines run with (default 15 s): the longest a dead holder can block. */
  leaseTtlMs?: number;
  /**
   * Longest to wait here. Default: until a dead holder's lease has certainly expired (TTL plus
   * twice the clock-skew margin, plus 5 s). The control plane waits less and answers with the
   * operation in progress; any engine's claim round finishes the delete later (engine.ts).
   */
  waitMs?: number;
  pollMs?: number;
}

/**
 * Second half of a fenced delete, after `deleteSink`'s transaction committed: waits until the
 * holder (if any) let go — it does so right after its in-flight send settles — or its lease
 * expired, then removes the sink. Resolves true once the sink is gone, false if it is still
 * waiting for a holder after `waitMs` (the delete stays committed and completes later).
 */
export async function awaitSinkDeleted(store: AuditStore, deletion: SinkDeletion, opts: AwaitDeletionOptions = {}): Promise<boolean> {
  const timing = leaseTiming(opts.leaseTtlMs ?? 15_000);
  const pollMs = opts.pollMs ?? 50;
  opts.engine?.sinksChanged(deletion.accountId);
  const giveUp = Date.now() + (opts.waitMs ?? timing.ttlMs + timing.clockSkewMs * 2 + 5_000);
  while (!(await finishDeletion(store, deletion.sinkId, timing.clockSkewMs))) {
    if (Date.now() >= giveUp) return false;
    await sleep(Math.min(pollMs, Math.max(1, giveUp - Date.now())));
  }
  return true;
}

/** One sink, NOT_FOUND when absent. Shows sinks being deleted with state `deleting`. */
export async function getSink(sql: Sql, accountId: string, name: string): Promise<AuditLogSinkView> {
  const row = await sinkByName(sql, accountId, name);
  if (!row) throw notFound(`audit log sink ${name} not found`);
  return view(row);
}

/** The spec as stored (secrets sealed), for Verify: never returned to a caller. */
export async function storedSpec(sql: Sql, accountId: string, name: string): Promise<AuditLogSinkSpec> {
  const row = await sinkByName(sql, accountId, name);
  if (!row) throw notFound(`audit log sink ${name} not found`);
  return row.spec;
}

/** Page size bounds for listSinks: 0 means the default (100); at most 1000. */
export const MAX_SINK_PAGE_SIZE = 1000;

/** Sinks of an account by name. `pageToken` is the opaque `nextPageToken` of the previous page. */
export async function listSinks(
  sql: Sql,
  accountId: string,
  pageSize: number,
  pageToken: string,
): Promise<{ sinks: AuditLogSinkView[]; nextPageToken: string }> {
  if (!Number.isInteger(pageSize) || pageSize < 0 || pageSize > MAX_SINK_PAGE_SIZE) {
    throw new AuditError('AS_ERR_INVALID_ARGUMENT', `page_size must be 0 to ${MAX_SINK_PAGE_SIZE}, got ${pageSize}`);
  }
  const size = pageSize === 0 ? 100 : pageSize;
  let after = '';
  if (pageToken !== '') {
    const m = /^s1\.([A-Za-z0-9_-]+)$/.exec(pageToken);
    const decoded = m ? Buffer.from(m[1]!, 'base64url').toString('utf8') : '';
    if (!decoded) throw new AuditError('AS_ERR_INVALID_ARGUMENT', 'page_token is not one this API returned');
    after = decoded;
  }
  const rows = await sinksOfAccount(sql, accountId, after, size + 1);
  const page = rows.slice(0, size);
  const nextPageToken = rows.length > size ? `s1.${Buffer.from(page[page.length - 1]!.name, 'utf8').toString('base64url')}` : '';
  return { sinks: page.map((r) => view(r)), nextPageToken };
}

/** Status for the UI (health, last success, backlog, lag, dead letters, expired, replays). */
export async function sinkStatus(sql: Sql, accountId: string, name: string, now = Date.now()): Promise<SinkStatus> {
  const row = await sinkByName(sql, accountId, name);
  if (!row) throw notFound(`audit log sink ${name} not found`);
  return statusOf(sql, row, now);
}

/**
 * Re-delivers the records stored in [fromMs, toMs) to this one sink, tracked apart from its
 * cursor (progress in `sinkStatus(...).replays`). Runs when live delivery is caught up; records
 * retention already purged are skipped. Throws INVALID_ARGUMENT for an empty or reversed window.
 */
export async function replaySink(tx: StoreTx, accountId: string, name: string, fromMs: number, toMs: number, now = Date.now()): Promise<ReplayRow> {
  if (!Number.isSafeInteger(fromMs) || !Number.isSafeInteger(toMs) || fromMs < 0 || toMs <= fromMs) {
    throw new AuditError('AS_ERR_INVALID_ARGUMENT', `replay window must have from < to (epoch ms), got ${fromMs}..${toMs}`);
  }
  const row = await liveSink(tx, accountId, name);
  const range = await seqRangeStored(tx, accountId, fromMs, toMs);
  // None stored in the window: an empty range (1..0), done at once.
  const lo = range?.lo ?? 1;
  const hi = range?.hi ?? 0;
  const replay: ReplayRow = {
    id: `rpl_${randomBytes(10).toString('hex')}`,
    sinkId: row.id,
    mode: 'range',
    fromMs,
    toMs,
    fromSeq: lo,
    toSeq: hi,
    nextSeq: lo,
    deliveredCount: 0,
    state: hi >= lo ? 'pending' : 'done',
    createdMs: now,
    finishedMs: hi >= lo ? null : now,
  };
  await insertReplay(tx, replay);
  return replay;
}

/** Retries every dead letter of the sink; each that now goes through leaves the table. Undefined when there are none. */
export async function replayDeadLetters(tx: StoreTx, accountId: string, name: string, now = Date.now()): Promise<ReplayRow | undefined> {
  const row = await liveSink(tx, accountId, name);
  const r = await deadLetterSeqRange(tx, row.id);
  if (!r) return undefined;
  const replay: ReplayRow = {
    id: `rpl_${randomBytes(10).toString('hex')}`,
    sinkId: row.id,
    mode: 'dead_letters',
    fromMs: 0,
    toMs: now,
    fromSeq: r.lo,
    toSeq: r.hi,
    nextSeq: r.lo,
    deliveredCount: 0,
    state: 'pending',
    createdMs: now,
    finishedMs: null,
  };
  await insertReplay(tx, replay);
  return replay;
}

/** Dead letters of a sink (oldest first), for the UI. */
export async function deadLetters(sql: Sql, accountId: string, name: string, limit = 100): Promise<DeadLetterRow[]> {
  const row = await sinkByName(sql, accountId, name);
  if (!row) throw notFound(`audit log sink ${name} not found`);
  return deadLettersOfSink(sql, row.id, limit);
}
