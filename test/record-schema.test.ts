import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CATEGORIES,
  FIELD_ORDER,
  LEVELS,
  STATUSES,
  LOG_ID_PATTERN,
  newLogId,
  normalizeRecord,
  serializeRecord,
  type AcceptedRecord,
  type AuditRecord,
} from '../src/record/record.js';
import { MAX_CALLER_IP_ENTRIES, MAX_RECORD_BYTES } from '../src/record/limits.js';
import { checkRecordSize, recordByteLength } from '../src/record/record.js';
import { createRecordValidators, validateAccepted, validateEmitted } from '../src/record/schema.js';
import type { SchemaResult } from '../src/record/schema-errors.js';
import { findRepoRoot, readSchema } from '../src/record/schema-files.js';

const root = findRepoRoot();
/** The 7 published sample records (docs/record-format.md), verbatim (000's pretty-printed one compacted). */
const seedLines = readFileSync(join(root, 'test/fixtures/seed-records.jsonl'), 'utf8')
  .split('\n')
  .filter((l) => l !== '');
const seeds = seedLines.map((l) => JSON.parse(l) as Record<string, unknown>);
const base = (): Record<string, unknown> => structuredClone(seeds[1]!);
const emittedBase = (): Record<string, unknown> =>
  JSON.parse(serializeRecord(normalizeRecord(seeds[1] as unknown as AcceptedRecord))) as Record<string, unknown>;

function assertFails(result: SchemaResult, field: string, message?: string | RegExp): void {
  assert.equal(result.ok, false, `expected a failure on ${field}`);
  if (result.ok) return;
  assert.equal(result.field, field, `field (message was: ${result.message})`);
  if (typeof message === 'string') assert.equal(result.message, message);
  else if (message) assert.match(result.message, message);
  assert.doesNotMatch(result.message, /\n/);
}

function withIps(n: number): string {
  return Array.from({ length: n }, (_, i) => `10.0.0.${i + 1}`).join(', ');
}

describe('schema files', () => {
  for (const profile of ['accepted', 'emitted'] as const) {
    test(`${profile}: $id, title, description, closed enums matching record.ts`, () => {
      const s = readSchema(profile) as {
        $id?: string;
        title?: string;
        description?: string;
        additionalProperties?: boolean;
        properties: Record<string, { enum?: string[] }>;
      };
      assert.ok(s.$id && s.title && s.description);
      assert.equal(s.additionalProperties, false);
      assert.deepEqual(s.properties['level']!.enum, [...LEVELS]);
      assert.deepEqual(s.properties['status']!.enum, [...STATUSES]);
      assert.deepEqual(s.properties['category']!.enum, [...CATEGORIES]);
      assert.deepEqual(Object.keys(s.properties).sort(), [...FIELD_ORDER].sort());
    });
  }
});

describe('seed samples', () => {
  test('the fixture holds all 7 samples', () => {
    assert.equal(seeds.length, 7);
  });

  seeds.forEach((seed, i) => {
    test(`sample ${i} (${String(seed['operation'])}) validates verbatim against accepted`, () => {
      assert.deepEqual(validateAccepted(seed), { ok: true });
    });

    test(`sample ${i} normalized validates against emitted`, () => {
      const rec = normalizeRecord(seed as unknown as AcceptedRecord);
      assert.deepEqual(validateEmitted(rec), { ok: true });
      assert.deepEqual(validateEmitted(JSON.parse(serializeRecord(rec))), { ok: true });
      assert.equal(rec.version, 1);
      assert.equal(rec.log_id, seed['log_id']);
    });
  });

  test('003 samples re-serialize byte-identically but for the added caller_ip_address and version', () => {
    let identical = 0;
    for (const line of seedLines.slice(1)) {
      let expected = line.replace('"operation":', '"caller_ip_address":"","operation":').replace('"log_id":', '"version":1,"log_id":');
      // The samples print request_id before principal, but the guide's field list (which
      // docs/decisions/0001 makes the output order) ends with it: the one deliberate difference.
      const rid = /,"request_id":"[^"]*"/.exec(expected);
      if (rid !== null) expected = `${expected.replace(rid[0], '').slice(0, -1)}${rid[0]}}`;
      else identical++;
      assert.equal(serializeRecord(normalizeRecord(JSON.parse(line) as AcceptedRecord)), expected);
    }
    assert.equal(identical, 4);
  });

  test('000 sample re-serializes in the documented field order with version added', () => {
    const out = serializeRecord(normalizeRecord(seeds[0] as unknown as AcceptedRecord));
    assert.deepEqual(
      Object.keys(JSON.parse(out) as object),
      FIELD_ORDER.filter((k) => k !== 'request_id' || seeds[0]!['request_id'] !== undefined),
    );
    assert.deepEqual(JSON.parse(out), { ...seeds[0], version: 1 });
    assert.match(out, /"user_email":"user1@example.com","caller_ip_address":"10.1.2.3, 10.4.5.6","operation"/);
  });
});

