/**
 * Async operations that finish after their request returned. A sink delete is acknowledged at
 * once but completes only when the process delivering that sink has let go (a dead one's lease
 * must expire first): the operation stays STATE_IN_PROGRESS, tied to the sink by `resource_id`,
 * and whoever removes the sink marks it STATE_FULFILLED in the same transaction
 * (src/delivery/sql/finish-deletion.ts).
 */
import type { Migration } from './index.js';

const sql = `
ALTER TABLE async_operations ADD COLUMN resource_id TEXT;
CREATE INDEX async_operations_resource ON async_operations (resource_id, state);
`;

export const m0004: Migration = { id: '0004_operation_resource', sqlite: sql, postgres: sql };
