/**
 * A table output: `sqlite:FILE` or `postgres://...[?schema=S]`, table `consumed_audit_records`
 * (account_id, log_id, record, shard, sequence, received_at, and an increasing `id` that keeps
 * the arrival order, so per-account order is `ORDER BY id`). `record` holds the record's bytes as
 * delivered (UTF-8 JSON text). (account_id, log_id) is the primary key and each batch inserts in
 * one transaction with ON CONFLICT DO NOTHING, so a batch written again after a hard kill adds
 * nothing: exactly once without a position to roll back to.
 */
import Database from 'better-sqlite3';
import { parseDatabaseUrl } from '../../store/open.js';
import { ConsumerSetupError, type Output, type OutputRecord } from '../types.js';

type Row = OutputRecord;

const TABLE = 'consumed_audit_records';

export function tableOutput(spec: string): Output {
  let loc;
  try {
    loc = parseDatabaseUrl(spec);
  } catch (err) {
    throw new ConsumerSetupError(`--output ${spec}: ${(err as Error).message}`);
  }
  return loc.engine === 'sqlite' ? new SqliteTableOutput(loc.path) : new PostgresTableOutput(loc.url, loc.schema);
}

export class SqliteTableOutput implements Output {
  readonly description: string;
  private db: Database.Database | undefined;
  private insert: Database.Statement | undefined;

  constructor(private readonly path: string) {
    this.description = `sqlite:${path}`;
  }

  async open(): Promise<void> {
    try {
      this.db = new Database(this.path);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      this.db.exec(`CREATE TABLE IF NOT EXISTS ${TABLE} (
        id INTEGER PRIMARY KEY AUTOINCREMENT, account_id TEXT NOT NULL, log_id TEXT NOT NULL, record TEXT NOT NULL,
        shard TEXT, sequence TEXT, received_at TEXT NOT NULL, UNIQUE (account_id, log_id))`);
      this.insert = this.db.prepare(
        `INSERT INTO ${TABLE} (account_id, log_id, record, shard, sequence, received_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      );
    } catch (err) {
      this.db?.close();
      throw new ConsumerSetupError(`cannot use output database ${this.path}: ${(err as Error).message}`);
    }
  }

  async write(records: Row[]): Promise<undefined> {
    const now = new Date().toISOString();
    this.db!.transaction(() => {
      for (const r of records) this.insert!.run(r.account, logIdOf(r.data), r.data.toString('utf8'), r.shard ?? null, r.sequence ?? null, now);
    })();
    return undefined;
  }

  async close(): Promise<void> {
    this.db?.close();
  }
}

export class PostgresTableOutput implements Output {
  readonly description: string;
  private client: import('pg').Client | undefined;

  constructor(
    private readonly url: string,
    private readonly schema: string | undefined,
  ) {
    this.description = `postgres table ${schema ? `${schema}.` : ''}${TABLE}`;
  }

  private get table(): string {
    return this.schema ? `"${this.schema.replace(/"/g, '""')}".${TABLE}` : TABLE;
  }

  async open(): Promise<void> {
    const pg = (await import('pg')).default;
    this.client = new pg.Client({ connectionString: this.url });
    try {
      await this.client.connect();
      // Several consumers may start at once on one table: their CREATE ... IF NOT EXISTS would race.
      await this.client.query('BEGIN');
      await this.client.query(`SELECT pg_advisory_xact_lock(hashtext('auditstream-consumer-ddl'))`);
      if (this.schema) await this.client.query(`CREATE SCHEMA IF NOT EXISTS "${this.schema.replace(/"/g, '""')}"`);
      await this.client.query(`CREATE TABLE IF NOT EXISTS ${this.table} (
        id BIGSERIAL PRIMARY KEY, account_id TEXT NOT NULL, log_id TEXT NOT NULL, record TEXT NOT NULL,
        shard TEXT, sequence TEXT, received_at TIMESTAMPTZ NOT NULL DEFAULT now(), UNIQUE (account_id, log_id))`);
      await this.client.query('COMMIT');
    } catch (err) {
      await this.client.end().catch(() => {});
      throw new ConsumerSetupError(`cannot use output database ${this.description}: ${(err as Error).message}`);
    }
  }

  async write(records: Row[]): Promise<undefined> {
    if (records.length === 0) return undefined;
    const c = this.client!;
    await c.query('BEGIN');
    try {
      for (let i = 0; i < records.length; i += 1000) {
        const chunk = records.slice(i, i + 1000);
        await c.query(
          `INSERT INTO ${this.table} (account_id, log_id, record, shard, sequence)
           SELECT a, l, r, s, q FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS t(a, l, r, s, q, n) ORDER BY n
           ON CONFLICT DO NOTHING`,
          [
            chunk.map((r) => r.account),
            chunk.map((r) => logIdOf(r.data)),
            chunk.map((r) => r.data.toString('utf8')),
            chunk.map((r) => r.shard ?? null),
            chunk.map((r) => r.sequence ?? null),
          ],
        );
      }
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      throw err;
    }
    return undefined;
  }

  async close(): Promise<void> {
    await this.client?.end().catch(() => {});
  }
}

/** Records reach an output only after validation, so their log_id is known to be a string. */
function logIdOf(data: Buffer): string {
  return (JSON.parse(data.toString('utf8')) as { log_id: string }).log_id;
}