describe('accepted profile', () => {
  test('takes fractional seconds, offsets, version 1, api_key_id and 20 caller IP entries', () => {
    for (const emit_time of ['2023-11-14T07:56:55.123Z', '2023-11-14T09:56:55+02:00', '2023-11-14T07:56:55.5-05:30']) {
      assert.deepEqual(validateAccepted({ ...base(), emit_time }), { ok: true }, emit_time);
    }
    const p = { ...(base()['principal'] as object), type: 'serviceaccount', api_key_id: 'key-1' };
    assert.deepEqual(validateAccepted({ ...base(), version: 1, principal: p }), { ok: true });
    assert.deepEqual(validateAccepted({ ...base(), caller_ip_address: withIps(MAX_CALLER_IP_ENTRIES) }), { ok: true });
  });

  test('takes the minimal record (only the required fields)', () => {
    const r = base();
    for (const k of ['user_email', 'details', 'log_id']) delete r[k];
    assert.deepEqual(validateAccepted(r), { ok: true });
    const n = normalizeRecord(r as unknown as AcceptedRecord, '0'.repeat(32));
    assert.deepEqual(validateEmitted(n), { ok: true });
  });

  for (const k of ['emit_time', 'level', 'operation', 'status', 'category', 'principal']) {
    test(`missing ${k}`, () => {
      const r = base();
      delete r[k];
      assertFails(validateAccepted(r), k, `${k} is required`);
    });
  }

  test('missing principal.id / principal.name', () => {
    for (const k of ['id', 'type', 'name']) {
      const r = base();
      const p = { ...(r['principal'] as Record<string, unknown>) };
      delete p[k];
      r['principal'] = p;
      assertFails(validateAccepted(r), `principal.${k}`, `principal.${k} is required`);
    }
  });

  test('bad enums', () => {
    assertFails(validateAccepted({ ...base(), level: 'INFO' }), 'level', 'level must be one of LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR');
    assertFails(validateAccepted({ ...base(), status: 'FAILED' }), 'status', 'status must be one of OK, ERROR');
    assertFails(validateAccepted({ ...base(), category: 'LOG_CATEGORY_DATA' }), 'category', /must be one of LOG_CATEGORY_ADMIN/);
    assertFails(
      validateAccepted({ ...base(), principal: { id: 'x', type: 'robot', name: 'r' } }),
      'principal.type',
      'principal.type must be one of user, serviceaccount, apikey',
    );
  });

  test('bad emit_time', () => {
    for (const emit_time of [
      '2023-11-14 07:56:55Z', // space separator: RFC 3339 allows it, auditstream does not
      '2023-11-14T07:56:55', // no zone
      '2023-02-30T07:56:55Z', // no such day
      '2023-11-14T24:00:00Z',
      '2016-12-31T23:59:60Z', // leap second: Date.parse cannot read it
      '1700000000',
      'yesterday',
    ]) {
      assertFails(validateAccepted({ ...base(), emit_time }), 'emit_time', /RFC 3339/);
    }
    assertFails(validateAccepted({ ...base(), emit_time: 1700000000 }), 'emit_time', 'emit_time must be a string');
  });

  test('unknown top-level key', () => {
    assertFails(validateAccepted({ ...base(), foo: 1 }), 'foo', 'unknown field "foo"');
    assertFails(validateAccepted({ ...base(), account_id: 'a' }), 'account_id', 'unknown field "account_id"');
  });

  test('unknown principal key', () => {
    const r = base();
    r['principal'] = { ...(r['principal'] as object), email: 'x@example.com' };
    assertFails(validateAccepted(r), 'principal.email', 'unknown field "email" in principal');
  });

  test('odd and huge unknown keys stay readable and short', () => {
    assertFails(validateAccepted({ ...base(), 'we ird': 1 }), '["we ird"]', 'unknown field "we ird"');
    const r = validateAccepted({ ...base(), ['k\n'.repeat(10000)]: 1 });
    assertFails(r, r.ok ? '' : r.field);
    assert.ok(!r.ok && r.message.length < 200 && r.field.length < 200);
  });

  test('bad log_id', () => {
    for (const log_id of [
      '0MC69C0323B871293CE231DD1C7FB634',
      '0mc69c0323b871293ce231dd1c7fb63',
      '0mc69c0323b871293ce231dd1c7fb634x',
      '0mc69c0323b871293ce231dd1c7fb63-',
    ]) {
      assertFails(validateAccepted({ ...base(), log_id }), 'log_id', 'log_id must be 32 lowercase letters or digits');
    }
  });

  test('too many caller IP entries', () => {
    assertFails(
      validateAccepted({ ...base(), caller_ip_address: withIps(MAX_CALLER_IP_ENTRIES + 1) }),
      'caller_ip_address',
      'caller_ip_address must have at most 20 comma-separated entries',
    );
    assertFails(validateAccepted({ ...base(), caller_ip_address: ','.repeat(20) }), 'caller_ip_address');
  });

  test('version other than 1', () => {
    assertFails(validateAccepted({ ...base(), version: 2 }), 'version', 'version must be 1');
    assertFails(validateAccepted({ ...base(), version: '1' }), 'version', 'version must be an integer');
    assertFails(validateAccepted({ ...base(), version: 1.5 }), 'version', 'version must be an integer');
  });

  test('wrong types and lengths', () => {
    assertFails(validateAccepted({ ...base(), details: [] }), 'details', 'details must be an object');
    assertFails(validateAccepted({ ...base(), details: 'x' }), 'details', 'details must be an object');
    assertFails(validateAccepted({ ...base(), operation: '' }), 'operation', 'operation must not be empty');
    assertFails(validateAccepted({ ...base(), operation: 'X'.repeat(129) }), 'operation', 'operation must be at most 128 characters');
    assertFails(validateAccepted({ ...base(), user_email: `${'u'.repeat(310)}@example.com` }), 'user_email', /at most 320/);
    assertFails(validateAccepted({ ...base(), request_id: 7 }), 'request_id', 'request_id must be a string');
    assertFails(validateAccepted({ ...base(), principal: 'alice' }), 'principal', 'principal must be an object');
    assertFails(validateAccepted({ ...base(), principal: { id: '', type: 'user', name: 'a' } }), 'principal.id', 'principal.id must not be empty');
  });

  test('not an object at all', () => {
    for (const v of [null, [], 'record', 42, undefined]) assertFails(validateAccepted(v), '', 'record must be an object');
  });
});

