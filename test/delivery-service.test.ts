/**
 * Sink management (src/control/sinks-service.ts) on both engines, and spec validation: precise
 * messages for malformed ARNs, region mismatches, GCP names, role names; ALREADY_EXISTS,
 * NOT_FOUND, FAILED_PRECONDITION; paging; ExternalId per account; the retention hold-back.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createFixture, engines, type StoreFixture } from './helpers/stores.js';
import { makeRecord } from './helpers/records.js';
import { isAuditError } from '../src/errors.js';
import type { AuditStore } from '../src/store/store.js';
import {
  createSink,
  deleteSink,
  ensureExternalId,
  getSink,
  listSinks,
  readExternalId,
  sinkStatus,
  updateSink,
  validateSpec,
} from '../src/control/sinks-service.js';
import type { AuditLogSinkSpec } from '../src/sinks/spec.js';
import { sinkRetentionHold } from '../src/delivery/retention.js';
import { attestorAfterCheckpoint, testSigner } from './helpers/retention.js';
import { sinkByName } from '../src/delivery/sql/sink-by-name.js';
import { insertDeadLetters } from '../src/delivery/sql/insert-dead-letters.js';
import { deadLetterBodies } from '../src/delivery/sql/dead-letter-bodies.js';

const kinesis = (over: Partial<NonNullable<AuditLogSinkSpec['kinesisSink']>> = {}, name = 'main'): AuditLogSinkSpec => ({
  name,
  enabled: true,
  kinesisSink: { roleName: 'auditstream-writer', destinationUri: 'arn:aws:kinesis:us-east-1:111122223333:stream/audit', region: 'us-east-1', ...over },
});
const pubsub = (over: Partial<NonNullable<AuditLogSinkSpec['pubSubSink']>> = {}): AuditLogSinkSpec => ({
  name: 'ps',
  enabled: true,
  pubSubSink: { serviceAccountId: 'audit-writer@my-project-1.iam.gserviceaccount.com', topicName: 'audit-logs', gcpProjectId: 'my-project-1', ...over },
});

const invalid = (re: RegExp) => (err: unknown) => isAuditError(err) && err.code === 'AS_ERR_INVALID_ARGUMENT' && re.test(err.message);

describe('validateSpec', () => {
  it('accepts well-formed Kinesis and Pub/Sub specs', () => {
    validateSpec(kinesis());
    validateSpec(pubsub());
    validateSpec(kinesis({ destinationUri: 'arn:aws-us-gov:kinesis:us-gov-west-1:111122223333:stream/a.b_c-d', region: 'us-gov-west-1' }));
  });

  it('names the field and the rule for each mistake', () => {
    const cases: [AuditLogSinkSpec, RegExp][] = [
      [kinesis({ destinationUri: 'arn:aws:kinesis:us-east-1:1111:stream/audit' }), /destination_uri .*account id "1111" must be 12 digits/],
      [kinesis({ destinationUri: 'arn:aws:sqs:us-east-1:111122223333:stream/audit' }), /destination_uri .*service is "sqs"/],
      [kinesis({ destinationUri: 'audit' }), /destination_uri "audit" is not a Kinesis stream ARN/],
      [kinesis({ region: 'us-west-2' }), /region "us-west-2" does not match the stream ARN's region "us-east-1"/],
      [kinesis({ region: 'mars' }), /region "mars" is not an AWS region/],
      [kinesis({ roleName: 'arn:aws:iam::111122223333:role/x' }), /role_name must be the role's name.*not an ARN/],
      [kinesis({ roleName: 'bad role!' }), /role_name "bad role!" is not a valid IAM role name/],
      [kinesis({ roleName: 'r'.repeat(65) }), /not a valid IAM role name/],
      [kinesis({ roleName: '' }), /role_name is required/],
      [pubsub({ topicName: 'projects/p/topics/t' }), /topic_name must be the short topic id/],
      [pubsub({ topicName: 'goog-audit' }), /must not start with "goog"/],
      [pubsub({ topicName: '1audit' }), /topic_name "1audit" is not a Pub\/Sub topic id/],
      [pubsub({ topicName: 'ab' }), /is not a Pub\/Sub topic id/],
      [pubsub({ gcpProjectId: 'My_Project' }), /gcp_project_id "My_Project" is not a GCP project id/],
      [pubsub({ gcpProjectId: 'abc' }), /not a GCP project id/],
      [pubsub({ gcpProjectId: 'my-project-' }), /not a GCP project id/],
      [pubsub({ serviceAccountId: 'someone@gmail.com' }), /service_account_id "someone@gmail.com" is not a service account email/],
      [pubsub({ serviceAccountId: 'ab@my-project-1.iam.gserviceaccount.com' }), /account id before "@" must be 6-30/],
      [{ ...kinesis(), name: 'bad name' }, /spec.name "bad name" must be 1-64/],
      [{ ...kinesis(), pubSubSink: pubsub().pubSubSink! }, /exactly one of kinesis_sink and pub_sub_sink/],
      [{ name: 'x', enabled: true }, /one of kinesis_sink or pub_sub_sink/],
    ];
    for (const [spec, re] of cases) assert.throws(() => validateSpec(spec), invalid(re), `${JSON.stringify(spec)} → ${re}`);
  });
});

for (const engineName of engines()) {
  describe(`sinks service: ${engineName}`, () => {
    let fx: StoreFixture;
    let store: AuditStore;
    before(async () => {
      fx = await createFixture(engineName);
      store = await fx.open();
    });
    after(async () => {
      await store.close();
      await fx.destroy();
    });

    it('creates at the head, refuses a duplicate name, and commits with the audit record or not at all', async () => {
      await store.append({ accountId: 'acct-s', records: [makeRecord(), makeRecord()], ingestedBy: null });
      const v = await store.transaction(async (tx) => {
        const created = await createSink(tx, 'acct-s', kinesis());
        await tx.append({ accountId: 'acct-s', records: [makeRecord({ operation: 'UpdateAccount' })], ingestedBy: null });
        return created;
      });
      assert.equal(v.state, 'active');
      assert.equal(v.health, 'ok');
      const st = await sinkStatus(store.sql, 'acct-s', 'main');
      assert.equal(st.cursorSeq, 2, 'starts at the head: its own creation record is the first delivered');
      assert.equal(st.backlog, 1);
      await assert.rejects(
        store.transaction((tx) => createSink(tx, 'acct-s', kinesis())),
        (e: unknown) => isAuditError(e) && e.code === 'AS_ERR_ALREADY_EXISTS',
      );
      await assert.rejects(
        store.transaction(async (tx) => {
          await createSink(tx, 'acct-s', kinesis({}, 'rolled-back'));
          throw new Error('audit append failed');
        }),
        /audit append failed/,
      );
      await assert.rejects(getSink(store.sql, 'acct-s', 'rolled-back'), (e: unknown) => isAuditError(e) && e.code === 'AS_ERR_NOT_FOUND');
      // Same name in another account is another sink.
      await store.transaction((tx) => createSink(tx, 'acct-s2', kinesis()));
    });

    it('updates with optimistic concurrency and keeps the cursor', async () => {
      const before = await getSink(store.sql, 'acct-s', 'main');
      await store.transaction((tx) => tx.run("UPDATE audit_log_sinks SET cursor_seq = 3 WHERE account_id = 'acct-s' AND name = 'main'"));
      const after = await store.transaction((tx) =>
        updateSink(tx, 'acct-s', kinesis({ destinationUri: 'arn:aws:kinesis:us-east-1:111122223333:stream/other' }), before.resourceVersion),
      );
      assert.notEqual(after.resourceVersion, before.resourceVersion);
      assert.equal(after.spec.kinesisSink!.destinationUri, 'arn:aws:kinesis:us-east-1:111122223333:stream/other');
      assert.equal((await sinkStatus(store.sql, 'acct-s', 'main')).cursorSeq, 3);
      await assert.rejects(
        store.transaction((tx) => updateSink(tx, 'acct-s', kinesis(), before.resourceVersion)),
        (e: unknown) => isAuditError(e) && e.code === 'AS_ERR_FAILED_PRECONDITION' && /modified since/.test(e.message),
      );
      await assert.rejects(
        store.transaction((tx) => updateSink(tx, 'acct-s', kinesis({}, 'nope'), '')),
        (e: unknown) => isAuditError(e) && e.code === 'AS_ERR_NOT_FOUND',
      );
      await assert.rejects(
        store.transaction((tx) => updateSink(tx, 'acct-s', kinesis({ region: 'eu-west-1' }), '')),
        invalid(/does not match/),
      );
      // Switching kind keeps the cursor too.
      const ps = await store.transaction((tx) => updateSink(tx, 'acct-s', { ...pubsub(), name: 'main' }, ''));
      assert.ok(ps.spec.pubSubSink && !ps.spec.kinesisSink);
      assert.equal((await sinkStatus(store.sql, 'acct-s', 'main')).cursorSeq, 3);
    });

    it('lists by name with page tokens, and refuses bad page sizes and tokens', async () => {
      for (const n of ['c', 'a', 'e', 'b', 'd']) await store.transaction((tx) => createSink(tx, 'acct-list', kinesis({}, n)));
      const p1 = await listSinks(store.sql, 'acct-list', 2, '');
      assert.deepEqual(
        p1.sinks.map((s) => s.name),
        ['a', 'b'],
      );
      const p2 = await listSinks(store.sql, 'acct-list', 2, p1.nextPageToken);
      assert.deepEqual(
        p2.sinks.map((s) => s.name),
        ['c', 'd'],
      );
      const p3 = await listSinks(store.sql, 'acct-list', 2, p2.nextPageToken);
      assert.deepEqual(
        p3.sinks.map((s) => s.name),
        ['e'],
      );
      assert.equal(p3.nextPageToken, '');
      assert.equal((await listSinks(store.sql, 'acct-list', 0, '')).sinks.length, 5);
      await assert.rejects(listSinks(store.sql, 'acct-list', 1001, ''), invalid(/page_size/));
      await assert.rejects(listSinks(store.sql, 'acct-list', 10, 'garbage'), invalid(/page_token/));
    });

    it('deletes: NOT_FOUND for unknown, version checked, shown as deleting until finished', async () => {
      await assert.rejects(
        store.transaction((tx) => deleteSink(tx, 'acct-list', 'zzz', '')),
        (e: unknown) => isAuditError(e) && e.code === 'AS_ERR_NOT_FOUND',
      );
      await assert.rejects(
        store.transaction((tx) => deleteSink(tx, 'acct-list', 'a', 'stale')),
        (e: unknown) => isAuditError(e) && e.code === 'AS_ERR_FAILED_PRECONDITION',
      );
      const d = await store.transaction((tx) => deleteSink(tx, 'acct-list', 'a', ''));
      assert.equal(d.name, 'a');
      assert.equal((await getSink(store.sql, 'acct-list', 'a')).state, 'deleting');
      await assert.rejects(
        store.transaction((tx) => createSink(tx, 'acct-list', kinesis({}, 'a'))),
        (e: unknown) => isAuditError(e) && e.code === 'AS_ERR_FAILED_PRECONDITION',
      );
    });

    it('gives each account one stable random ExternalId', async () => {
      const a = await store.transaction((tx) => ensureExternalId(tx, 'acct-ext-1'));
      const again = await store.transaction((tx) => ensureExternalId(tx, 'acct-ext-1'));
      const b = await store.transaction((tx) => ensureExternalId(tx, 'acct-ext-2'));
      assert.equal(a, again);
      assert.notEqual(a, b);
      assert.match(a, /^[\w-]{43}$/);
      assert.equal(await readExternalId(store.sql, 'acct-ext-1'), a);
    });

    it("a dead-letter replay reads its dead letters' records in one query: in range, in order, up to the limit, none without a record, none of another account", async () => {
      const acct = 'acct-dlb';
      await store.transaction((tx) => createSink(tx, acct, kinesis()));
      await store.append({ accountId: acct, records: Array.from({ length: 25 }, () => makeRecord()), ingestedBy: null });
      // Another account's chain has records at the same seqs: the read must never return them.
      await store.append({ accountId: 'acct-dlb-other', records: Array.from({ length: 30 }, () => makeRecord()), ingestedBy: null });
      const sinkId = (await sinkByName(store.sql, acct, 'main'))!.id;
      const bodies = new Map((await store.readChainBodies(acct, 1, 100)).map((b) => [b.seq, b]));
      let seed = 7;
      const rand = (n: number) => (seed = (seed * 48271) % 2147483647) % n;
      for (let round = 0; round < 25; round++) {
        // Dead letters on seqs 1..30; 26..30 have no record (as when retention purged it).
        const seqs = [...new Set(Array.from({ length: rand(12) }, () => 1 + rand(30)))];
        await store.transaction(async (tx) => {
          await tx.run('DELETE FROM audit_log_sink_dead_letters WHERE sink_id = ?', [sinkId]);
          await insertDeadLetters(
            tx,
            sinkId,
            seqs.map((seq) => ({ seq, logId: bodies.get(seq)?.logId ?? `gone-${seq}`, reason: 'refused' })),
          );
        });
        const from = 1 + rand(30);
        const to = from + rand(30);
        const limit = 1 + rand(8);
        const want = seqs
          .filter((q) => q >= from && q <= to && bodies.has(q))
          .sort((a, b) => a - b)
          .slice(0, limit)
          .map((q) => bodies.get(q));
        const got = await deadLetterBodies(store.sql, acct, sinkId, from, to, limit);
        assert.deepEqual(got, want, `dead letters ${JSON.stringify(seqs)}, ${from}..${to}, limit ${limit}`);
      }
    });

    it('retention keeps what an enabled sink has not delivered, up to the hard cap, then counts it expired', async () => {
      const acct = 'acct-hold';
      await store.transaction((tx) => createSink(tx, acct, kinesis()));
      await store.transaction((tx) => createSink(tx, acct, { ...kinesis({}, 'paused'), enabled: false }));
      await store.append({ accountId: acct, records: Array.from({ length: 6 }, () => makeRecord()), ingestedBy: null });
      await store.transaction((tx) => tx.run("UPDATE audit_log_sinks SET cursor_seq = 2 WHERE account_id = ? AND name = 'main'", [acct]));
      const future = Date.now() + 60_000;
      // Expired by retention, but the enabled sink has delivered only 1..2: 3..6 stay.
      // The checkpoint that proves them expired adds its ChainCheckpoint record (7), each purge a RetentionPurge record.
      const attestor = await attestorAfterCheckpoint(store, testSigner());
      while ((await store.purgeExpired({ cutoffMs: future, batchSize: 100, attestor, hold: sinkRetentionHold(0) })) > 0);
      assert.deepEqual(
        (await store.readChain(acct, 1, 4)).map((r) => r.seq),
        [3, 4, 5, 6],
      );
      const paused = await sinkStatus(store.sql, acct, 'paused');
      assert.equal(paused.expiredUndelivered, 2, 'a paused sink is not held for, but counts what it missed');
      assert.equal((await sinkStatus(store.sql, acct, 'main')).expiredUndelivered, 0);
      // Past the hard cap they go, and the sink counts them.
      while ((await store.purgeExpired({ cutoffMs: future, batchSize: 100, attestor, hold: sinkRetentionHold(future) })) > 0);
      assert.deepEqual(
        (await store.readChain(acct, 1, 10)).map((r) => r.columns.operation),
        ['ChainCheckpoint', 'RetentionPurge', 'RetentionPurge'],
      );
      const main = await sinkStatus(store.sql, acct, 'main');
      assert.equal(main.expiredUndelivered, 4);
      assert.equal(main.backlog, 3, 'only the three system records written since wait for it');
      assert.equal((await sinkStatus(store.sql, acct, 'paused')).expiredUndelivered, 6);
    });
  });
}
