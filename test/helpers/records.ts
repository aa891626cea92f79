/** Builders for test records in the emitted shape. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { newLogId, normalizeRecord, type AuditRecord } from '../../src/record/record.js';

let n = 0;

export function makeRecord(over: Partial<AuditRecord> = {}): AuditRecord {
  n++;
  return normalizeRecord({
    emit_time: over.emit_time ?? new Date(Date.UTC(2026, 0, 1, 0, 0, n % 60)).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    level: 'LOG_LEVEL_INFO',
    user_email: `user${n % 7}@example.com`,
    caller_ip_address: '10.1.2.3, 10.4.5.6',
    operation: 'UpdateNamespace',
    details: { namespace: `ns-${n % 3}.example`, search_attribute_update: {} },
    status: 'OK',
    category: 'LOG_CATEGORY_ADMIN',
    principal: { id: `p-${n % 5}`, type: 'user', name: `user${n % 7}@example.com` },
    ...over,
    log_id: over.log_id ?? newLogId(),
  });
}

/**
 * A record as an external client posts it to `/api/v1/audit-logs`: only the required fields
 * (operation `ExternalThing` by ext@example.com), so the server fills in the rest.
 */
export function externalRecord() {
  return {
    emit_time: '2026-01-01T00:00:00Z',
    level: 'LOG_LEVEL_INFO',
    operation: 'ExternalThing',
    status: 'OK',
    category: 'LOG_CATEGORY_ADMIN',
    principal: { id: 'ext-1', type: 'user', name: 'ext@example.com' },
  };
}

/** The records of test/fixtures/seed-records.jsonl (one JSON record a line), parsed. */
export function seedRecords(): Record<string, unknown>[] {
  return readFileSync(fileURLToPath(new URL('../../../test/fixtures/seed-records.jsonl', import.meta.url)), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

let seeds: Record<string, unknown>[] | undefined;

/**
 * POSTs `count` fixture records to serve at `url`: the i-th is seed `first + i` (cycling), without
 * its log_id (the server assigns one), user_email `${prefix}-${first + i}@example.com`. Asserts 201.
 */
export async function ingestSeeds(url: string, apiKey: string, count: number, first: number, prefix: string): Promise<void> {
  const all = (seeds ??= seedRecords());
  const records = Array.from({ length: count }, (_, i) => {
    const r: Record<string, unknown> = { ...all[(first + i) % all.length]!, user_email: `${prefix}-${first + i}@example.com` };
    delete r['log_id'];
    return r;
  });
  const res = await fetch(`${url}/api/v1/audit-logs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ records }),
  });
  assert.equal(res.status, 201, await res.text());
}
