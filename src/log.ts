/**
 * Structured logs on stdout (pino). Secrets never reach a log line: authorization headers,
 * cookies, passwords and key secrets are redacted wherever they appear in a logged object.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  'password',
  '*.password',
  'api_key',
  '*.api_key',
  'token',
  '*.token',
  'secret',
  '*.secret',
];

export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'auditstream' }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } });
}
