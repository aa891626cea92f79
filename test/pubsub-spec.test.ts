/**
 * The Pub/Sub sink's pure parts: GCP naming rules, the customer's gcloud commands, the endpoint
 * switches, the message encoding, and the limits (a worst-case request, encoded with the same
 * protobuf definitions the client sends, stays under the service's 10,000,000-byte limit).
 */
import { entrySize } from '../src/delivery/batcher.js';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { protos } from '@google-cloud/pubsub';
import {
  encodeRecord,
  gcloudCommands,
  projectIdProblem,
  PUBSUB_HARD_LIMITS,
  PUBSUB_LIMITS,
  publisherEndpoint,
  pubSubSpecProblems,
  serviceAccountEmailProblem,
  toMessage,
  topicIdProblem,
  topicPath,
} from '../src/sinks/pubsub/index.js';
import { iamCredentialsEndpoint } from '../src/sinks/pubsub/endpoint.js';

describe('GCP naming rules', () => {
  test('project ids', () => {
    for (const ok of ['my-project', 'abcdef', 'a2345678901234567890123456789z', 'proj-1-2']) assert.equal(projectIdProblem(ok), undefined, ok);
    const bad: [string, RegExp][] = [
      ['short', /6 to 30 characters long \(it has 5\)/],
      ['a'.repeat(31), /6 to 30 characters long \(it has 31\)/],
      ['1project', /start with a lowercase letter/],
      ['My-Project', /start with a lowercase letter/],
      ['my_project', /only lowercase letters, digits and hyphens \(found "_"\)/],
      ['myProject', /found "P"/],
      ['my-project-', /must not end with a hyphen/],
    ];
    for (const [id, msg] of bad) assert.match(projectIdProblem(id) ?? '', msg, id);
  });

  test('topic ids', () => {
    for (const ok of ['abc', 'Audit.Logs_v1~x+y%20', 'a'.repeat(255), 'auditlogs']) assert.equal(topicIdProblem(ok), undefined, ok);
    const bad: [string, RegExp][] = [
      ['ab', /3 to 255 characters long \(it has 2\)/],
      ['a'.repeat(256), /it has 256/],
      ['1topic', /must start with a letter/],
      ['-topic', /must start with a letter/],
      ['audit logs', /found " "/],
      ['audit/logs', /found "\/"/],
      ['google-audit', /must not start with "goog"/],
      ['Goog-x', /must not start with "goog"/],
      ['projects/p/topics/t', /short topic id/],
    ];
    for (const [id, msg] of bad) assert.match(topicIdProblem(id) ?? '', msg, id);
  });

  test('service account emails', () => {
    for (const ok of [
      'audit-publisher@customer-proj.iam.gserviceaccount.com',
      '123456789012-compute@developer.gserviceaccount.com',
      'customer-proj@appspot.gserviceaccount.com',
    ])
      assert.equal(serviceAccountEmailProblem(ok), undefined, ok);
    const bad: [string, RegExp][] = [
      ['audit-publisher', /must be a service account email/],
      ['a@b@c', /must be a service account email/],
      ['someone@gmail.com', /must end in "\.iam\.gserviceaccount\.com"/],
      ['short@customer-proj.iam.gserviceaccount.com', /account id "short" must be 6 to 30/],
      ['Audit-Pub@customer-proj.iam.gserviceaccount.com', /account id "Audit-Pub"/],
      ['audit-publisher@Bad_Proj.iam.gserviceaccount.com', /project part is not a project id/],
      ['robot@developer.gserviceaccount.com', /PROJECT_NUMBER-compute/],
    ];
    for (const [email, msg] of bad) assert.match(serviceAccountEmailProblem(email) ?? '', msg, email);
  });

  test('a whole spec: every problem, by field; a valid one has none', () => {
    assert.deepEqual(
      pubSubSpecProblems({ serviceAccountId: 'audit-publisher@customer-proj.iam.gserviceaccount.com', topicName: 'audit-logs', gcpProjectId: 'customer-proj' }),
      [],
    );
    const problems = pubSubSpecProblems({ serviceAccountId: '', topicName: 'goog', gcpProjectId: 'P' });
    assert.deepEqual(
      problems.map((p) => p.field),
      ['serviceAccountId', 'topicName', 'gcpProjectId'],
    );
    assert.equal(problems[0]!.message, 'serviceAccountId is required');
  });

  test('topic path', () => {
    assert.equal(topicPath({ gcpProjectId: 'customer-proj', topicName: 'audit-logs' }), 'projects/customer-proj/topics/audit-logs');
  });
});