describe('emitted profile', () => {
  test('a normalized record passes', () => {
    assert.deepEqual(validateEmitted(emittedBase()), { ok: true });
  });

  for (const k of ['emit_time', 'level', 'user_email', 'caller_ip_address', 'operation', 'details', 'status', 'category', 'version', 'log_id', 'principal']) {
    test(`missing ${k}`, () => {
      const r = emittedBase();
      delete r[k];
      assertFails(validateEmitted(r), k, `${k} is required`);
    });
  }

  test('request_id stays optional but never empty', () => {
    const r = emittedBase();
    delete r['request_id'];
    assert.deepEqual(validateEmitted(r), { ok: true });
    assertFails(validateEmitted({ ...r, request_id: '' }), 'request_id', 'request_id must not be empty');
  });

  test('emit_time must be whole UTC seconds', () => {
    for (const emit_time of ['2023-10-24T08:19:41.000Z', '2023-10-24T10:19:41+02:00', '2023-10-24t08:19:41z', '2023-13-24T08:19:41Z']) {
      assertFails(
        validateEmitted({ ...emittedBase(), emit_time }),
        'emit_time',
        'emit_time must be an RFC 3339 UTC time with whole seconds (YYYY-MM-DDTHH:MM:SSZ)',
      );
    }
  });

  test('negatives', () => {
    assertFails(validateEmitted({ ...emittedBase(), version: 2 }), 'version', 'version must be 1');
    assertFails(validateEmitted({ ...emittedBase(), level: 'LOG_LEVEL_DEBUG' }), 'level', /must be one of/);
    assertFails(validateEmitted({ ...emittedBase(), status: 'ok' }), 'status', 'status must be one of OK, ERROR');
    assertFails(validateEmitted({ ...emittedBase(), extra: true }), 'extra', 'unknown field "extra"');
    assertFails(validateEmitted({ ...emittedBase(), log_id: 'abc' }), 'log_id');
    assertFails(validateEmitted({ ...emittedBase(), caller_ip_address: withIps(21) }), 'caller_ip_address');
    assertFails(validateEmitted({ ...emittedBase(), details: null }), 'details', 'details must be an object');
  });

  test('normalizeRecord canonicalizes an accepted emit_time with offset or fraction', () => {
    const r = normalizeRecord({ ...(base() as unknown as AcceptedRecord), emit_time: '2023-11-14T09:56:55.987+02:00' });
    assert.equal(r.emit_time, '2023-11-14T07:56:55Z');
    assert.deepEqual(validateEmitted(r), { ok: true });
  });
});

