/**
 * Every setting auditstream has — its environment variable, flag, parser, `--help` text, default
 * and the commands that take it — in one table (`SETTINGS`), and the only place the process
 * environment is read (docs/interfaces.md is the operator-facing list). Resolved once — defaults,
 * then environment, then command-line flags (a flag wins) — validated, and frozen. The CLI's flags
 * and their `--help` are generated from the table (src/cli/flags.ts). There is no configuration file.
 */
import { AuditError } from './errors.js';
import { parseTrustedProxies, type TrustedProxies } from './record/caller-ip.js';
import { parseMetricsAccess, type MetricsAccess } from './api/metrics-access.js';
import type { EndpointEnv } from './sinks/pubsub/endpoint.js';

/** The embedded default: a SQLite file under the data directory. */
export const DEFAULT_DATABASE_URL = './data/auditstream.db';

/** AUDITSTREAM_FLUSH_INTERVAL_MS's default: the longest a record waits in a sink batch. */
export const DEFAULT_FLUSH_INTERVAL_MS = 50;

export interface Config {
  host: string;
  httpPort: number;
  grpcPort: number;
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  databaseUrl: string;
  /** Where first-start files (signing key, initial admin credentials) go. */
  dataDir: string;
  retentionDays: number;
  trustedProxiesText: string;
  trustedProxies: TrustedProxies;
  ingestToken: string | undefined;
  flushIntervalMs: number;
  /** Ed25519 private key (PEM) for chain checkpoints. */
  signingKeyPath: string;
  /** Whether the key may be generated (only at the default location). */
  signingKeyGenerate: boolean;
  logLevel: string;
  /** Largest encoded record ingest accepts (docs/decisions/0004: 256 KiB). */
  maxRecordBytes: number;
  /** Most entries in `caller_ip_address` (docs/decisions/0004: 20). */
  maxCallerIpEntries: number;
  /** Largest request body (docs/decisions/0004: 8 MiB); larger gets 413. */
  maxBodyBytes: number;
  checkpointIntervalMs: number;
  retentionIntervalMs: number;
  retentionBatchSize: number;
  /** Who may read /metrics: loopback callers (default), a bearer token, or anyone. */
  metricsAccess: MetricsAccess;
  /** The AWS principal the generated CloudFormation role trusts (Kinesis set-up). */
  awsPrincipalArn: string | undefined;
  /** Where the operator published the CloudFormation template, for the Auto quick-create link. */
  cfnTemplateUrl: string | undefined;
  /** auditstream's own GCP identity, which impersonates customers' service accounts (Pub/Sub). */
  gcpServiceAccount: string | undefined;
  /** Where `auditstream sinks` sends its API calls (no trailing slash). */
  apiUrl: string;
  /** The API key `auditstream sinks` acts with. */
  apiKey: string | undefined;
  /** AES-256-GCM key file for sink secrets at rest (webhook signing secrets, header values). */
  secretsKeyPath: string;
  /** Whether the secrets key may be generated (only at the default location). */
  secretsKeyGenerate: boolean;
  /** Whether sinks may reach loopback, private and link-local addresses (tests, single-host setups). */
  sinkAllowPrivateNetworks: boolean;
  /** The batch window of object sinks (S3): how long one object collects records; undefined: the kind's default (60 s). */
  batchWindowMs: number | undefined;
}

/** The commands whose flags come from the table. */
export type SettingCommand = 'serve' | 'logs' | 'verify' | 'checkpoint' | 'init' | 'accounts create' | 'sinks' | 'keys public';

