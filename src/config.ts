/**
 * Every setting auditstream has, its default and its environment variable, in one place
 * (shared/INTERFACES.md is the operator-facing list). Resolved once — defaults, then environment,
 * then command-line flags (a flag wins) — validated, and frozen. There is no configuration file.
 */
import { AuditError } from './errors.js';
import { parseTrustedProxies, type TrustedProxies } from './record/caller-ip.js';
import { parseMetricsAccess, type MetricsAccess } from './api/metrics-access.js';

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
  /** Largest encoded record ingest accepts (DECISIONS.md: 256 KiB). */
  maxRecordBytes: number;
  /** Most entries in `caller_ip_address` (DECISIONS.md: 20). */
  maxCallerIpEntries: number;
  /** Largest request body (DECISIONS.md: 8 MiB); larger gets 413. */
  maxBodyBytes: number;
  checkpointIntervalMs: number;
  retentionIntervalMs: number;
  retentionBatchSize: number;
  /** Who may read /metrics: loopback callers (default), a bearer token, or anyone. */
  metricsAccess: MetricsAccess;
}

/** One setting: its env var, flag name (commander camelCase) and parser. */
interface Setting<K extends keyof Config> {
  key: K;
  env: string;
  flag: string;
  parse: (raw: string, name: string) => Config[K];
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

const SETTINGS: Setting<keyof Config>[] = [
  { key: 'host', env: 'AUDITSTREAM_HOST', flag: 'host', parse: str },
  { key: 'httpPort', env: 'AUDITSTREAM_HTTP_PORT', flag: 'httpPort', parse: int(0, 65535) },
  { key: 'grpcPort', env: 'AUDITSTREAM_GRPC_PORT', flag: 'grpcPort', parse: int(0, 65535) },
  { key: 'tlsCert', env: 'AUDITSTREAM_TLS_CERT', flag: 'tlsCert', parse: optStr },
  { key: 'tlsKey', env: 'AUDITSTREAM_TLS_KEY', flag: 'tlsKey', parse: optStr },
  { key: 'databaseUrl', env: 'DATABASE_URL', flag: 'databaseUrl', parse: str },
  { key: 'dataDir', env: 'AUDITSTREAM_DATA_DIR', flag: 'dataDir', parse: str },
  { key: 'retentionDays', env: 'AUDITSTREAM_RETENTION_DAYS', flag: 'retentionDays', parse: int(1, 36500) },
  { key: 'trustedProxiesText', env: 'AUDITSTREAM_TRUSTED_PROXIES', flag: 'trustedProxies', parse: str },
  { key: 'ingestToken', env: 'AUDITSTREAM_INGEST_TOKEN', flag: 'ingestToken', parse: optStr },
  { key: 'flushIntervalMs', env: 'AUDITSTREAM_FLUSH_INTERVAL_MS', flag: 'flushIntervalMs', parse: int(1, 3_600_000) },
  { key: 'signingKeyPath', env: 'AUDITSTREAM_SIGNING_KEY', flag: 'signingKey', parse: str },
  { key: 'logLevel', env: 'LOG_LEVEL', flag: 'logLevel', parse: str },
  { key: 'maxRecordBytes', env: 'AUDITSTREAM_MAX_RECORD_BYTES', flag: 'maxRecordBytes', parse: int(1024, 64 * 1024 * 1024) },
  { key: 'maxCallerIpEntries', env: 'AUDITSTREAM_MAX_CALLER_IP_ENTRIES', flag: 'maxCallerIpEntries', parse: int(1, 1000) },
  { key: 'maxBodyBytes', env: 'AUDITSTREAM_MAX_BODY_BYTES', flag: 'maxBodyBytes', parse: int(1024, 1024 * 1024 * 1024) },
  { key: 'checkpointIntervalMs', env: 'AUDITSTREAM_CHECKPOINT_INTERVAL_MS', flag: 'checkpointIntervalMs', parse: int(1000, 86_400_000) },
  { key: 'retentionIntervalMs', env: 'AUDITSTREAM_RETENTION_INTERVAL_MS', flag: 'retentionIntervalMs', parse: int(1000, 86_400_000) },
  { key: 'retentionBatchSize', env: 'AUDITSTREAM_RETENTION_BATCH_SIZE', flag: 'retentionBatchSize', parse: int(1, 1_000_000) },
  { key: 'metricsAccess', env: 'AUDITSTREAM_METRICS_ACCESS', flag: 'metricsAccess', parse: parseMetricsAccess },
];

/** The environment variable of each setting, for `--help` texts. */
export const ENV_OF: Readonly<Record<string, string>> = Object.fromEntries(SETTINGS.map((s) => [s.flag, s.env]));

export function defaults(): Omit<Config, 'trustedProxies' | 'signingKeyGenerate'> {
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
    if (fromFlag !== undefined) draft[s.key] = s.parse(String(fromFlag), `--${s.flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
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
  c.trustedProxies = parseTrustedProxies(c.trustedProxiesText);
  return Object.freeze(c);
}
