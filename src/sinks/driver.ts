/**
 * The contract of one sink kind. A kind is one folder under src/sinks/ exporting a `SinkDriver`,
 * plus one line in the registry (src/sinks/index.ts). Everything kind-specific the rest of
 * auditstream needs — parsing and validating its spec, cleaning it, describing the destination,
 * limits, the adapter, reading its answers, Verify's diagnosis, setup instructions, CLI flags,
 * secrets — goes through this interface, so the control plane, the CLI and the delivery engine
 * name no kind.
 */
import type { Config } from '../config.js';
import type { AdapterDeps, SendOutcome, SinkAdapter, SinkDestinations, SinkLimits, Verdict, VerifyResult } from '../delivery/adapter.js';

/** The spec key of a destination (`kinesisSink`, `pubSubSink`, `webhookSink`, ...). */
export type DestinationKey = keyof SinkDestinations & string;

/** What `setup` may use. */
export interface SetupContext {
  /** The account's ExternalId (created on first use). */
  externalId(): Promise<string>;
  /** The operator's settings a kind's instructions name (src/config.ts). */
  settings: Pick<Config, 'awsPrincipalArn' | 'cfnTemplateUrl' | 'gcpServiceAccount'>;
}

/** One CLI option of `auditstream sinks create|update`. */
export interface CliFlag {
  /** Commander syntax, e.g. `--webhook-url <url>`. */
  flags: string;
  description: string;
  /** May be given several times (collected into an array). */
  repeatable?: boolean;
}

/** Parsed CLI options: commander's camelCase names. */
export type CliValues = Record<string, string | string[] | boolean | undefined>;

/**
 * `cli.fromFlags` of a kind whose flags each set one string field, as `{ field: 'flagKey' }`:
 * undefined when none of them is given; otherwise each field from its flag, else from the
 * previous spec, else ''.
 */
export function stringFieldsFromFlags<K extends string>(
  flagOf: Record<K, string>,
): (f: CliValues, prev: Partial<Record<K, string>> | undefined) => Record<K, string> | undefined {
  const fields = Object.keys(flagOf) as K[];
  return (f, prev) => {
    if (fields.every((k) => f[flagOf[k]] === undefined)) return undefined;
    return Object.fromEntries(fields.map((k) => [k, (f[flagOf[k]] as string | undefined) ?? prev?.[k] ?? ''])) as Record<K, string>;
  };
}

/**
 * An on/off setting of a kind that Temporal's `AuditLogSinkSpec` cannot carry (Kinesis
 * `aggregate`): shown and set through `/api/v1/audit-log-sinks/:name/extensions` as the snake_case
 * of `key` (`kinesis_aggregate`), audited as `sink_<that>`, and set by the CLI's `--<kebab-case of
 * key>` / `--no-...` flags (commander hands them back as `key`). An Ops API update keeps it through
 * the driver's `keep`.
 */
export interface SinkSwitch<S> {
  /** camelCase, unique across kinds, e.g. `kinesisAggregate`. */
  readonly key: string;
  /** Which sinks it applies to, in messages: `Kinesis` ("applies to Kinesis sinks only"). */
  readonly appliesTo: string;
  /** `--help` of the flag that turns it on and of the one that turns it off. */
  readonly help: { on: string; off: string };
  /** Its value in a destination of this kind. */
  get(spec: S): boolean;
  /** The destination with it set (`on`) or cleared; nothing else changes. */
  set(spec: S, on: boolean): S;
}

/** `kinesisAggregate` → `kinesis_aggregate` (the /api/v1 field of a switch). */
export const switchField = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
/** `kinesisAggregate` → `kinesis-aggregate` (the CLI flag of a switch, without dashes). */
export const switchFlag = (key: string): string => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** Secrets handling of a kind that has some (webhook signing secrets, header values). */
export interface SecretHandling<S> {
  /**
   * Before storing: generates what the kind needs on create, keeps what `prev` had when the
   * request leaves it out, and seals every secret value. `shownOnce` is returned to the caller
   * of the create/rotate only (e.g. `{ signing_secret: 'whsec_...' }`).
   */
  seal(spec: S, prev: S | undefined, box: SecretSealer): { spec: S; shownOnce: Record<string, string> };
  /** The read form: every secret value replaced by `"set"`. */
  redact(spec: S): S;
}

/** Seals and opens secret values at rest (src/sinks/secret-box.ts). */
export interface SecretSealer {
  seal(plain: string): string;
  open(sealed: string): string;
  isSealed(value: string): boolean;
}

/** The heavy half of a kind, loaded on first use (`SinkDriver.load`). */
export interface LoadedDriver<S = unknown> {
  /** Builds an adapter; no network I/O here (credentials are fetched on the first send). */
  create(spec: S, deps: AdapterDeps): SinkAdapter;
  /** Turns a failed Verify send into the cause a UI names; without it, `unknown` with the verdict's reason. */
  diagnose?(outcome: SendOutcome, verdict: Verdict): VerifyResult;
}

export interface SinkDriver<S = unknown> {
  /** Stored in the sink row (`kind`) and shown by status, e.g. `webhook`. */
  readonly kind: string;
  /** The spec key of this destination, e.g. `webhookSink`. */
  readonly specKey: DestinationKey;
  /** Its snake_case form, in messages and `/api/v1` bodies, e.g. `webhook_sink`. */
  readonly wireKey: string;
  /** Temporal's `AuditLogSinkSpec` carries it, so the Cloud Ops API serves it too. */
  readonly opsApi: boolean;
  readonly limits: SinkLimits;
  /** A request's destination object (camelCase keys) as this kind's spec; no validation. */
  parse(raw: Record<string, unknown>): S;
  /** Throws AS_ERR_INVALID_ARGUMENT naming the field (`${field}.<name>`) and the rule. */
  validate(spec: S, field: string): void;
  /** Only the known fields (the row stores nothing a client made up). */
  clean(spec: S): S;
  /**
   * Settings an update that leaves them out keeps from the stored destination, because the Ops
   * API cannot say them (Kinesis `aggregate`): merged into the cleaned spec. Default: none.
   */
  keep?(requested: S, stored: S): Partial<S>;
  /** Its on/off settings beyond Temporal's spec (`SinkSwitch`); default none. */
  switches?: readonly SinkSwitch<S>[];
  /** The destination in one line, for audit details (`sink_destination`). */
  describe(spec: S): string;
  /**
   * Loads the kind's adapter code (the SDKs it needs), on first use: the CLI and the control
   * plane's validation never pay for them.
   */
  load(): Promise<LoadedDriver<S>>;
  /** What the customer must set up on their side (CloudFormation, gcloud commands, nothing). */
  setup(spec: S, sinkName: string, ctx: SetupContext): Promise<Record<string, unknown>>;
  /** CLI options and how they make (or change) this kind's spec; undefined when none of them is given. */
  cli: { flags: CliFlag[]; fromFlags(values: CliValues, prev: S | undefined): S | undefined };
  secrets?: SecretHandling<S>;
}
