/**
 * The shared engine: PostgreSQL through `pg`. Several auditstream processes may use one
 * database; each account's chain head row is locked (`SELECT ... FOR UPDATE`) inside the
 * writing transaction, so sequences never fork, and accounts are always locked in sorted order so
 * concurrent writers cannot deadlock.
 *
 * @example
 * const store = await PostgresStore.open('postgres://127.0.0.1:5432/auditstream');
 */
import pg from 'pg';
import { appendBatches, appendInTx, CHAIN_ROW_COLUMNS, GENESIS_HASH, type ChainRow, type ChainTxOps, type ExistingLog } from '../chain-append.js';
import { GroupCommitter, type FlushOutcome } from '../group-commit.js';
import { StoreReads } from '../reads.js';
import { purgeAccount } from '../purge.js';
import type { AppendBatch, AppendResult, AuditStore, Checkpoint, PurgeRequest, Sql, StoreTx, TransactionOptions } from '../store.js';
import { applyPending, type OnMigration } from '../migrations/index.js';
import { AuditError } from '../../errors.js';
import { insertCheckpoint } from '../../chain/checkpoint.js';

/** The part of a `pg` client or pool this engine calls. */
interface PgQueryable {
  query(text: string, params?: unknown[]): Promise<{ rows: unknown[]; rowCount: number | null }>;
}
interface PgClient extends PgQueryable {
  release(err?: Error | boolean): void;
}
interface PgPool extends PgQueryable {
  connect(): Promise<PgClient>;
  end(): Promise<void>;
}

export interface PostgresStoreOptions {
  /** Schema for every table (created if missing); default `public`. Tests use one per run. */
  schema?: string;
  /** Pool size; default 10. */
  maxConnections?: number;
  maxBatchesPerCommit?: number;
  /**
   * Plan the next group commit while the database writes this one (default on). Off, one
   * commit at a time (each still planned against the expected heads and checked by its write).
   */
  pipelinedCommits?: boolean;
  /** Told before and after each migration applied to a database with records. */
  onMigration?: OnMigration;
}

type Head = { seq: number; hash: string };
type HeadMove = Head & { accountId: string };
/** A group commit as planned: the accounts whose heads it read (sorted), its rows, the heads they move. */
type Plan = { accounts: string[]; logIds: [string, string][]; rows: ChainRow[]; heads: HeadMove[] };

// BIGINT columns hold epoch milliseconds and sequences, all far below 2^53.
pg.types.setTypeParser(20, (v: string) => Number(v));

/** Rewrites `?` placeholders to `$1, $2, ...` (our SQL never has `?` inside literals). */
export function toPgPlaceholders(text: string): string {
  let n = 0;
  return text.replace(/\?/g, () => `$${++n}`);
}

const closedError = () => new AuditError('AS_ERR_UNAVAILABLE', 'store is closed');

/** `sql` on `q`; once `closed()` says so, every call fails as unavailable (not "pool has ended"). */
function sqlOn(q: PgQueryable, closed: () => boolean = () => false): Sql {
  const guard = <T>(run: () => Promise<T>): Promise<T> => (closed() ? Promise.reject(closedError()) : run());
  return {
    all: <T>(text: string, params: readonly unknown[] = []) => guard(async () => (await q.query(toPgPlaceholders(text), [...params])).rows as T[]),
    get: <T>(text: string, params: readonly unknown[] = []) => guard(async () => (await q.query(toPgPlaceholders(text), [...params])).rows[0] as T | undefined),
    run: (text: string, params: readonly unknown[] = []) =>
      guard(async () => ({ changes: (await q.query(toPgPlaceholders(text), [...params])).rowCount ?? 0 })),
  };
}

const SCHEMA_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

export class PostgresStore extends StoreReads implements AuditStore {
  readonly engine = 'postgres' as const;
  readonly sql: Sql;
  private readonly committer: GroupCommitter<AppendBatch, AppendResult>;
  /** Each account's head as this process last planned it: what the next plan builds on. */
  private readonly expectedHeads = new Map<string, Head>();
  private closed = false;

