/**
 * Temporary credentials for the customer's role: auditstream's own principal (the SDK's default
 * credential chain; `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_STS` redirect it as for any SDK user)
 * calls STS AssumeRole on `arn:aws:iam::<customer account>:role/<roleName>` with the account's
 * ExternalId. The credentials are cached and refreshed five minutes before they expire (and at
 * once after an ExpiredToken answer).
 */
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { NodeHttpHandler } from '@smithy/node-http-handler';

/** The credentials shape the AWS SDK takes. */
export interface TempCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
}

/** AssumeRole failed: the role cannot be assumed (trust policy, ExternalId, missing role) or STS was unreachable. */
export class RoleAssumptionError extends Error {
  constructor(
    readonly roleArn: string,
    override readonly cause: unknown,
  ) {
    const inner = cause as { name?: string; message?: string };
    super(`cannot assume role ${roleArn}: ${inner?.name ?? 'Error'}: ${inner?.message ?? String(cause)}`);
    this.name = 'RoleAssumptionError';
  }
}

export interface AssumeRoleOptions {
  roleArn: string;
  externalId: string;
  /** Shown in the customer's CloudTrail: `auditstream-<sink name>` (64 characters at most). */
  sessionName: string;
  region: string;
  /** Default 3600 s (AWS allows 900 s up to the role's maximum session duration). */
  durationSeconds?: number;
}

const REFRESH_BEFORE_MS = 5 * 60_000;

export class AssumedRoleCredentials {
  private cached: TempCredentials | undefined;
  private inflight: Promise<TempCredentials> | undefined;
  private sts: STSClient | undefined;

  constructor(private readonly opts: AssumeRoleOptions) {}

  /** Current credentials, assuming the role when there are none or they are about to expire. */
  get(signal?: AbortSignal): Promise<TempCredentials> {
    if (this.cached && this.cached.expiration.getTime() - Date.now() > REFRESH_BEFORE_MS) return Promise.resolve(this.cached);
    this.inflight ??= this.assume(signal).finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  /** Forgets the cached credentials (after ExpiredToken). */
  invalidate(): void {
    this.cached = undefined;
  }

  private async assume(signal?: AbortSignal): Promise<TempCredentials> {
    this.sts ??= new STSClient({
      region: this.opts.region,
      requestHandler: new NodeHttpHandler({ connectionTimeout: 5000, requestTimeout: 15_000 }),
      maxAttempts: 2,
    });
    try {
      const out = await this.sts.send(
        new AssumeRoleCommand({
          RoleArn: this.opts.roleArn,
          RoleSessionName: this.opts.sessionName,
          ExternalId: this.opts.externalId,
          DurationSeconds: this.opts.durationSeconds ?? 3600,
        }),
        signal ? { abortSignal: signal } : {},
      );
      const c = out.Credentials;
      if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken) throw new Error('AssumeRole answered without credentials');
      this.cached = {
        accessKeyId: c.AccessKeyId,
        secretAccessKey: c.SecretAccessKey,
        sessionToken: c.SessionToken,
        expiration: c.Expiration ?? new Date(Date.now() + 15 * 60_000),
      };
      return this.cached;
    } catch (err) {
      throw new RoleAssumptionError(this.opts.roleArn, err);
    }
  }

  close(): void {
    this.sts?.destroy();
  }
}

/** RoleSessionName allows `[\w+=,.@-]{2,64}`. */
export function sessionNameFor(sinkName: string): string {
  return `auditstream-${sinkName}`.replace(/[^\w+=,.@-]/g, '-').slice(0, 64);
}