/** One setting: its env var, flag name (commander camelCase), parser and `--help` line. */
export interface Setting<K extends keyof Config = keyof Config> {
  key: K;
  env: string;
  flag: string;
  parse: (raw: string, name: string) => Config[K];
  /** `--help` text; the environment variable and the default are appended. */
  help: string;
  /** Placeholder of the flag's value in `--help`. Default `value`. */
  arg?: string;
  /** The default as `--help` says it, where the value alone would not say it well. */
  defaultText?: string;
  /** The commands that take the flag. Default: `serve` only. */
  commands?: readonly SettingCommand[];
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function int(min: number, max: number) {
  return (raw: string, name: string): number => {
    const n = Number(raw);
    if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new AuditError('AS_ERR_INVALID_ARGUMENT', `${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
    }
    return n;
  };
}
const str = (raw: string) => raw;
const optStr = (raw: string) => (raw === '' ? undefined : raw);
function url(protocols: string[]) {
  return (raw: string, name: string): string => {
    let u: URL | undefined;
    try {
      u = new URL(raw);
    } catch {
      u = undefined;
    }
    if (!u || !protocols.includes(u.protocol)) {
      throw new AuditError('AS_ERR_INVALID_ARGUMENT', `${name} must be a ${protocols.map((p) => p.replace(':', '')).join(' or ')} URL, got "${raw}"`);
    }
    return raw.replace(/\/+$/, '');
  };
}
const optUrl = (protocols: string[]) => (raw: string, name: string) => (raw === '' ? undefined : url(protocols)(raw, name));
const optMatching = (re: RegExp, what: string) => (raw: string, name: string) => {
  if (raw === '') return undefined;
  if (!re.test(raw)) throw new AuditError('AS_ERR_INVALID_ARGUMENT', `${name} must be ${what}, got "${raw}"`);
  return raw;
};

function bool(raw: string, name: string): boolean {
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  throw new AuditError('AS_ERR_INVALID_ARGUMENT', `${name} must be true or false, got "${raw}"`);
}

const DB: readonly SettingCommand[] = ['serve', 'logs', 'verify', 'checkpoint', 'init', 'accounts create'];

/** Every setting. A new one is one row here, one field in `Config` and one default in `defaults()`. */
export const SETTINGS: readonly Setting[] = [
  { key: 'host', env: 'AUDITSTREAM_HOST', flag: 'host', parse: str, arg: 'addr', help: 'bind address of both listeners' },
  {
    key: 'httpPort',
    env: 'AUDITSTREAM_HTTP_PORT',
    flag: 'httpPort',
    parse: int(0, 65535),
    arg: 'port',
    help: 'HTTP port (Cloud Ops API HTTP mapping, /api/v1, /auth, health, metrics)',
  },
  { key: 'grpcPort', env: 'AUDITSTREAM_GRPC_PORT', flag: 'grpcPort', parse: int(0, 65535), arg: 'port', help: 'gRPC port (Cloud Ops API)' },
  {
    key: 'tlsCert',
    env: 'AUDITSTREAM_TLS_CERT',
    flag: 'tlsCert',
    parse: optStr,
    arg: 'file',
    help: 'PEM certificate for both listeners (with --tls-key; plaintext when unset)',
  },
  { key: 'tlsKey', env: 'AUDITSTREAM_TLS_KEY', flag: 'tlsKey', parse: optStr, arg: 'file', help: 'PEM private key for both listeners' },
  {
    key: 'databaseUrl',
    env: 'DATABASE_URL',
    flag: 'databaseUrl',
    parse: str,
    arg: 'url',
    help: 'postgres://... (optional ?schema=name), a SQLite file path or sqlite:PATH',
    commands: DB,
  },
  {
    key: 'dataDir',
    env: 'AUDITSTREAM_DATA_DIR',
    flag: 'dataDir',
    parse: str,
    arg: 'dir',
    help: 'where first-start files go (signing key, initial admin credentials)',
    commands: ['serve', 'verify', 'checkpoint'],
  },
  {
    key: 'retentionDays',
    env: 'AUDITSTREAM_RETENTION_DAYS',
    flag: 'retentionDays',
    parse: int(1, 36500),
    arg: 'n',
    help: 'days records are kept (by stored time)',
  },
  {
    key: 'trustedProxiesText',
    env: 'AUDITSTREAM_TRUSTED_PROXIES',
    flag: 'trustedProxies',
    parse: str,
    arg: 'cidrs',
    help: 'CIDR list of proxies trusted in X-Forwarded-For',
  },
  {
    key: 'ingestToken',
    env: 'AUDITSTREAM_INGEST_TOKEN',
    flag: 'ingestToken',
    parse: optStr,
    arg: 'token',
    help: 'bearer token for POST /api/v1/audit-logs besides API keys (at least 16 characters)',
  },
  {
    key: 'flushIntervalMs',
    env: 'AUDITSTREAM_FLUSH_INTERVAL_MS',
    flag: 'flushIntervalMs',
    parse: int(1, 3_600_000),
    arg: 'ms',
    help: 'longest a record waits in a sink batch',
  },
  {
    key: 'signingKeyPath',
    env: 'AUDITSTREAM_SIGNING_KEY',
    flag: 'signingKey',
    parse: str,
    arg: 'file',
    help: 'Ed25519 PEM key that signs chain checkpoints',
    defaultText: '<data dir>/signing-key.pem, generated on first start',
    commands: ['serve', 'verify', 'checkpoint'],
  },
  { key: 'logLevel', env: 'LOG_LEVEL', flag: 'logLevel', parse: str, arg: 'level', help: `pino level: ${LOG_LEVELS.join(', ')}` },
  {
    key: 'maxRecordBytes',
    env: 'AUDITSTREAM_MAX_RECORD_BYTES',
    flag: 'maxRecordBytes',
    parse: int(1024, 64 * 1024 * 1024),
    arg: 'bytes',
    help: 'largest encoded record ingest accepts',
    defaultText: '262144 (256 KiB)',
  },
  {
    key: 'maxCallerIpEntries',
    env: 'AUDITSTREAM_MAX_CALLER_IP_ENTRIES',
    flag: 'maxCallerIpEntries',
    parse: int(1, 1000),
    arg: 'n',
    help: 'most entries kept in caller_ip_address',
  },
  {
    key: 'maxBodyBytes',
    env: 'AUDITSTREAM_MAX_BODY_BYTES',
    flag: 'maxBodyBytes',
    parse: int(1024, 1024 * 1024 * 1024),
    arg: 'bytes',
    help: 'largest request body (larger gets 413)',
    defaultText: '8388608 (8 MiB)',
  },
  {
    key: 'checkpointIntervalMs',
    env: 'AUDITSTREAM_CHECKPOINT_INTERVAL_MS',
    flag: 'checkpointIntervalMs',
    parse: int(1000, 86_400_000),
    arg: 'ms',
    help: 'how often every chain head is signed',
    defaultText: '300000 (5 min)',
  },
  {
    key: 'retentionIntervalMs',
    env: 'AUDITSTREAM_RETENTION_INTERVAL_MS',
    flag: 'retentionIntervalMs',
    parse: int(1000, 86_400_000),
    arg: 'ms',
    help: 'how often retention runs',
    defaultText: '60000 (1 min)',
  },
  {
    key: 'retentionBatchSize',
    env: 'AUDITSTREAM_RETENTION_BATCH_SIZE',
    flag: 'retentionBatchSize',
    parse: int(1, 1_000_000),
    arg: 'n',
    help: 'records purged per retention transaction',
  },
  {
    key: 'metricsAccess',
    env: 'AUDITSTREAM_METRICS_ACCESS',
    flag: 'metricsAccess',
    parse: parseMetricsAccess,
    arg: 'who',
    help: 'who may read /metrics: loopback, open, or token:<secret>',
    defaultText: 'loopback',
  },
  {
    key: 'awsPrincipalArn',
    env: 'AUDITSTREAM_AWS_PRINCIPAL_ARN',
    flag: 'awsPrincipalArn',
    parse: optMatching(/^arn:[\w-]+:(iam|sts)::\d{12}:\S+$/, 'an IAM principal ARN (arn:aws:iam::123456789012:role/NAME)'),
    arg: 'arn',
    help: 'the AWS principal the Kinesis CloudFormation role trusts',
  },
  {
    key: 'cfnTemplateUrl',
    env: 'AUDITSTREAM_CFN_TEMPLATE_URL',
    flag: 'cfnTemplateUrl',
    parse: optUrl(['https:']),
    arg: 'url',
    help: 'where the CloudFormation template is published (S3 URL), for the Auto quick-create link',
  },
  {
    key: 'gcpServiceAccount',
    env: 'AUDITSTREAM_GCP_SERVICE_ACCOUNT',
    flag: 'gcpServiceAccount',
    parse: optMatching(/^[^@\s]+@[^@\s]+$/, 'a service account email'),
    arg: 'email',
    help: "auditstream's GCP identity that impersonates customers' service accounts",
  },
  {
    key: 'apiUrl',
    env: 'AUDITSTREAM_URL',
    flag: 'url',
    parse: url(['http:', 'https:']),
    arg: 'url',
    help: 'the auditstream server the sinks commands call',
    commands: ['sinks'],
  },
  {
    key: 'apiKey',
    env: 'AUDITSTREAM_API_KEY',
    flag: 'apiKey',
    parse: optStr,
    arg: 'key',
    help: 'API key (Owner or Global Admin) the sinks commands act with',
    commands: ['sinks'],
  },
  {
    key: 'secretsKeyPath',
    env: 'AUDITSTREAM_SECRETS_KEY',
    flag: 'secretsKey',
    parse: str,
    arg: 'file',
    help: 'AES-256 key file that encrypts sink secrets at rest',
    defaultText: '<data dir>/secrets-key, generated on first start',
  },
  {
    key: 'sinkAllowPrivateNetworks',
    env: 'AUDITSTREAM_SINK_ALLOW_PRIVATE_NETWORKS',
    flag: 'sinkAllowPrivateNetworks',
    parse: bool,
    arg: 'bool',
    help: 'let sinks reach loopback, private and link-local addresses (tests, single-host setups)',
  },
  {
    key: 'batchWindowMs',
    env: 'AUDITSTREAM_BATCH_WINDOW_MS',
    flag: 'batchWindowMs',
    parse: (raw, name) => int(1, 3_600_000)(raw, name),
    arg: 'ms',
    help: 'how long an object sink (S3) collects records into one object before writing it (or 5 MiB, whichever first)',
    defaultText: '60000',
  },
];

export function defaults(): Omit<Config, 'trustedProxies' | 'signingKeyGenerate' | 'secretsKeyGenerate'> {
  return {
    host: '127.0.0.1',
    httpPort: 7780,
    grpcPort: 7781,
    tlsCert: undefined,
    tlsKey: undefined,
    databaseUrl: DEFAULT_DATABASE_URL,
    dataDir: './data',
    retentionDays: 30,
    trustedProxiesText: '',
    ingestToken: undefined,
    // 50 ms: between the KPL's 100 ms RecordMaxBufferedTime and the Pub/Sub client's 10 ms
    // maxMilliseconds; provider quotas count records and bytes, not calls (README, Streaming).
    flushIntervalMs: DEFAULT_FLUSH_INTERVAL_MS,
    signingKeyPath: '',
    logLevel: 'info',
    maxRecordBytes: 256 * 1024,
    maxCallerIpEntries: 20,
    maxBodyBytes: 8 * 1024 * 1024,
    checkpointIntervalMs: 5 * 60_000,
    retentionIntervalMs: 60_000,
    retentionBatchSize: 10_000,
    metricsAccess: { mode: 'loopback' },
    awsPrincipalArn: undefined,
    cfnTemplateUrl: undefined,
    gcpServiceAccount: undefined,
    apiUrl: 'http://127.0.0.1:7780',
    apiKey: undefined,
    secretsKeyPath: '',
    sinkAllowPrivateNetworks: false,
    batchWindowMs: undefined,
  };
}

/**
 * Resolves the configuration: defaults ← environment ← flags. `flags` holds commander's parsed
 * options (strings); unset flags are skipped. Throws `AS_ERR_INVALID_ARGUMENT` naming the
 * variable or flag at fault.
 */
export function resolveConfig(env: NodeJS.ProcessEnv = process.env, flags: Record<string, unknown> = {}): Readonly<Config> {
  const draft: Record<string, unknown> = { ...defaults() };
  for (const s of SETTINGS) {
    const fromEnv = env[s.env];
    if (fromEnv !== undefined && fromEnv !== '') draft[s.key] = s.parse(fromEnv, s.env);
    const fromFlag = flags[s.flag];
    if (fromFlag !== undefined) draft[s.key] = s.parse(String(fromFlag), flagOf(s));
  }
  const c = draft as unknown as Config;
  if (!LOG_LEVELS.includes(c.logLevel)) {
    throw new AuditError('AS_ERR_INVALID_ARGUMENT', `LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${c.logLevel}"`);
  }
  if (Boolean(c.tlsCert) !== Boolean(c.tlsKey)) {
    throw new AuditError('AS_ERR_INVALID_ARGUMENT', 'AUDITSTREAM_TLS_CERT and AUDITSTREAM_TLS_KEY must be set together');
  }
  if (c.ingestToken !== undefined && c.ingestToken.length < 16) {
    throw new AuditError('AS_ERR_INVALID_ARGUMENT', 'AUDITSTREAM_INGEST_TOKEN must be at least 16 characters');
  }
  c.signingKeyGenerate = c.signingKeyPath === '';
  if (c.signingKeyPath === '') c.signingKeyPath = `${c.dataDir.replace(/\/$/, '')}/signing-key.pem`;
  c.secretsKeyGenerate = c.secretsKeyPath === '';
  if (c.secretsKeyPath === '') c.secretsKeyPath = `${c.dataDir.replace(/\/$/, '')}/secrets-key`;
  c.trustedProxies = parseTrustedProxies(c.trustedProxiesText);
  return Object.freeze(c);
}

/** The configuration of a command: this process's environment, then the command's parsed flags. */
export function configFromCommandLine(flags: Record<string, unknown>): Readonly<Config> {
  return resolveConfig(process.env, flags);
}

/** `--http-port` for `httpPort`. */
export function flagOf(s: Pick<Setting, 'flag'>): string {
  return `--${s.flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/**
 * The standard (not auditstream-specific) variables auditstream's own code reads: the endpoint
 * switches Google's clients and gcloud honour, for the Pub/Sub adapter, which builds its gRPC
 * channel itself. Read at each call, as the SDKs read theirs, so a test or an embedding program
 * may set them at run time. (AWS_*, GOOGLE_* and the like are read by the SDKs themselves.)
 */
export function standardEndpointEnv(env: NodeJS.ProcessEnv = process.env): EndpointEnv {
  return {
    PUBSUB_EMULATOR_HOST: env['PUBSUB_EMULATOR_HOST'],
    CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB: env['CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB'],
    CLOUDSDK_API_ENDPOINT_OVERRIDES_IAMCREDENTIALS: env['CLOUDSDK_API_ENDPOINT_OVERRIDES_IAMCREDENTIALS'],
  };
}

/**
 * The endpoint the AWS SDK's S3 client is redirected to (`AWS_ENDPOINT_URL_S3`, else
 * `AWS_ENDPOINT_URL`, the SDK's own standard variables, as for Kinesis and STS), or undefined on
 * AWS itself. The S3 sink then addresses buckets path-style (`<endpoint>/<bucket>/<key>`), which
 * moto_server and S3-compatible stores need. Read at each call, like the SDK reads them.
 */
export function s3EndpointOverride(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env['AWS_ENDPOINT_URL_S3'] || env['AWS_ENDPOINT_URL'] || undefined;
}
