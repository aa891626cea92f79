/**
 * Access to auditstream's own HTTP API, generated from the one table (`API_ROUTES` and the rules
 * in src/control/rbac.ts): for every `/api/v1` route and every account role, one call that the
 * table allows (anything but 401/403) or denies (403 and exactly one ERROR record, in the
 * caller's own account, naming the caller). Also: the app serves exactly the table's routes, the
 * ingest token reaches only the routes its entry allows, another tenant's account is refused and
 * recorded on the caller's side only, and refused reads are rate-limited per principal.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { engines } from './helpers/stores.js';
import type { Actor } from './helpers/control.js';
import { externalRecord } from './helpers/records.js';
import { servedSuite } from './helpers/suites.js';
import { apiAuthenticator } from '../src/control/auth.js';
import { ACCOUNT_ROLES, API_ROUTES, ruleOf, type AccountRole, type Rule } from '../src/control/rbac.js';
import { REFUSED_READS_PER_WINDOW, refusedReads } from '../src/control/refusals.js';
import type { AuditRecord } from '../src/record/record.js';
import { validateEmitted } from '../src/record/schema.js';

const INGEST_TOKEN = 'ingest-token-for-api-rbac-tests';

function allowedFor(rule: Rule, role: AccountRole): boolean {
  switch (rule.kind) {
    case 'account':
      return rule.roles.includes(role);
    case 'owner':
      return rule.selfRoles.includes(role) || rule.roles.includes(role);
    case 'namespace':
      return role === 'ROLE_OWNER' || role === 'ROLE_ADMIN';
  }
}

/** The operation a denied call is recorded under: the mutation's own, else the rule's name. */
const DENIED_OPERATION: Record<string, string> = {
  ReissueInvitation: 'InviteUsers',
  ReplayAccountAuditLogSink: 'UpdateAccount',
  CreateAccountAuditLogSink: 'UpdateAccount',
  UpdateAccountAuditLogSink: 'UpdateAccount',
  DeleteAccountAuditLogSink: 'UpdateAccount',
};
/** Refused mutations are recorded as their seed operation, refused reads under their rule's name. */
const deniedOperation = (route: { method: string; rule: string | null }): string =>
  route.rule === 'SetApiKeyIngestPolicy' ? (route.method === 'PUT' ? 'UpdateAPIKey' : route.rule) : (DENIED_OPERATION[route.rule!] ?? route.rule!);

