/**
 * `auditstream sinks ...`: sink management through the API (AUDITSTREAM_URL, AUDITSTREAM_API_KEY),
 * so every change is audited with the key's principal. Uses the Cloud Ops API's HTTP mapping
 * (`/cloud/audit-log-sinks`) and auditstream's `/api/v1/audit-log-sinks/...` extensions. For an
 * HTTPS server with a private CA, Node's standard NODE_EXTRA_CA_CERTS applies.
 */
import { Command, Option } from 'commander';
import { randomUUID } from 'node:crypto';
import { AuditError } from '../errors.js';
import { configFromCommandLine } from '../config.js';
import { addSettingFlags } from './flags.js';
import type { Io } from './main.js';
import { sinkRegistry } from '../sinks/registry.js';
import { switchField, switchFlag, type CliValues } from '../sinks/driver.js';

interface ApiTarget {
  url: string;
  key: string;
}

/** Where the calls go and with which key: `--url` / `--api-key`, else AUDITSTREAM_URL / AUDITSTREAM_API_KEY. */
function target(flags: Record<string, unknown>): ApiTarget {
  const { apiUrl, apiKey } = configFromCommandLine(flags);
  if (!apiKey)
    throw new AuditError(
      'AS_ERR_INVALID_ARGUMENT',
      'AUDITSTREAM_API_KEY is not set (or --api-key): the sinks commands act through the API with an Owner or Global Admin key',
    );
  return { url: apiUrl, key: apiKey };
}

