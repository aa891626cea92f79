/**
 * Writes of namespace rows, and of users' namespace permissions, guarded by resource_version
 * (optimistic concurrency that holds across processes, on both engines).
 */
import { failedPrecondition } from '../../errors.js';
import type { StoreTx } from '../../store/store.js';
import { newResourceVersion, type NamespaceRow, type UserRow } from '../model.js';
import type { StoredSpec } from './spec.js';

/**
 * Writes a namespace row's changes if it is still at `row.resource_version` (optimistic
 * concurrency that holds across processes, on both engines).
 */
export async function saveNamespace(
  tx: StoreTx,
  row: NamespaceRow,
  changes: { spec?: StoredSpec; activeRegion?: string },
  op: { id: string; now: number },
): Promise<void> {
  const r = await tx.run(
    'UPDATE namespaces SET spec_json = ?, active_region = ?, resource_version = ?, async_operation_id = ?, modified_ms = ? WHERE namespace = ? AND resource_version = ?',
    [
      changes.spec ? JSON.stringify(changes.spec) : row.spec_json,
      changes.activeRegion ?? row.active_region,
      newResourceVersion(),
      op.id,
      op.now,
      row.namespace,
      row.resource_version,
    ],
  );
  if (r.changes !== 1) throw failedPrecondition(`namespace ${row.namespace} was modified concurrently: read it again and retry`);
}

/**
 * Changes one user's namespace permissions (read-modify-write guarded by the user's
 * resource_version, so a concurrent UpdateUser is neither lost nor overwritten). Bumps the
 * user's resource_version: a client holding the old one must re-read.
 */
export async function editAccess(tx: StoreTx, userId: string, now: number, edit: (access: Record<string, string>) => boolean): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const user = await tx.get<Pick<UserRow, 'namespace_access_json' | 'resource_version'>>(
      'SELECT namespace_access_json, resource_version FROM users WHERE id = ?',
      [userId],
    );
    if (!user) return;
    const access = JSON.parse(user.namespace_access_json) as Record<string, string>;
    if (!edit(access)) return;
    const r = await tx.run('UPDATE users SET namespace_access_json = ?, resource_version = ?, modified_ms = ? WHERE id = ? AND resource_version = ?', [
      JSON.stringify(access),
      newResourceVersion(),
      now,
      userId,
      user.resource_version,
    ]);
    if (r.changes === 1) return;
  }
  throw failedPrecondition(`user ${userId} is being modified concurrently: retry`);
}
