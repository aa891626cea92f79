import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { AuditError } from '../src/errors.js';
import { MAX_CALLER_IP_ENTRY_CHARS, buildCallerIpChain, evaluateCallerIp, normalizeIp, parseTrustedProxies } from '../src/record/caller-ip.js';
import { validateAccepted, validateEmitted } from '../src/record/schema.js';

const none = parseTrustedProxies('');
const lb = parseTrustedProxies('10.0.0.0/8, 192.168.1.1 fd00::/8');

describe('parseTrustedProxies', () => {
  test('CIDRs and single addresses, comma and/or space separated, IPv4 and IPv6', () => {
    const t = parseTrustedProxies(' 10.0.0.0/8,192.168.1.1  2001:DB8::/32\t::1 , ');
    assert.deepEqual(t.entries, ['10.0.0.0/8', '192.168.1.1/32', '2001:db8::/32', '::1/128']);
    assert.ok(t.has('10.255.0.1'));
    assert.ok(t.has('192.168.1.1'));
    assert.ok(!t.has('192.168.1.2'));
    assert.ok(t.has('2001:db8:ffff::1'));
    assert.ok(!t.has('2001:db9::1'));
    assert.ok(t.has('::1'));
    assert.ok(t.has('[::1]:443'));
    assert.ok(t.has('10.1.1.1:8080'));
    assert.ok(!t.has('not an ip'));
  });

  test('empty trusts nothing', () => {
    assert.deepEqual(none.entries, []);
    assert.ok(!none.has('127.0.0.1'));
  });

  test('named ranges', () => {
    const t = parseTrustedProxies('loopback, uniquelocal');
    for (const a of ['127.0.0.1', '::1', '10.1.2.3', '172.16.0.1', '192.168.0.9', 'fd12::1']) assert.ok(t.has(a), a);
    assert.ok(!t.has('8.8.8.8'));
  });

  test('IPv4-mapped IPv6: ranges and addresses meet either way', () => {
    assert.ok(lb.has('::ffff:10.1.2.3'));
    assert.ok(lb.has('::ffff:a01:203'));
    const mapped = parseTrustedProxies('::ffff:172.16.0.0/108');
    assert.deepEqual(mapped.entries, ['172.16.0.0/12']);
    assert.ok(mapped.has('172.20.1.1'));
  });

  test('bad entries throw AS_ERR_INVALID_ARGUMENT naming the entry', () => {
    for (const bad of [
      '10.0.0.0/33',
      '::/129',
      '10.0.0/8',
      '10.0.0.0/',
      '10.0.0.0/8/8',
      'proxy.example.com',
      '10.0.0.0/-1',
      '10.0.0.0/08',
      '[::1]',
      '1.2.3.4:80',
      'fe80::1%eth0',
      '::ffff:10.0.0.0/64',
      '010.0.0.1',
    ]) {
      assert.throws(
        () => parseTrustedProxies(`127.0.0.1, ${bad}`),
        (err: unknown) => {
          assert.ok(err instanceof AuditError);
          assert.equal(err.code, 'AS_ERR_INVALID_ARGUMENT');
          assert.ok(err.message.includes(`"${bad}"`), err.message);
          assert.deepEqual(err.details, { entry: bad });
          return true;
        },
        bad,
      );
    }
  });
});

describe('normalizeIp', () => {
  test('forms', () => {
    const cases: [string, string | null][] = [
      ['1.2.3.4', '1.2.3.4'],
      [' 1.2.3.4 ', '1.2.3.4'],
      ['1.2.3.4:5678', '1.2.3.4'],
      ['1.2.3.4:65536', null],
      ['::ffff:1.2.3.4', '1.2.3.4'],
      ['::FFFF:0102:0304', '1.2.3.4'],
      ['[::ffff:1.2.3.4]:80', '1.2.3.4'],
      ['2001:0DB8:0:0:0:0:0:1', '2001:db8::1'],
      ['[2001:db8::1]', '2001:db8::1'],
      ['[2001:db8::1]:443', '2001:db8::1'],
      ['fe80::1%eth0', 'fe80::1'],
      ['[1.2.3.4]', null],
      ['1.2.3', null],
      ['01.2.3.4', null],
      ['256.1.1.1', null],
      ['unknown', null],
      ['_hidden', null],
      ['', null],
      ['1.2.3.4 5.6.7.8', null],
      ['::1:80', '::1:80'], // a valid IPv6 address, not ::1 with a port
    ];
    for (const [input, out] of cases) assert.equal(normalizeIp(input), out, input);
  });
});