  private constructor(
    private readonly pool: PgPool,
    private readonly schema: string,
    options: PostgresStoreOptions,
  ) {
    super();
    this.sql = sqlOn(pool, () => this.closed);
    this.committer = new GroupCommitter((batches, ready) => this.commitBatches(batches, ready), {
      maxItems: options.maxBatchesPerCommit ?? 512,
      maxInFlight: options.pipelinedCommits === false ? 1 : 2,
    });
  }

  static async open(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const schema = options.schema ?? 'public';
    if (!SCHEMA_PATTERN.test(schema)) throw new AuditError('AS_ERR_INVALID_ARGUMENT', `invalid schema name "${schema}"`);
    const pool = new pg.Pool({
      connectionString: url,
      max: options.maxConnections ?? 10,
      // Every connection resolves table names in the chosen schema. No parallel workers: the
      // store's queries are pages, and a page over a time window (tens of thousands of index
      // entries, 10 M records) took p50 28-31 ms with two workers against 11 ms without on a
      // two-core machine (BENCHMARKS.md, Query): starting and feeding workers costs more than
      // such a scan, and they take cores from every other request.
      options: `-c search_path=${schema} -c max_parallel_workers_per_gather=0`,
    }) as unknown as PgPool & { on(event: 'error', fn: (err: Error) => void): void };
    // An idle client losing its connection must not crash the process; the next query reconnects.
    pool.on('error', () => {});
    const store = new PostgresStore(pool, schema, options);
    try {
      await store.migrate(options.onMigration);
    } catch (err) {
      await pool.end();
      throw err;
    }
    return store;
  }

  async migrate(onMigration?: OnMigration): Promise<void> {
    await this.pool.query(`CREATE SCHEMA IF NOT EXISTS ${this.schema}`);
    await this.withTx(async (c) => {
      // One migrator at a time across processes; the lock ends with the transaction.
      await c.query("SELECT pg_advisory_xact_lock(hashtext('auditstream.migrate.' || current_schema()))");
      await c.query('CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)');
      const done = new Set(((await c.query('SELECT id FROM schema_migrations')).rows as { id: string }[]).map((r) => r.id));
      await applyPending(
        'postgres',
        done,
        async (id, sql) => {
          await c.query(sql);
          await c.query('INSERT INTO schema_migrations (id, applied_at) VALUES ($1, $2)', [id, Date.now()]);
        },
        // The planner's estimate: a count would read the whole table inside this lock just for a message.
        async () =>
          Number(
            (
              (await c.query("SELECT greatest(reltuples, 0)::bigint AS n FROM pg_class WHERE oid = to_regclass('audit_records')")).rows[0] as
                { n: string } | undefined
            )?.n ?? 0,
          ),
        onMigration,
      );
    });
  }