/** One API call; an error answer becomes one line a person can act on. */
async function call(t: ApiTarget, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  let res: Response;
  try {
    res = await fetch(`${t.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${t.key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch (err) {
    throw new Error(
      `cannot reach ${t.url} (${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}): is AUDITSTREAM_URL right and the server running?`,
      { cause: err },
    );
  }
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    // not JSON: keep the text for the message
  }
  if (!res.ok) {
    const err = (json['error'] as { message?: string } | undefined)?.message ?? (json['message'] as string | undefined) ?? text;
    throw new Error(`${method} ${path}: ${res.status} ${err}`);
  }
  return json;
}

type SpecFlags = CliValues & {
  disabled?: boolean;
  enabled?: boolean;
  includeOperations?: string;
  excludeOperations?: string;
  status?: string;
  categories?: string;
};

/**
 * Each kind's switches (src/sinks/driver.ts `SinkSwitch`, e.g. KPL aggregation of a Kinesis
 * sink), with the flag value this command was given (undefined: unchanged).
 */
function switchesGiven(f: SpecFlags): { sw: ReturnType<typeof sinkRegistry.switches>[number]; on: boolean }[] {
  return sinkRegistry.switches().flatMap((sw) => (typeof f[sw.sw.key] === 'boolean' ? [{ sw, on: f[sw.sw.key] as boolean }] : []));
}

/** Throws unless the spec is of the kind the switch belongs to. */
function checkSwitchKind(s: ReturnType<typeof sinkRegistry.switches>[number], spec: Record<string, unknown>, only = false): void {
  const flag = switchFlag(s.sw.key);
  if (spec[s.driver.specKey] === undefined && spec[s.driver.wireKey] === undefined)
    throw new AuditError(
      'AS_ERR_INVALID_ARGUMENT',
      `${only ? `--${flag}` : `--${flag} / --no-${flag}`} ${only ? 'applies' : 'apply'} to ${s.sw.appliesTo} sinks only`,
    );
}

/** The spec with the given switches set in its destination (for /api/v1/sinks, which carries them in the spec). */
function withSwitches(spec: Record<string, unknown>, f: SpecFlags): void {
  for (const { sw, on } of switchesGiven(f)) {
    checkSwitchKind(sw, spec);
    const key = spec[sw.driver.specKey] !== undefined ? sw.driver.specKey : sw.driver.wireKey;
    spec[key] = sw.sw.set(spec[key], on);
  }
}

/** /api/v1 answers are snake_case; the drivers' specs are camelCase (keys only, never values). */
function camelKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(camelKeys);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()), camelKeys(x)]));
}

const csv = (v: string | undefined): string[] | undefined =>
  v === undefined
    ? undefined
    : v
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x !== '');

/** The filter flags as a spec filter (undefined when none is given: an update keeps the current one). */
function filterFrom(f: SpecFlags, prev: unknown): Record<string, unknown> | undefined {
  if (f.includeOperations === undefined && f.excludeOperations === undefined && f.status === undefined && f.categories === undefined) return undefined;
  const p = (prev ?? {}) as Record<string, unknown>;
  const out: Record<string, unknown> = { ...p };
  if (f.includeOperations !== undefined) out['include_operations'] = csv(f.includeOperations);
  if (f.excludeOperations !== undefined) out['exclude_operations'] = csv(f.excludeOperations);
  if (f.status !== undefined) out['status'] = f.status;
  if (f.categories !== undefined) out['categories'] = csv(f.categories);
  return out;
}

/**
 * The spec from the flags (and, for an update, the current spec `base`). Each kind's flags come
 * from its driver (src/sinks/*): the CLI names no kind. `base` and the result use the spec keys
 * of the API they go to (camelCase destination keys; snake_case inside /api/v1 bodies is accepted
 * in either form by the server).
 */
function specFrom(name: string, f: SpecFlags, base?: Record<string, unknown>): Record<string, unknown> {
  const spec: Record<string, unknown> = { ...(base ?? {}), name };
  const given = sinkRegistry.drivers().flatMap((d) => {
    const next = d.cli.fromFlags(f, (base?.[d.specKey] ?? base?.[d.wireKey]) as never);
    return next === undefined ? [] : [{ d, next }];
  });
  if (given.length > 1)
    throw new AuditError('AS_ERR_INVALID_ARGUMENT', `give the flags of one destination only, not of ${given.map((g) => g.d.kind).join(' and ')}`);
  if (given.length === 1) {
    for (const d of sinkRegistry.drivers()) {
      delete spec[d.specKey];
      delete spec[d.wireKey];
    }
    spec[given[0]!.d.specKey] = given[0]!.next;
  }
  if (!sinkRegistry.drivers().some((d) => spec[d.specKey] !== undefined || spec[d.wireKey] !== undefined)) {
    throw new AuditError(
      'AS_ERR_INVALID_ARGUMENT',
      `a sink needs a destination: ${sinkRegistry
        .drivers()
        .map((d) => d.cli.flags.map((x) => x.flags.split(' ')[0]).join('/'))
        .join(' or ')}`,
    );
  }
  const filter = filterFrom(
    f,
    base?.['filter']
      ? Object.fromEntries(Object.entries(base['filter'] as object).map(([k, v]) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), v]))
      : undefined,
  );
  if (filter) spec['filter'] = filter;
  // New sinks start enabled unless --disabled; an update keeps the current state unless told.
  spec['enabled'] = f.disabled ? false : f.enabled ? true : base === undefined ? true : base['enabled'] === true;
  return spec;
}

/** Temporal's spec carries this one (Kinesis or Pub/Sub, no filter): the Cloud Ops API serves it unchanged. */
function opsApiCarries(spec: Record<string, unknown>): boolean {
  if (spec['filter'] !== undefined) return false;
  return sinkRegistry.drivers().every((d) => d.opsApi || (spec[d.specKey] === undefined && spec[d.wireKey] === undefined));
}

function withSpecFlags(cmd: Command): Command {
  for (const d of sinkRegistry.drivers()) {
    for (const flag of d.cli.flags) {
      if (flag.repeatable) cmd.option(flag.flags, flag.description, (v: string, prev: string[] = []) => [...prev, v]);
      else cmd.option(flag.flags, flag.description);
    }
  }
  cmd
    .option('--include-operations <list>', 'only these operations (comma-separated)')
    .option('--exclude-operations <list>', 'never these operations (comma-separated)')
    .addOption(new Option('--status <status>', 'only records with this status').choices(['OK', 'ERROR']))
    .option('--categories <list>', 'only these categories, e.g. LOG_CATEGORY_ADMIN (comma-separated)');
  for (const { sw } of sinkRegistry.switches()) cmd.option(`--${switchFlag(sw.key)}`, sw.help.on).option(`--no-${switchFlag(sw.key)}`, sw.help.off);
  return cmd;
}

/** Sets the sink's extension settings when a flag asked for one (audited like any update). */
async function setExtensions(t: ApiTarget, name: string, spec: Record<string, unknown>, f: SpecFlags): Promise<void> {
  const given = switchesGiven(f);
  if (given.length === 0) return;
  for (const { sw } of given) checkSwitchKind(sw, spec);
  await call(t, 'POST', `/api/v1/audit-log-sinks/${enc(name)}/extensions`, Object.fromEntries(given.map(({ sw, on }) => [switchField(sw.sw.key), on])));
}

const enc = encodeURIComponent;

export function addSinkCommands(program: Command, io: Io): void {
  const sinks = addSettingFlags(program.command('sinks'), 'sinks')
    .description('audit log sinks, through the API (--url and --api-key, or AUDITSTREAM_URL and AUDITSTREAM_API_KEY)')
    // Usage errors in one line (docs/interfaces.md), the hint on the same line; the subcommands inherit it.
    .showHelpAfterError(false)
    .configureOutput({ outputError: (text, write) => write(`${text.trimEnd()} (run with --help for usage)\n`) });
  const print = async (v: unknown) => io.out(JSON.stringify(v, null, 2) + '\n');

  sinks
    .command('list')
    .description('all sinks of the account')
    .action(async () => {
      const t = target(sinks.opts());
      const all: unknown[] = [];
      let token = '';
      do {
        const page = await call(t, 'GET', `/cloud/audit-log-sinks?page_size=100${token ? `&page_token=${enc(token)}` : ''}`);
        all.push(...((page['sinks'] as unknown[]) ?? []));
        token = (page['nextPageToken'] as string) ?? '';
      } while (token);
      // As `get`: a sink the Cloud Ops API cannot show whole (another kind, a filter) as /api/v1 shows it.
      const v1 = ((await call(t, 'GET', '/api/v1/sinks'))['sinks'] as Record<string, unknown>[] | undefined) ?? [];
      const whole = new Map(v1.filter((s) => !opsApiCarries(camelKeys(s['spec']) as Record<string, unknown>)).map((s) => [s['name'], s]));
      await print(all.map((s) => whole.get((s as { name?: unknown }).name) ?? s));
    });

  sinks
    .command('get <name>')
    .description('one sink with its health')
    .action(async (name: string) => {
      const t = target(sinks.opts());
      // Kinesis and Pub/Sub without a filter as the Cloud Ops API shows them; anything else as /api/v1 does.
      const v1 = await call(t, 'GET', `/api/v1/sinks/${enc(name)}`).catch(() => undefined);
      if (v1 && !opsApiCarries(camelKeys(v1['spec']) as Record<string, unknown>)) return print(v1);
      await print((await call(t, 'GET', `/cloud/audit-log-sinks/${enc(name)}`))['sink']);
    });

  sinks
    .command('status <name>')
    .description('health, last success, backlog, lag, dead letters, replays')
    .action(async (name: string) => {
      await print(await call(target(sinks.opts()), 'GET', `/api/v1/audit-log-sinks/${enc(name)}/status`));
    });

  withSpecFlags(sinks.command('create <name>').description('create a sink (it starts at the current head; use replay for history)'))
    .option('--disabled', 'create it paused')
    .option('--json', 'print the sink as JSON (a webhook sink: with its signing secret, shown this once)')
    .action(async (name: string, f: SpecFlags) => {
      const t = target(sinks.opts());
      const spec = specFrom(name, f);
      for (const { sw, on } of switchesGiven(f)) if (on) checkSwitchKind(sw, spec, true);
      if (!opsApiCarries(spec)) {
        // Kinds and filters the Ops API cannot carry: /api/v1/sinks, the switches in the spec itself.
        for (const { sw, on } of switchesGiven(f)) {
          const key = spec[sw.driver.specKey] !== undefined ? sw.driver.specKey : sw.driver.wireKey;
          if (spec[key] !== undefined) spec[key] = sw.sw.set(spec[key], on);
        }
        const created = await call(t, 'POST', '/api/v1/sinks', { spec });
        await print(created);
        if (typeof created['signing_secret'] === 'string') io.err('the signing secret is shown this once: keep it where the receiver can read it\n');
        return;
      }
      if (!switchesGiven(f).some((g) => g.on)) {
        await call(t, 'POST', '/cloud/audit-log-sinks', { spec, async_operation_id: randomUUID() });
      } else {
        // Created paused, the switch set (e.g. aggregation), then enabled: no record goes out without it.
        await call(t, 'POST', '/cloud/audit-log-sinks', { spec: { ...spec, enabled: false }, async_operation_id: randomUUID() });
        await setExtensions(t, name, spec, f);
        if (spec['enabled'] === true) {
          const current = (await call(t, 'GET', `/cloud/audit-log-sinks/${enc(name)}`))['sink'] as { spec: Record<string, unknown>; resourceVersion: string };
          await call(t, 'POST', `/cloud/audit-log-sinks/${enc(name)}`, {
            spec: { ...current.spec, enabled: true },
            resource_version: current.resourceVersion,
            async_operation_id: randomUUID(),
          });
        }
      }
      await print((await call(t, 'GET', `/cloud/audit-log-sinks/${enc(name)}`))['sink']);
    });

  withSpecFlags(sinks.command('update <name>').description('change a sink: destination flags, --enable / --disable'))
    .addOption(new Option('--enable', 'resume delivery').conflicts('disable'))
    .addOption(new Option('--disable', 'pause delivery (the cursor is kept)'))
    .option('--resource-version <v>', 'fail if the sink changed since this version')
    .action(async (name: string, f: SpecFlags & { enable?: boolean; disable?: boolean; resourceVersion?: string }) => {
      const t = target(sinks.opts());
      const flags = { ...f, ...(f.disable ? { disabled: true } : {}), ...(f.enable ? { enabled: true } : {}) };
      const current = await call(t, 'GET', `/api/v1/sinks/${enc(name)}`);
      const currentSpec = camelKeys(current['spec']) as Record<string, unknown>;
      const spec = specFrom(name, flags, currentSpec);
      if (opsApiCarries(spec)) {
        const ops = (await call(t, 'GET', `/cloud/audit-log-sinks/${enc(name)}`))['sink'] as { spec: Record<string, unknown>; resourceVersion: string };
        const opsSpec = specFrom(name, flags, ops.spec);
        await call(t, 'POST', `/cloud/audit-log-sinks/${enc(name)}`, {
          spec: opsSpec,
          resource_version: f.resourceVersion ?? ops.resourceVersion,
          async_operation_id: randomUUID(),
        });
        await setExtensions(t, name, opsSpec, f);
        await print((await call(t, 'GET', `/cloud/audit-log-sinks/${enc(name)}`))['sink']);
        return;
      }
      withSwitches(spec, f);
      await print(await call(t, 'POST', `/api/v1/sinks/${enc(name)}`, { spec, resource_version: f.resourceVersion ?? current['resource_version'] }));
    });

  sinks
    .command('delete <name>')
    .description('delete a sink; returns once nothing more can reach its destination')
    .option('--resource-version <v>', 'fail if the sink changed since this version')
    .option('--no-wait', 'return once the delete is committed, even if it is still in progress')
    .option('--timeout <seconds>', 'longest to wait for the delete to complete', '60')
    .action(async (name: string, f: { resourceVersion?: string; wait: boolean; timeout: string }) => {
      const t = target(sinks.opts());
      const timeoutS = Number(f.timeout);
      if (!Number.isFinite(timeoutS) || timeoutS <= 0)
        throw new AuditError('AS_ERR_INVALID_ARGUMENT', `--timeout must be a positive number of seconds, got ${f.timeout}`);
      const opId = randomUUID();
      const q = new URLSearchParams({ async_operation_id: opId, ...(f.resourceVersion ? { resource_version: f.resourceVersion } : {}) });
      let op = (await call(t, 'DELETE', `/cloud/audit-log-sinks/${enc(name)}?${q.toString()}`))['asyncOperation'] as { state?: string } | undefined;
      if (op?.state === 'STATE_IN_PROGRESS') {
        if (!f.wait) {
          io.err(`deleting ${name}: committed, still in progress (operation ${opId}; GET /cloud/operations/${opId} shows when it is done)\n`);
          return;
        }
        // The process that delivered this sink has not let go (it may have died: then its lease
        // must expire first). Nothing is sent in the meantime by a live process.
        io.err(`deleting ${name}: waiting for the process that delivered it to let go (at most its lease time)...\n`);
        const giveUp = Date.now() + timeoutS * 1000;
        while (op?.state === 'STATE_IN_PROGRESS') {
          if (Date.now() > giveUp)
            throw new Error(
              `delete of ${name} still in progress after ${timeoutS} s (operation ${opId}); it completes when the delivering process's lease expires`,
            );
          await new Promise((r) => setTimeout(r, 500));
          op = (await call(t, 'GET', `/cloud/operations/${enc(opId)}`))['asyncOperation'] as { state?: string } | undefined;
        }
      }
      if (op?.state !== undefined && op.state !== 'STATE_FULFILLED') throw new Error(`delete of ${name} ended in ${op.state}`);
      io.err(`deleted ${name}\n`);
    });

  sinks
    .command('verify <name>')
    .description('write one test record to the sink now and report Success or the cause')
    .action(async (name: string) => {
      const res = await call(target(sinks.opts()), 'POST', `/api/v1/audit-log-sinks/${enc(name)}/verify`, {});
      await print(res);
      if (res['status'] !== 'Success') process.exitCode = 1;
    });

  sinks
    .command('replay <name>')
    .description('re-deliver the records stored in a time range (still in retention) to this sink')
    .requiredOption('--since <time>', 'from (RFC 3339 or relative: 24h, 7d)')
    .option('--until <time>', 'to (default now)')
    .action(async (name: string, f: { since: string; until?: string }) => {
      await print(
        await call(target(sinks.opts()), 'POST', `/api/v1/audit-log-sinks/${enc(name)}/replay`, { since: f.since, ...(f.until ? { until: f.until } : {}) }),
      );
    });

  sinks
    .command('setup <name>')
    .description('AWS: ExternalId, CloudFormation quick-create link and template; GCP: the gcloud commands')
    .action(async (name: string) => {
      await print(await call(target(sinks.opts()), 'GET', `/api/v1/audit-log-sinks/${enc(name)}/setup`));
    });
}
