/**
 * `POST /api/v1/integrity/verify`: recomputes the caller's own account chain now and checks it
 * against the signed checkpoints (stored, and the ChainCheckpoint records inside the chain), as
 * `auditstream verify --account` does, for the console's Integrity page. Owner and Global Admin
 * (rule `VerifyAuditLogs`); it changes nothing, so an allowed call leaves no record and a refused
 * one leaves the usual ERROR record. A POST (work is done on request), so a session needs its
 * CSRF token.
 */
import type { KeyObject } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { httpContext } from '../api/cloud/http-routes.js';
import { verifyAccount } from '../chain/verify.js';
import type { ControlPlane } from './context.js';
import { runRead } from './mutation.js';

/** The public key that signs this deployment's checkpoints. */
export interface CheckpointKey {
  keyId: string;
  publicKey: KeyObject;
}

export function registerIntegrityRoutes(app: FastifyInstance, cp: ControlPlane, key: CheckpointKey | undefined): void {
  app.post('/api/v1/integrity/verify', async (req) => {
    const caller = await cp.authenticate(httpContext('VerifyAuditLogs', req));
    return runRead(caller, 'VerifyAuditLogs', undefined, async () => {
      const trustedKeys = new Map<string, KeyObject>(key ? [[key.keyId, key.publicKey]] : []);
      const r = await verifyAccount(cp.store, caller.accountId, { trustedKeys });
      return {
        ok: r.ok,
        checked: r.checked,
        from_seq: r.fromSeq,
        to_seq: r.toSeq,
        checkpoints_checked: r.checkpointsChecked,
        key_id: key?.keyId ?? null,
        ...(r.break ? { break: { sequence: r.break.seq, reason: r.break.reason, kind: r.break.kind } } : {}),
      };
    });
  });
}