  private async withTx<T>(fn: (client: PgClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      client.release();
      return result;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
        client.release();
      } catch (rollbackErr) {
        // A connection that cannot roll back is not returned to the pool.
        client.release(rollbackErr instanceof Error ? rollbackErr : true);
      }
      throw err;
    }
  }

  /**
   * One group commit, in two steps. Planning (sequences, hashes, duplicates within the commit)
   * runs against the heads this process expects — the last ones it planned — and takes client
   * log ids as not stored, without locks or reads, so it can overlap the previous commit's
   * write. The write, one statement, locks the heads and checks both: if a head moved (another
   * process, a control-plane transaction, an earlier commit of this process that failed) or a
   * log id is stored (a retry), the commit is planned again under the locks, as before. The
   * database's locks, not the expectation, keep chains from forking.
   */
  private async commitBatches(batches: AppendBatch[], ready: () => void): Promise<FlushOutcome<AppendResult>[]> {
    const now = Date.now();
    const plan: Plan = { accounts: [], logIds: [], rows: [], heads: [] };
    let outcomes: FlushOutcome<AppendResult>[];
    try {
      outcomes = await appendBatches(this.planningOps(plan), batches, now);
    } catch (err) {
      this.expectedHeads.clear();
      throw err;
    }
    // Expectations only save work: past a bound (a process serving very many tenants), start over.
    if (this.expectedHeads.size > MAX_EXPECTED_HEADS) this.expectedHeads.clear();
    for (const h of plan.heads) this.expectedHeads.set(h.accountId, { seq: h.seq, hash: h.hash });
    ready();
    if (plan.rows.length === 0) return outcomes;
    let written: boolean;
    try {
      // One statement, one round trip, its own durable commit: it locks every head the plan read
      // (sorted, as a plan made under locks would), and writes only if none moved since and
      // none of the client's log ids is stored.
      const checked = [...firstLinks(plan.rows)];
      const result = await this.pool.query(WRITE_IF_PLAN_HOLDS, [
        plan.accounts,
        checked.map(([a]) => a),
        checked.map(([, h]) => h.seq),
        checked.map(([, h]) => h.hash),
        ...headParams(plan.heads),
        pgJsonRows(plan.rows),
        plan.logIds.map(([a]) => a),
        plan.logIds.map(([, id]) => id),
      ]);
      written = (result.rows[0] as { written: boolean }).written;
    } catch (err) {
      // A commit in flight may have stored one of the log ids since the write's snapshot: the
      // unique index refuses it. Planned again under the locks (below), that record is found.
      if ((err as { code?: unknown }).code !== UNIQUE_VIOLATION) {
        this.expectedHeads.clear();
        throw err;
      }
      written = false;
    }
    if (written) return outcomes;
    // A head moved (another process, a control-plane transaction, a commit of ours that failed),
    // or a log id is stored (a retry): plan again under the locks, reading heads and log ids.
    this.expectedHeads.clear();
    return this.withTx((client) => appendBatches(opsOn(client), batches, now));
  }

  /**
   * Chain primitives for planning: heads from `expectedHeads` (read, unlocked, for accounts it
   * lacks), client log ids taken as not stored; the heads read, the log ids taken, and the rows
   * and heads planned go into `plan`, nothing is written.
   */
  private planningOps(plan: Plan): ChainTxOps {
    const notHere = () => {
      throw new Error('planning writes nothing');
    };
    return {
      lockHeads: async (accountIds) => {
        plan.accounts = accountIds;
        // Read into a map of this plan's own: the shared one may be cleared while we wait below.
        const heads = new Map<string, Head>();
        const missing: string[] = [];
        for (const a of accountIds) {
          const h = this.expectedHeads.get(a);
          if (h) heads.set(a, h);
          else missing.push(a);
        }
        if (missing.length > 0) {
          // An account's first head (seq 0, genesis) is committed on its own, before the write
          // locks any head: created inside the write, it would be locked after heads already
          // held, out of order, and two writers could deadlock.
          await this.pool.query(CREATE_HEADS, [missing, GENESIS_HASH]);
          const rows = (await this.pool.query('SELECT account_id, seq, hash FROM chain_heads WHERE account_id = ANY($1::text[])', [missing])).rows as {
            account_id: string;
            seq: number;
            hash: string;
          }[];
          const found = new Map(rows.map((r) => [r.account_id, { seq: Number(r.seq), hash: r.hash }]));
          for (const a of missing) heads.set(a, found.get(a) ?? { seq: 0, hash: GENESIS_HASH });
        }
        return heads;
      },
      findLogIds: async (logIds) => {
        // None is taken as stored: the write checks, and a plan that finds one stored is made
        // again under the locks (where they are read), so a commit costs one round trip.
        for (const [a, ids] of logIds) for (const id of ids) plan.logIds.push([a, id]);
        return new Map();
      },
      insert: notHere,
      setHeads: notHere,
      insertWithHeads: async (rows, heads) => {
        plan.rows = rows;
        plan.heads = heads;
      },
    };
  }

  append(batch: AppendBatch): Promise<AppendResult> {
    return this.committer.submit(batch);
  }

  transaction<T>(fn: (tx: StoreTx) => Promise<T>, opts: TransactionOptions = {}): Promise<T> {
    if (this.closed) return Promise.reject(closedError());
    return this.withTx(async (client) => {
      // Not durable: this commit returns before its WAL is flushed (it is still atomic and ordered).
      if (opts.durable === false) await client.query('SET LOCAL synchronous_commit = off');
      const append = appendInTx(opsOn(client));
      const tx: StoreTx = {
        ...sqlOn(client),
        append: (batch) => {
          // The next group commit of this account reads its head again rather than expecting one.
          this.expectedHeads.delete(batch.accountId);
          return append(batch);
        },
      };
      return fn(tx);
    });
  }

  async purgeExpired(req: PurgeRequest): Promise<number> {
    const accounts = await this.chainAccounts();
    let budget = req.batchSize;
    for (const accountId of accounts) {
      if (budget <= 0) break;
      budget -= await this.withTx(async (c) => {
        // Lock the head so the prefix we cut and the anchor we set agree with concurrent appends.
        await c.query('SELECT seq FROM chain_heads WHERE account_id = $1 FOR UPDATE', [accountId]);
        await c.query("SET LOCAL auditstream.purge = 'on'");
        return purgeAccount({ ...sqlOn(c), append: appendInTx(opsOn(c)) }, accountId, budget, req);
      });
    }
    return req.batchSize - budget;
  }

  async saveCheckpoint(cp: Checkpoint): Promise<void> {
    await insertCheckpoint(this.sql, cp);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.committer.close();
    await this.pool.end();
  }
}