describe('log ids', () => {
  test('32 characters of [0-9a-z], all distinct; the 23 random ones each about equally likely', () => {
    const n = 20_000; // 460,000 random characters: over several refills of the 8 KiB random pool
    const ids = Array.from({ length: n }, () => newLogId());
    for (const id of ids) assert.match(id, LOG_ID_PATTERN);
    assert.equal(new Set(ids).size, n);
    const counts = new Map<string, number>();
    for (const id of ids) for (const ch of id.slice(9)) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    assert.equal(counts.size, 36);
    // Expected 12,778 each; a biased mapping (e.g. b % 36 without rejecting 252..255) puts the
    // first four characters ~12 % high, far outside this chi-square bound (35 df, p ≈ 1e-6: 90).
    const expected = (n * 23) / 36;
    const chi2 = [...counts.values()].reduce((a, c) => a + (c - expected) ** 2 / expected, 0);
    assert.ok(chi2 < 90, `chi-square ${chi2.toFixed(1)} over 35 degrees of freedom`);
  });

  test('the first 9 characters are the creation time: ids sort by it, whatever the random part', () => {
    const now = Date.now();
    assert.equal(parseInt(newLogId(now).slice(0, 9), 36), now);
    // Random pairs of times from 1970 to the year 5138 (36^9 ms), and neighbours a millisecond apart.
    let seed = 12345;
    const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (let k = 0; k < 5000; k++) {
      const a = Math.floor(next() * (36 ** 9 - 2));
      const b = k % 2 === 0 ? a + 1 : Math.floor(next() * (36 ** 9 - 1));
      if (a === b) continue;
      const [x, y] = [newLogId(a), newLogId(b)];
      assert.match(x, LOG_ID_PATTERN);
      assert.equal(x < y, a < b, `${a} -> ${x}, ${b} -> ${y}`);
    }
  });
});

describe('limits', () => {
  test('record size', () => {
    const rec = normalizeRecord(seeds[1] as unknown as AcceptedRecord);
    assert.equal(recordByteLength(rec), Buffer.byteLength(serializeRecord(rec)));
    assert.deepEqual(checkRecordSize(rec), { ok: true });
    const big: AuditRecord = { ...rec, details: { blob: 'é'.repeat(MAX_RECORD_BYTES / 2) } };
    assertFails(checkRecordSize(big), '', /over the limit of 262144 bytes/);
    assert.deepEqual(checkRecordSize(big, 1024 * 1024), { ok: true });
  });

  test('caller IP entry limit is a setting', () => {
    const v = createRecordValidators({ maxCallerIpEntries: 3 });
    assert.deepEqual(v.validateAccepted({ ...base(), caller_ip_address: withIps(3) }), { ok: true });
    assertFails(
      v.validateAccepted({ ...base(), caller_ip_address: withIps(4) }),
      'caller_ip_address',
      'caller_ip_address must have at most 3 comma-separated entries',
    );
    const wide = createRecordValidators({ maxCallerIpEntries: 50 });
    assert.deepEqual(wide.validateEmitted({ ...emittedBase(), caller_ip_address: withIps(50) }), { ok: true });
    assert.throws(() => createRecordValidators({ maxCallerIpEntries: 0 }), RangeError);
  });

  test('a pathological caller_ip_address is refused quickly', () => {
    const t0 = performance.now();
    assertFails(validateAccepted({ ...base(), caller_ip_address: ',a'.repeat(1000) }), 'caller_ip_address');
    assert.ok(performance.now() - t0 < 100);
  });
});