describe('evaluateCallerIp', () => {
  test('seed example with no trusted proxies: the last entry is the caller', () => {
    assert.equal(evaluateCallerIp('10.1.2.3, 10.4.5.6', none), '10.4.5.6');
  });

  test('skips trusted hops from the end (IPv4)', () => {
    assert.equal(evaluateCallerIp('203.0.113.7, 10.0.0.5, 10.0.0.6', lb), '203.0.113.7');
    assert.equal(evaluateCallerIp('203.0.113.7, 198.51.100.1, 10.0.0.6', lb), '198.51.100.1');
  });

  test('IPv6 and mixed chains', () => {
    assert.equal(evaluateCallerIp('2001:db8::7, fd00::1', lb), '2001:db8::7');
    assert.equal(evaluateCallerIp('[2001:DB8::7]:51000, ::ffff:10.0.0.1', lb), '2001:db8::7');
    assert.equal(evaluateCallerIp('198.51.100.9:40000, fd00::2, 10.0.0.1', lb), '198.51.100.9');
    assert.equal(evaluateCallerIp('::ffff:198.51.100.9', none), '198.51.100.9');
  });

  test('spoofed prefix: a client-sent X-Forwarded-For never hides the real client', () => {
    // The client 198.51.100.23 sends "X-Forwarded-For: 6.6.6.6" through the trusted proxy 10.0.0.5.
    const chain = buildCallerIpChain('6.6.6.6, 198.51.100.23', '10.0.0.5');
    assert.equal(chain, '6.6.6.6, 198.51.100.23, 10.0.0.5');
    assert.equal(evaluateCallerIp(chain, lb), '198.51.100.23');
    // Directly connected client (no trusted proxy): its own header is ignored entirely.
    const direct = buildCallerIpChain('6.6.6.6', '198.51.100.23');
    assert.equal(evaluateCallerIp(direct, lb), '198.51.100.23');
    // A client claiming to be a trusted proxy only moves the answer if the hop itself is trusted.
    assert.equal(evaluateCallerIp(buildCallerIpChain('6.6.6.6, 10.0.0.9', '198.51.100.23'), lb), '198.51.100.23');
    // Only when the client really is a trusted hop does the evaluation continue into its header.
    assert.equal(evaluateCallerIp(buildCallerIpChain('6.6.6.6', '10.0.0.9'), lb), '6.6.6.6');
  });

  test('malformed entries stop the walk before an untrusted address', () => {
    assert.equal(evaluateCallerIp('6.6.6.6, garbage, 10.0.0.5', lb), null);
    assert.equal(evaluateCallerIp('6.6.6.6, unknown, 10.0.0.5', lb), null);
    assert.equal(evaluateCallerIp('6.6.6.6, 1.2.3.4.5', lb), null);
    assert.equal(evaluateCallerIp('6.6.6.6, 300.1.1.1, 10.0.0.5', lb), null);
    // Garbage left of the first untrusted address is never reached.
    assert.equal(evaluateCallerIp('garbage, 198.51.100.1, 10.0.0.5', lb), '198.51.100.1');
  });

  test('empty and whitespace entries are ignored', () => {
    assert.equal(evaluateCallerIp('198.51.100.1, , \t ,10.0.0.5,', lb), '198.51.100.1');
    assert.equal(evaluateCallerIp('', lb), null);
    assert.equal(evaluateCallerIp(' ,  , ', lb), null);
  });

  test('an all-trusted chain yields its first entry', () => {
    assert.equal(evaluateCallerIp('10.0.0.1, 10.0.0.2, 192.168.1.1', lb), '10.0.0.1');
    assert.equal(evaluateCallerIp('::ffff:10.0.0.1', lb), '10.0.0.1');
  });
});