for (const engine of engines()) {
  describe(`/api/v1 access from the table: ${engine}`, () => {
    const served: string[] = [];
    const s = servedSuite(engine, {
      ingestToken: INGEST_TOKEN,
      // The fixture's control plane has no ingest token configured: an authenticator with one.
      auth: ({ store }) => apiAuthenticator(store.sql, INGEST_TOKEN),
      onRefused: true,
      register: (a) => {
        a.addHook('onRoute', (r) => {
          for (const m of [r.method].flat()) if (m !== 'HEAD' && (r.url.startsWith('/api/') || r.url.startsWith('/auth/'))) served.push(`${m} ${r.url}`);
        });
      },
      listen: false,
    });

    const records = async (accountId: string, since: number) => (await s.t.records(accountId)).slice(since);

    /** A request for a route, valid enough that an allowed caller gets past access control. */
    async function requestFor(url: string): Promise<{ url: string; payload?: Record<string, unknown> }> {
      switch (url) {
        case '/api/v1/audit-logs':
          return { url, payload: { records: [externalRecord()] } };
        case '/api/v1/audit-logs/records/:log_id': {
          // A record of the fixture's account (where every test user lives): an allowed caller reads it.
          const mine = await s.t.records(s.t.owner.accountId);
          return { url: url.replace(':log_id', mine[0]!.log_id) };
        }
        case '/api/v1/users/:id/invitation': {
          const target = await s.t.addUser('ROLE_READ');
          return { url: `/api/v1/users/${target.userId}/invitation` };
        }
        case '/api/v1/api-keys/:id/ingest-policy':
          // An unknown key: an allowed caller gets 404 and nothing changes.
          return { url: url.replace(':id', 'no-such-key'), payload: { operations: null, categories: null } };
        default:
          // Sink routes: an unknown sink, so an allowed caller gets 404 and nothing is sent anywhere.
          return {
            url: url.replace(':name', 'no-such-sink'),
            ...(url.includes('replay') ? { payload: { since: '1h' } } : url.endsWith('verify') ? { payload: {} } : {}),
          };
      }
    }

    it('the app serves exactly the routes of the table', () => {
      const table = API_ROUTES.map((r) => `${r.method} ${r.url}`);
      for (const r of API_ROUTES) assert.ok(s.app.hasRoute({ method: r.method, url: r.url }), `${r.method} ${r.url} is in the table but not served`);
      // Routes added by the control plane (seen as they are registered) must all be in the table.
      assert.ok(served.length > 0);
      for (const r of served) assert.ok(table.includes(r), `${r} is served but has no entry in API_ROUTES`);
      for (const r of API_ROUTES) if (r.rule !== null) assert.ok(ruleOf(r.rule), `${r.method} ${r.url}: rule ${r.rule} is not in the table`);
      // Names that every object has are no rules.
      for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) assert.equal(ruleOf(name), undefined, name);
    });

    for (const route of API_ROUTES.filter((r) => r.rule !== null)) {
      it(`${route.method} ${route.url}: allowed exactly for the roles of ${route.rule}`, async () => {
        const rule = ruleOf(route.rule!)!;
        const problems: string[] = [];
        for (const role of ACCOUNT_ROLES) {
          // A fresh user per call keeps each principal far below the refused-read limit.
          const actor: Actor = role === 'ROLE_OWNER' ? await s.t.addUser('ROLE_OWNER') : await s.t.addUser(role);
          const { url, payload } = await requestFor(route.url);
          const before = (await s.t.records(actor.accountId)).length;
          const res = await s.app.inject({ method: route.method, url, headers: { authorization: `Bearer ${actor.apiKey}` }, ...(payload ? { payload } : {}) });
          const added = await records(actor.accountId, before);
          const label = `${role}: ${route.method} ${url}`;
          if (allowedFor(rule, role)) {
            if (res.statusCode === 401 || res.statusCode === 403) problems.push(`${label}: expected to pass access control, got ${res.statusCode} ${res.body}`);
          } else {
            if (res.statusCode !== 403) problems.push(`${label}: expected 403, got ${res.statusCode} ${res.body}`);
            const op = deniedOperation(route);
            const mine = added.filter((r) => r.principal.id === actor.userId);
            if (
              mine.length !== 1 ||
              mine[0]!.operation !== op ||
              mine[0]!.status !== 'ERROR' ||
              mine[0]!.level !== 'LOG_LEVEL_ERROR' ||
              !validateEmitted(mine[0]!).ok
            ) {
              problems.push(`${label}: expected one ERROR ${op} record, got ${JSON.stringify(mine)}`);
            } else if (!String(mine[0]!.details['reason']).startsWith('AS_ERR_PERMISSION_DENIED')) {
              problems.push(`${label}: the record's reason is ${String(mine[0]!.details['reason'])}`);
            }
          }
        }
        assert.deepEqual(problems, [], problems.join('\n'));
      });
    }

    it('the deployment ingest token reaches exactly the routes whose entry allows it', async () => {
      for (const route of API_ROUTES.filter((r) => r.rule !== null)) {
        const { url, payload } = await requestFor(route.url);
        const withAccount = route.ingestToken ? (route.method === 'GET' ? `${url}?account=${s.t.owner.accountId}` : url) : url;
        const body = route.ingestToken && payload ? { ...payload, account_id: s.t.owner.accountId } : payload;
        const res = await s.app.inject({
          method: route.method,
          url: withAccount,
          headers: { authorization: `Bearer ${INGEST_TOKEN}` },
          ...(body ? { payload: body } : {}),
        });
        if (route.ingestToken) assert.ok(res.statusCode < 300, `${route.method} ${url}: ${res.statusCode} ${res.body}`);
        else assert.equal(res.statusCode, 401, `${route.method} ${url}: the ingest token is no API key`);
      }
    });

    it("another tenant's account is refused, and recorded in the caller's account only", async () => {
      const other = await s.t.newAccount(`other-${engine}@example.com`);
      const otherBefore = (await s.t.records(other.accountId)).length;
      const cases: { method: 'GET' | 'POST' | 'PUT'; url: string; payload?: Record<string, unknown>; op: string }[] = [
        { method: 'GET', url: `/api/v1/audit-logs?account=${other.accountId}`, op: 'QueryAuditLogs' },
        { method: 'GET', url: `/api/v1/audit-logs/export?account=${other.accountId}`, op: 'ExportAuditLogs' },
        { method: 'POST', url: '/api/v1/audit-logs', payload: { account_id: other.accountId, records: [externalRecord()] }, op: 'IngestAuditLogs' },
      ];
      const owner = await s.t.addUser('ROLE_OWNER');
      for (const c of cases) {
        const before = (await s.t.records(owner.accountId)).length;
        const res = await s.app.inject({
          method: c.method,
          url: c.url,
          headers: { authorization: `Bearer ${owner.apiKey}` },
          ...(c.payload ? { payload: c.payload } : {}),
        });
        assert.equal(res.statusCode, 403, res.body);
        const added = await records(owner.accountId, before);
        assert.deepEqual(
          added.map((r) => [r.operation, r.status, r.principal.id, r.details['requested_account']]),
          [[c.op, 'ERROR', owner.userId, other.accountId]],
        );
      }
      assert.equal((await s.t.records(other.accountId)).length, otherBefore, 'nothing lands in the other tenant');
    });

    it('refused reads are rate-limited per principal: past the limit, one record counts the rest', async () => {
      const reader = await s.t.addUser('ROLE_READ');
      const neighbour = await s.t.addUser('ROLE_READ');
      const before = (await s.t.records(reader.accountId)).length;
      const extra = 7;
      for (let i = 0; i < REFUSED_READS_PER_WINDOW + extra; i++) {
        const res = await s.app.inject({ method: 'GET', url: '/api/v1/audit-logs', headers: { authorization: `Bearer ${reader.apiKey}` } });
        assert.equal(res.statusCode, 403);
      }
      // Another principal has its own allowance.
      assert.equal(
        (await s.app.inject({ method: 'GET', url: '/api/v1/audit-logs/export', headers: { authorization: `Bearer ${neighbour.apiKey}` } })).statusCode,
        403,
      );
      let added = await records(reader.accountId, before);
      const byReader = (rs: AuditRecord[]) => rs.filter((r) => r.principal.id === reader.userId);
      assert.equal(byReader(added).length, REFUSED_READS_PER_WINDOW);
      assert.equal(added.filter((r) => r.principal.id === neighbour.userId).length, 1);
      // The count is written when the window ends, or at the latest on shutdown.
      await refusedReads(s.t.control.cp).flushAll();
      added = await records(reader.accountId, before);
      const summary = byReader(added).filter((r) => r.operation === 'RefusedCallsNotRecorded');
      assert.equal(summary.length, 1);
      assert.equal(summary[0]!.details['dropped'], extra);
      assert.deepEqual(summary[0]!.details['operations'], ['QueryAuditLogs']);
      assert.equal(summary[0]!.status, 'ERROR');
      assert.ok(validateEmitted(summary[0]!).ok);
    });
  });
}
