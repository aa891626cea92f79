/** Proto3 JSON conversion, the time codecs, path templates and the handler-response check. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AuditError } from '../src/errors.js';
import { ipFromGrpcPeer, normalizeIp } from '../src/api/cloud/dispatch.js';
import { dateFromTimestamp, durationFromMs, jsonFromStruct, msFromDuration, structFromJson, timestampFromDate } from '../src/api/cloud/handlers.js';
import { compilePathTemplate } from '../src/api/cloud/http-template.js';
import { responseFromPlain } from '../src/api/cloud/plain.js';
import { fromProto3Json, toProto3Json } from '../src/api/cloud/proto-json.js';
import { protoRoot } from '../src/api/cloud/proto.js';
import { formatDuration, formatTimestamp, parseDuration, parseTimestamp } from '../src/api/cloud/wkt-time.js';

const type = (name: string) => protoRoot.lookupType(name);
const NamespaceSpec = type('temporal.api.cloud.namespace.v1.NamespaceSpec');
const CreateNamespaceRequest = type('temporal.api.cloud.cloudservice.v1.CreateNamespaceRequest');
const BillingReport = type('temporal.api.cloud.billing.v1.BillingReport');
const UserGroupSpec = type('temporal.api.cloud.identity.v1.UserGroupSpec');
const AsyncOperation = type('temporal.api.cloud.operation.v1.AsyncOperation');
const LogRecord = type('temporal.api.cloud.auditlog.v1.LogRecord');

const invalid = (message: RegExp) => (err: unknown) => {
  assert.ok(err instanceof AuditError, String(err));
  assert.equal(err.code, 'AS_ERR_INVALID_ARGUMENT');
  assert.match(err.message, message);
  return true;
};

describe('Timestamp and Duration text', () => {
  test('RFC 3339 parse: offsets, fractions, limits', () => {
    assert.deepEqual(parseTimestamp('1970-01-01T00:00:00Z'), { seconds: '0', nanos: 0 });
    assert.deepEqual(parseTimestamp('2024-02-29T23:59:59.999999999-01:30'), { seconds: String(Date.parse('2024-03-01T01:29:59Z') / 1000), nanos: 999_999_999 });
    assert.deepEqual(parseTimestamp('0001-01-01T00:00:00Z'), { seconds: '-62135596800', nanos: 0 });
    assert.deepEqual(parseTimestamp('9999-12-31T23:59:59Z'), { seconds: '253402300799', nanos: 0 });
    assert.deepEqual(parseTimestamp('1969-12-31T23:59:59.5z'), { seconds: '-1', nanos: 500_000_000 });
    for (const bad of [
      '2023-02-29T00:00:00Z',
      '2024-01-01 00:00:00Z',
      '2024-01-01T00:00:00',
      '2024-01-01T24:00:00Z',
      '2024-01-01T00:00:00.1234567891Z',
      '0000-12-31T23:59:59Z',
    ]) {
      assert.equal(typeof parseTimestamp(bad), 'string', bad);
    }
  });

  test('RFC 3339 format: UTC, 0/3/6/9 fractional digits', () => {
    assert.equal(formatTimestamp('0', 0), '1970-01-01T00:00:00Z');
    assert.equal(formatTimestamp('1700000000', 120_000_000), '2023-11-14T22:13:20.120Z');
    assert.equal(formatTimestamp(1700000000, 1000), '2023-11-14T22:13:20.000001Z');
    assert.equal(formatTimestamp(-1, 1), '1969-12-31T23:59:59.000000001Z');
    assert.equal(formatTimestamp('-62135596800', 0), '0001-01-01T00:00:00Z');
    assert.throws(() => formatTimestamp('253402300800', 0), RangeError);
  });

  test('durations both ways', () => {
    assert.deepEqual(parseDuration('5s'), { seconds: '5', nanos: 0 });
    assert.deepEqual(parseDuration('-1.5s'), { seconds: '-1', nanos: -500_000_000 });
    assert.deepEqual(parseDuration('-0.000000001s'), { seconds: '0', nanos: -1 });
    for (const bad of ['5', '5m', '1.0000000001s', '315576000001s', ' 5s']) assert.equal(typeof parseDuration(bad), 'string', bad);
    assert.equal(formatDuration('5', 0), '5s');
    assert.equal(formatDuration('-1', -500_000_000), '-1.500s');
    assert.equal(formatDuration(0, -1), '-0.000000001s');
    assert.throws(() => formatDuration(1, -1), RangeError);
  });

  test('handler helpers', () => {
    const d = new Date('2024-05-06T07:08:09.123Z');
    assert.deepEqual(timestampFromDate(d), { seconds: String(Math.floor(d.getTime() / 1000)), nanos: 123_000_000 });
    assert.deepEqual(timestampFromDate(-1), { seconds: '-1', nanos: 999_000_000 });
    assert.equal(dateFromTimestamp(timestampFromDate(d))?.toISOString(), d.toISOString());
    assert.equal(dateFromTimestamp(null), undefined);
    assert.deepEqual(durationFromMs(-1500), { seconds: '-1', nanos: -500_000_000 });
    assert.equal(msFromDuration({ seconds: '5', nanos: 250_000_000 }), 5250);
    const json = { a: 1, b: 'x', c: [true, null, { d: [] }] };
    assert.deepEqual(jsonFromStruct(structFromJson(json)), json);
  });
});

describe('fromProto3Json', () => {
  test('snake_case and camelCase names, maps, enums, repeated, bytes', () => {
    const plain = fromProto3Json(CreateNamespaceRequest, {
      spec: {
        name: 'ns',
        retention_days: '30',
        mtlsAuth: { accepted_client_ca: 'AAEC/w==', enabled: true },
        searchAttributes: { Color: 'SEARCH_ATTRIBUTE_TYPE_KEYWORD', Size: 1, Odd: 99 },
        connectivity_rule_ids: ['a', 'b'],
        capacity_spec: { provisioned: { value: '1.5' } },
      },
      tags: { team: 'x' },
      asyncOperationId: null,
    });
    const spec = plain.spec as Record<string, unknown>;
    assert.equal(spec.retentionDays, 30);
    assert.deepEqual((spec.mtlsAuth as Record<string, unknown>).acceptedClientCa, Buffer.from([0, 1, 2, 255]));
    assert.deepEqual(spec.searchAttributes, { Color: 'SEARCH_ATTRIBUTE_TYPE_KEYWORD', Size: 'SEARCH_ATTRIBUTE_TYPE_TEXT', Odd: 99 }); // proto3 enums are open
    assert.deepEqual(spec.connectivityRuleIds, ['a', 'b']);
    assert.deepEqual(spec.capacitySpec, { provisioned: { value: 1.5 } });
    assert.deepEqual(plain.tags, { team: 'x' });
    assert.equal('asyncOperationId' in plain, false);
  });

  test('int64 from numbers and strings, normalised to strings; range checks', () => {
    const plain = fromProto3Json(BillingReport, { downloadInfo: [{ fileSizeBytes: 12 }, { file_size_bytes: '9223372036854775807' }] });
    assert.deepEqual(
      (plain.downloadInfo as Record<string, unknown>[]).map((d) => d.fileSizeBytes),
      ['12', '9223372036854775807'],
    );
    assert.throws(
      () => fromProto3Json(BillingReport, { downloadInfo: [{ fileSizeBytes: '9223372036854775808' }] }),
      invalid(/downloadInfo\[0\]\.fileSizeBytes: .*out of range/),
    );
    assert.throws(() => fromProto3Json(BillingReport, { downloadInfo: [{ fileSizeBytes: 2 ** 60 }] }), invalid(/send int64 values as strings/));
    assert.throws(() => fromProto3Json(NamespaceSpec, { retentionDays: 1.5 }), invalid(/retentionDays: expected an integer/));
    assert.throws(() => fromProto3Json(NamespaceSpec, { retentionDays: 2 ** 31 }), invalid(/out of range for int32/));
  });

  test('rejects unknown fields, wrong types, duplicates and two members of a oneof', () => {
    assert.throws(() => fromProto3Json(NamespaceSpec, { nmae: 'x' }), invalid(/^field nmae: unknown field$/));
    assert.throws(() => fromProto3Json(NamespaceSpec, { name: 5 }), invalid(/^field name: expected a string, got number 5$/));
    assert.throws(() => fromProto3Json(NamespaceSpec, { name: 'a', name_: 'b' }), invalid(/name_: unknown field/));
    assert.throws(
      () => fromProto3Json(NamespaceSpec, { retentionDays: 1, retention_days: 2 }),
      invalid(/retention_days: given twice \(also as retentionDays\)/),
    );
    assert.throws(() => fromProto3Json(NamespaceSpec, { mtlsAuth: { enabled: 'yes' } }), invalid(/mtlsAuth\.enabled: expected true or false/));
    assert.throws(() => fromProto3Json(NamespaceSpec, { connectivityRuleIds: 'a' }), invalid(/expected an array/));
    assert.throws(() => fromProto3Json(NamespaceSpec, { connectivityRuleIds: [null] }), invalid(/connectivityRuleIds\[0\]: list elements cannot be null/));
    assert.throws(
      () => fromProto3Json(NamespaceSpec, { searchAttributes: { a: 'TEXT' } }),
      invalid(/searchAttributes\["a"\]: expected one of SEARCH_ATTRIBUTE_TYPE_UNSPECIFIED/),
    );
    assert.throws(() => fromProto3Json(NamespaceSpec, { mtlsAuth: { acceptedClientCa: 'not base64!' } }), invalid(/expected base64/));
    assert.throws(() => fromProto3Json(NamespaceSpec, { ['__proto__']: {} }), invalid(/__proto__: unknown field/));
    assert.throws(
      () => fromProto3Json(UserGroupSpec, { googleGroup: { emailAddress: 'g@x' }, cloud_group: {} }),
      invalid(/cloud_group: cannot be set together with googleGroup \(oneof groupType\)/),
    );
    assert.deepEqual(fromProto3Json(UserGroupSpec, { googleGroup: null, cloudGroup: {} }), { cloudGroup: {} });
  });

  test('Struct, Value nulls and Any', () => {
    const plain = fromProto3Json(LogRecord, { raw_details: { a: null, b: [1, 'x'] }, emitTime: '2024-01-01T00:00:00Z' });
    assert.deepEqual(plain.rawDetails, {
      fields: { a: { nullValue: 'NULL_VALUE' }, b: { listValue: { values: [{ numberValue: 1 }, { stringValue: 'x' }] } } },
    });
    const op = fromProto3Json(AsyncOperation, {
      operationInput: { '@type': 'type.googleapis.com/temporal.api.cloud.identity.v1.UserSpec', email: 'a@b.c' },
    });
    const any = op.operationInput as { type_url: string; value: Buffer };
    assert.equal(any.type_url, 'type.googleapis.com/temporal.api.cloud.identity.v1.UserSpec');
    assert.equal(type('temporal.api.cloud.identity.v1.UserSpec').decode(any.value).toJSON().email, 'a@b.c');
    assert.throws(
      () => fromProto3Json(AsyncOperation, { operationInput: { '@type': 'type.googleapis.com/nope.Nope' } }),
      invalid(/operationInput\.@type: unknown message type/),
    );
    assert.throws(() => fromProto3Json(AsyncOperation, { operationInput: { email: 'x' } }), invalid(/needs a string "@type"/));
  });
});

describe('toProto3Json', () => {
  test('canonical by default: defaults omitted, names lowerCamelCase, 64-bit as strings', () => {
    const json = toProto3Json(BillingReport, {
      id: 'b',
      state: 0,
      downloadInfo: [{ url: 'u', fileSizeBytes: 42, fileFormat: 1, urlExpirationTime: { seconds: 1, nanos: 0 } }],
      spec: { downloadUrlExpirationDuration: { seconds: '3600', nanos: 0 } },
    });
    assert.deepEqual(json, {
      id: 'b',
      spec: { downloadUrlExpirationDuration: '3600s' },
      downloadInfo: [{ url: 'u', urlExpirationTime: '1970-01-01T00:00:01Z', fileFormat: 'FILE_FORMAT_CSV', fileSizeBytes: '42' }],
    });
  });

  test('emitUnpopulated writes zero values but never unset oneof members', () => {
    const json = toProto3Json(UserGroupSpec, { displayName: 'g', cloudGroup: {} }, { emitUnpopulated: true });
    assert.deepEqual(json, { displayName: 'g', access: null, cloudGroup: {} });
    const empty = toProto3Json(NamespaceSpec, {}, { emitUnpopulated: true }) as Record<string, unknown>;
    assert.equal(empty.name, '');
    assert.equal(empty.retentionDays, 0);
    assert.deepEqual(empty.regions, []);
    assert.deepEqual(empty.searchAttributes, {});
    assert.equal(empty.mtlsAuth, null);
  });

  test('bytes as base64, doubles, Any round trip', () => {
    assert.deepEqual(toProto3Json(NamespaceSpec, { mtlsAuth: { acceptedClientCa: Buffer.from([0, 1, 2, 255]) } }), {
      mtlsAuth: { acceptedClientCa: 'AAEC/w==' },
    });
    assert.deepEqual(toProto3Json(NamespaceSpec, { capacitySpec: { provisioned: { value: 0.25 } } }), { capacitySpec: { provisioned: { value: 0.25 } } });
    const input = { operationInput: { '@type': 'type.googleapis.com/temporal.api.cloud.identity.v1.UserSpec', email: 'a@b.c' } };
    assert.deepEqual(toProto3Json(AsyncOperation, fromProto3Json(AsyncOperation, input)), input);
    const unknownAny = { operationInput: { type_url: 'type.googleapis.com/x.Unknown', value: Buffer.from([1]) } };
    assert.deepEqual(toProto3Json(AsyncOperation, unknownAny), { operationInput: { '@type': 'type.googleapis.com/x.Unknown', value: 'AQ==' } });
  });
});

describe('handler responses', () => {
  test('accepted in the documented conventions', () => {
    const msg = responseFromPlain(BillingReport, {
      id: 'b',
      state: 'BILLING_REPORT_STATE_GENERATED',
      downloadInfo: [{ fileSizeBytes: '7', urlExpirationTime: { seconds: '1', nanos: 2 } }],
    });
    assert.equal(BillingReport.toObject(msg, { enums: String }).state, 'BILLING_REPORT_STATE_GENERATED');
  });

  test('rejected when protobufjs would silently lose data', () => {
    assert.throws(() => responseFromPlain(BillingReport, { id: 'b', file_size: 1 }), /file_size: not a field of BillingReport/);
    assert.throws(() => responseFromPlain(BillingReport, { state: 'GENERATED' }), /state: "GENERATED" is not a value of BillingReportState/);
    assert.throws(() => responseFromPlain(BillingReport, { requestedTime: new Date() }), /requestedTime: expected an object for Timestamp, got a Date/);
    assert.throws(() => responseFromPlain(BillingReport, { downloadInfo: {} }), /downloadInfo: expected an array/);
    assert.throws(() => responseFromPlain(BillingReport, { id: 5 }), /id: expected string/);
  });
});

describe('path templates and peers', () => {
  test('templates compile to positional Fastify parameters', () => {
    assert.deepEqual(compilePathTemplate('/cloud/namespaces/{namespace}/export-sinks/{spec.name}'), {
      url: '/cloud/namespaces/:p0/export-sinks/:p1',
      variables: [
        { param: 'p0', fieldPath: ['namespace'] },
        { param: 'p1', fieldPath: ['spec', 'name'] },
      ],
    });
    assert.deepEqual(compilePathTemplate('/v1/{name=**}').url, '/v1/*');
    assert.throws(() => compilePathTemplate('/v1/{name=projects/*}'), /unsupported variable pattern/);
    assert.throws(() => compilePathTemplate('/v1/{name}:cancel'), /unsupported segment/);
  });

  test('peer addresses lose their port and IPv4 mapping', () => {
    assert.equal(ipFromGrpcPeer('127.0.0.1:5000'), '127.0.0.1');
    assert.equal(ipFromGrpcPeer('::1:5000'), '::1');
    assert.equal(ipFromGrpcPeer('[::1]:5000'), '::1');
    assert.equal(ipFromGrpcPeer('::ffff:10.0.0.1:443'), '10.0.0.1');
    assert.equal(ipFromGrpcPeer('2001:db8::1:443'), '2001:db8::1');
    assert.equal(ipFromGrpcPeer('unknown'), 'unknown');
    assert.equal(normalizeIp('::ffff:10.0.0.1'), '10.0.0.1');
    assert.equal(normalizeIp('2001:db8::1'), '2001:db8::1');
    assert.equal(normalizeIp(undefined), 'unknown');
  });
});