describe('buildCallerIpChain', () => {
  test('appends the peer, normalizes separators, drops empties', () => {
    assert.equal(buildCallerIpChain(undefined, '10.4.5.6'), '10.4.5.6');
    assert.equal(buildCallerIpChain('', '10.4.5.6'), '10.4.5.6');
    assert.equal(buildCallerIpChain('10.1.2.3', '10.4.5.6'), '10.1.2.3, 10.4.5.6');
    assert.equal(buildCallerIpChain(' 1.1.1.1,2.2.2.2 ,, ,3.3.3.3 ', '10.4.5.6'), '1.1.1.1, 2.2.2.2, 3.3.3.3, 10.4.5.6');
    assert.equal(buildCallerIpChain(['1.1.1.1', '2.2.2.2'], '10.4.5.6'), '1.1.1.1, 2.2.2.2, 10.4.5.6');
  });

  test('the peer is normalized; a missing peer is "unknown" so evaluation stops there', () => {
    assert.equal(buildCallerIpChain(undefined, '::ffff:127.0.0.1'), '127.0.0.1');
    assert.equal(buildCallerIpChain('6.6.6.6', ''), '6.6.6.6, unknown');
    assert.equal(evaluateCallerIp(buildCallerIpChain('6.6.6.6', ''), lb), null);
  });

  test('keeps only the last 20 entries and always fits both schemas', () => {
    const many = Array.from({ length: 30 }, (_, i) => `10.0.1.${i}`).join(',');
    const chain = buildCallerIpChain(many, '10.4.5.6');
    const parts = chain.split(', ');
    assert.equal(parts.length, 20);
    assert.equal(parts[0], '10.0.1.11');
    assert.equal(parts[19], '10.4.5.6');
    assert.equal(buildCallerIpChain(many, '10.4.5.6', 3), '10.0.1.28, 10.0.1.29, 10.4.5.6');

    const hostile = Array.from({ length: 40 }, () => 'x'.repeat(5000)).join(',');
    const capped = buildCallerIpChain(hostile, '198.51.100.1');
    assert.equal(capped.split(', ').length, 20);
    assert.ok(capped.split(', ').every((e) => e.length <= MAX_CALLER_IP_ENTRY_CHARS));
    const record = {
      emit_time: '2023-11-14T07:56:55Z',
      level: 'LOG_LEVEL_INFO',
      user_email: '',
      caller_ip_address: capped,
      operation: 'UserLogin',
      details: {},
      status: 'ERROR',
      category: 'LOG_CATEGORY_ADMIN',
      version: 1,
      log_id: 'a'.repeat(32),
      principal: { id: 'u', type: 'user', name: 'u' },
    };
    assert.deepEqual(validateEmitted(record), { ok: true });
    const widest = buildCallerIpChain(Array.from({ length: 25 }, () => 'y'.repeat(MAX_CALLER_IP_ENTRY_CHARS)).join(','), 'z'.repeat(40));
    assert.deepEqual(validateAccepted({ ...record, caller_ip_address: widest }), { ok: true });
  });
});

describe('IPv6 canonical form (RFC 5952)', () => {
  test('compression and case', () => {
    const cases: [string, string][] = [
      ['2001:DB8:0000:0000:0001:0000:0000:0001', '2001:db8::1:0:0:1'],
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
      ['0:0:0:0:0:0:0:0', '::'],
      ['::', '::'],
      ['0:0:0:0:0:0:0:1', '::1'],
      ['1::', '1::'],
      ['::1.2.3.4', '::102:304'],
      ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
      ['2001:db8::0:1', '2001:db8::1'],
      ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ];
    for (const [input, out] of cases) assert.equal(normalizeIp(input), out, input);
  });
});