/** Heads at genesis for accounts ($1) that have none; $2 is the genesis hash. */
const CREATE_HEADS =
  'INSERT INTO chain_heads (account_id, seq, hash) SELECT a, 0, $2 FROM unnest($1::text[]) AS a ORDER BY a ON CONFLICT (account_id) DO NOTHING';

/** Accounts whose expected head a process keeps before it forgets them all (~100 bytes each). */
const MAX_EXPECTED_HEADS = 100_000;

/** PostgreSQL's SQLSTATE for a unique index refusing a row. */
const UNIQUE_VIOLATION = '23505';

/** Each account's head before `rows` (its first row's predecessor), in the rows' order. */
function firstLinks(rows: readonly ChainRow[]): Map<string, Head> {
  const links = new Map<string, Head>();
  for (const r of rows) if (!links.has(r.accountId)) links.set(r.accountId, { seq: r.seq - 1, hash: r.prevHash });
  return links;
}

/**
 * Rows as one JSON parameter, expanded server-side by `json_to_recordset`: one `JSON.stringify`
 * per group commit. (An `unnest` of one array per column makes `pg` escape every element in
 * JavaScript: measured at ~26 us per row on this machine, BENCHMARKS.md.) Strings that JSON could
 * not carry into a text column (NUL, lone surrogates) never get here: appendBatches refuses them.
 */
export function pgJsonRows(rows: readonly ChainRow[]): string {
  return JSON.stringify(
    rows.map((r) => ({
      account_id: r.accountId,
      seq: r.seq,
      log_id: r.logId,
      stored_at: r.storedAt,
      emit_ms: r.emitMs,
      operation: r.operation,
      user_email: r.userEmail,
      principal_id: r.principalId,
      status: r.status,
      namespace: r.namespace,
      ingested_by: r.ingestedBy,
      prev_hash: r.prevHash,
      hash: r.hash,
      record_json: r.recordJson,
    })),
  );
}

/** Inserts the rows of `pgJsonRows` ($1), in their order. */
export const INSERT_ROWS = `INSERT INTO audit_records (${CHAIN_ROW_COLUMNS})
  SELECT ${CHAIN_ROW_COLUMNS} FROM json_to_recordset($1::json) AS x(account_id text, seq bigint, log_id text, stored_at bigint,
    emit_ms bigint, operation text, user_email text, principal_id text, status text, namespace text, ingested_by text,
    prev_hash text, hash text, record_json text)`;

/** New chain heads as $1..$3 arrays (account ids, seqs, hashes). */
const HEADS_FROM_PARAMS = 'unnest($1::text[], $2::bigint[], $3::text[]) AS n(account_id, seq, hash) WHERE h.account_id = n.account_id';
const headParams = (heads: readonly { accountId: string; seq: number; hash: string }[]) => [
  heads.map((h) => h.accountId),
  heads.map((h) => h.seq),
  heads.map((h) => h.hash),
];

