/**
 * What every control-plane handler shares: the store, configuration, the authenticator, and the
 * hook that tells delivery an account's chain moved. Built once by `createControlPlane`.
 */
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { AuditStore } from '../store/store.js';
import type { AccountCaller } from '../api/auth.js';
import type { CallContext } from '../api/cloud/handlers.js';
import type { ApiMetrics } from '../api/metrics.js';

export interface ControlPlane {
  store: AuditStore;
  config: Readonly<Config>;
  logger: Logger | undefined;
  metrics: ApiMetrics | undefined;
  /** Authenticates a Cloud API call (API key, or session cookie + CSRF token on HTTP). */
  authenticate(ctx: CallContext): Promise<AccountCaller>;
  /** Called after each commit that appended records to `accountId`'s chain. */
  onCommit(accountId: string): void;
  /** The delivery engine of this process, told when an account's sinks changed. */
  delivery: DeliveryHooks;
}

export interface DeliveryHooks {
  sinksChanged(accountId: string): void;
  /** The engines' lease TTL (how long a dead holder can block a delete). Default 15 s. */
  readonly leaseTtlMs?: number;
  /**
   * How long DeleteAccountAuditLogSink waits for the delivering process to let go before it
   * answers with the operation STATE_IN_PROGRESS (it completes when that holder's lease ends).
   */
  readonly deleteWaitMs?: number;
}