describe('gcloud commands for the customer', () => {
  const spec = { serviceAccountId: 'audit-publisher@customer-proj.iam.gserviceaccount.com', topicName: 'audit-logs', gcpProjectId: 'customer-proj' };
  const cmds = gcloudCommands(spec, 'auditstream@auditstream-ops.iam.gserviceaccount.com');

  test('grant Token Creator on the customer account to auditstream, and Publisher on the topic to that account', () => {
    assert.equal(
      cmds[0]!.text,
      'gcloud iam service-accounts add-iam-policy-binding audit-publisher@customer-proj.iam.gserviceaccount.com --member=serviceAccount:auditstream@auditstream-ops.iam.gserviceaccount.com --role=roles/iam.serviceAccountTokenCreator',
    );
    assert.equal(
      cmds[1]!.text,
      'gcloud pubsub topics add-iam-policy-binding audit-logs --project=customer-proj --member=serviceAccount:audit-publisher@customer-proj.iam.gserviceaccount.com --role=roles/pubsub.publisher',
    );
    assert.deepEqual(
      cmds.map((c) => c.required),
      [true, true, false],
    );
  });

  test('the optional consumer subscription enables message ordering', () => {
    assert.deepEqual(cmds[2]!.argv, [
      'gcloud',
      'pubsub',
      'subscriptions',
      'create',
      'audit-logs-audit-consumer',
      '--project=customer-proj',
      '--topic=audit-logs',
      '--enable-message-ordering',
    ]);
  });

  test('argv and text agree; odd characters are quoted for the shell', () => {
    const odd = gcloudCommands({ ...spec, topicName: 'audit~logs' }, 'auditstream@auditstream-ops.iam.gserviceaccount.com');
    assert.match(odd[1]!.text, / 'audit~logs' /);
    for (const c of cmds) assert.equal(c.text, c.argv.join(' '));
  });
});

describe('endpoints from the standard environment variables', () => {
  test('PUBSUB_EMULATOR_HOST wins and means plaintext', () => {
    assert.deepEqual(publisherEndpoint({ PUBSUB_EMULATOR_HOST: 'localhost:8681', CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB: 'https://x.googleapis.com/' }), {
      kind: 'emulator',
      host: 'localhost',
      port: 8681,
    });
    assert.deepEqual(publisherEndpoint({ PUBSUB_EMULATOR_HOST: '[::1]:8085' }), { kind: 'emulator', host: '[::1]', port: 8085 });
  });
  test('gcloud endpoint override (e.g. a locational endpoint) keeps TLS', () => {
    assert.deepEqual(publisherEndpoint({ CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB: 'https://europe-west1-pubsub.googleapis.com/' }), {
      kind: 'google',
      host: 'europe-west1-pubsub.googleapis.com',
      port: 443,
    });
    assert.deepEqual(publisherEndpoint({}), { kind: 'google', host: 'pubsub.googleapis.com', port: 443 });
    assert.equal(
      iamCredentialsEndpoint({ CLOUDSDK_API_ENDPOINT_OVERRIDES_IAMCREDENTIALS: 'https://iamcredentials.p.googleapis.com/v1/' }),
      'https://iamcredentials.p.googleapis.com',
    );
    assert.equal(iamCredentialsEndpoint({}), undefined);
  });
  test('a malformed value is refused', () => {
    assert.throws(() => publisherEndpoint({ PUBSUB_EMULATOR_HOST: 'host:99999' }), /bad port/);
  });
});

describe('message encoding', () => {
  test('data is the stored JSON bytes; attributes and ordering key', () => {
    const json = '{"emit_time":"2023-11-14T07:56:55Z","user_email":"zoë@example.com"}';
    const e = encodeRecord('acct-9', 77, '0mc69c0323b871293ce231dd1c7fb639', json);
    assert.ok(e.data.equals(Buffer.from(json, 'utf8')));
    assert.deepEqual(toMessage(e), {
      data: e.data,
      attributes: { log_id: '0mc69c0323b871293ce231dd1c7fb639', account_id: 'acct-9', sequence: '77' },
      orderingKey: 'acct-9',
    });
    // The size the quota counts: data, ordering key, attribute keys and values (not just data + key).
    const attrs = 'log_id'.length + 32 + 'account_id'.length + 'acct-9'.length + 'sequence'.length + '77'.length;
    assert.equal(entrySize(e), e.data.length + 'acct-9'.length + attrs);
  });
});

describe('limits', () => {
  test('a full batch (1,000 messages, maxBatchBytes of data, long ids) encodes under 10,000,000 bytes', () => {
    const accountId = 'a'.repeat(255);
    const per = Math.floor(PUBSUB_LIMITS.maxBatchBytes / PUBSUB_LIMITS.maxBatchRecords);
    const messages = Array.from({ length: PUBSUB_LIMITS.maxBatchRecords }, (_, i) =>
      toMessage(encodeRecord(accountId, Number.MAX_SAFE_INTEGER - i, 'x'.repeat(32), 'j'.repeat(per))),
    );
    const request = { topic: `projects/${'p'.repeat(30)}/topics/${'t'.repeat(255)}`, messages };
    const size = protos.google.pubsub.v1.PublishRequest.encode(request).finish().length;
    assert.ok(size < PUBSUB_HARD_LIMITS.requestBytes, `encoded request is ${size} bytes`);
  });
});