/**
 * A planned group commit, written only if the plan still holds: $1 the accounts whose heads the
 * plan read (sorted: locked in that order), $2..$4 each written account's head before its rows,
 * $5..$7 the heads after, $8 the rows (`pgJsonRows`), $9/$10 the (account, log id) pairs the
 * plan took as not stored. Returns `written`; false writes nothing.
 */
const WRITE_IF_PLAN_HOLDS = `WITH locked AS (
    SELECT account_id, seq, hash FROM chain_heads WHERE account_id = ANY($1::text[]) ORDER BY account_id FOR UPDATE
  ), holds AS (
    SELECT count(*) = cardinality($2::text[])
      AND NOT EXISTS (SELECT 1 FROM unnest($9::text[], $10::text[]) AS k(account_id, log_id)
        JOIN audit_records r ON r.account_id = k.account_id AND r.log_id = k.log_id) AS ok
    FROM locked l JOIN unnest($2::text[], $3::bigint[], $4::text[]) AS e(account_id, seq, hash)
      ON l.account_id = e.account_id AND l.seq = e.seq AND l.hash = e.hash
  ), ins AS (
    ${INSERT_ROWS.replace('$1', '$8')} WHERE (SELECT ok FROM holds)
  ), moved AS (
    UPDATE chain_heads h SET seq = n.seq, hash = n.hash
    FROM unnest($5::text[], $6::bigint[], $7::text[]) AS n(account_id, seq, hash)
    WHERE h.account_id = n.account_id AND (SELECT ok FROM holds)
  )
  SELECT ok AS written FROM holds`;

/** Chain primitives on one client inside an open transaction. */
function opsOn(c: PgQueryable): ChainTxOps {
  return {
    lockHeads: async (accountIds) => {
      // Rows are locked in the order the index returns them (sorted ids): no deadlock between
      // writers. One round trip when every head exists (all appends but an account's first).
      const lock = async () =>
        (await c.query('SELECT account_id, seq, hash FROM chain_heads WHERE account_id = ANY($1::text[]) ORDER BY account_id FOR UPDATE', [accountIds]))
          .rows as { account_id: string; seq: number; hash: string }[];
      let rows = await lock();
      if (rows.length < accountIds.length) {
        await c.query(CREATE_HEADS, [accountIds, GENESIS_HASH]);
        rows = await lock();
      }
      return new Map(rows.map((r) => [r.account_id, { seq: Number(r.seq), hash: r.hash }]));
    },
    findLogIds: async (logIds) => {
      const accounts: string[] = [];
      const ids: string[] = [];
      for (const [a, list] of logIds) {
        for (const id of list) {
          accounts.push(a);
          ids.push(id);
        }
      }
      const rows = (
        await c.query(
          `SELECT r.account_id, r.log_id, r.seq, r.record_json FROM unnest($1::text[], $2::text[]) AS k(account_id, log_id)
           JOIN audit_records r ON r.account_id = k.account_id AND r.log_id = k.log_id`,
          [accounts, ids],
        )
      ).rows as { account_id: string; log_id: string; seq: number; record_json: string }[];
      const found = new Map<string, Map<string, ExistingLog>>();
      for (const r of rows) {
        let mine = found.get(r.account_id);
        if (!mine) found.set(r.account_id, (mine = new Map()));
        mine.set(r.log_id, { seq: Number(r.seq), recordJson: r.record_json });
      }
      return found;
    },
    insert: async (rows: ChainRow[]) => {
      await c.query(INSERT_ROWS, [pgJsonRows(rows)]);
    },
    setHeads: async (heads) => {
      await c.query(`UPDATE chain_heads h SET seq = n.seq, hash = n.hash FROM ${HEADS_FROM_PARAMS}`, headParams(heads));
    },
    insertWithHeads: async (rows, heads) => {
      // One statement, one round trip: the rows (a data-modifying CTE) and the heads they move.
      await c.query(`WITH ins AS (${INSERT_ROWS.replace('$1', '$4')}) UPDATE chain_heads h SET seq = n.seq, hash = n.hash FROM ${HEADS_FROM_PARAMS}`, [
        ...headParams(heads),
        pgJsonRows(rows),
      ]);
    },
  };
}
