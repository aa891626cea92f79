/**
 * Shared state for several consumer processes on one stream (`--lease-db postgres://...`), as the
 * KCL does with DynamoDB: one lease per shard in a PostgreSQL table, held by one process at a time
 * (renewed every few seconds, taken over by another once it has expired: the holder died), each
 * shard's committed position in its lease row, and the dedupe ids, proof state and output
 * positions in tables beside it. Every live process (heartbeat in `consumer_members`) aims at
 * an equal share of the unfinished shards, taking free or expired leases and letting go of more
 * than its share. A batch commits in one transaction; a position advances only while this
 * process still holds the shard's lease (the fence), and the dedupe ids commit regardless, so a
 * process that took a shard over does not write again what the previous holder wrote and
 * committed.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { parseDatabaseUrl } from '../store/open.js';
import type { AccountProofState, PendingRecord } from './proof.js';
import { heldFromRow, heldToRow, type HeldRow, type StoredHeld } from './reorder.js';
import { ConsumerSetupError, type BatchCommit, type ConsumerState, type ShardLeases, type ShardPosition } from './types.js';

export interface PgConsumerStateOptions {
  /** A lease not renewed for this long is free to take (default 10 s). */
  ttlMs?: number;
}

export class PgConsumerState implements ConsumerState, ShardLeases {
  readonly shared = true;
  readonly description: string;
  readonly renewEveryMs: number;
  /** This process, as lease owner. */
  readonly owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private readonly ttlMs: number;

  private constructor(
    private readonly client: pg.Client,
    /** Lease renewals on their own connection: they must not join a batch's transaction. */
    private readonly leaseClient: pg.Client,
    private readonly schema: string | undefined,
    opts: PgConsumerStateOptions,
  ) {
    this.ttlMs = opts.ttlMs ?? 10_000;
    this.renewEveryMs = Math.max(200, Math.floor(this.ttlMs / 3));
    this.description = `lease database${schema ? ` (schema ${schema})` : ''}`;
  }

  /** Connects and creates the tables; an unreachable or unusable database is a `ConsumerSetupError`. */
  static async open(url: string, opts: PgConsumerStateOptions = {}): Promise<PgConsumerState> {
    const loc = (() => {
      try {
        return parseDatabaseUrl(url);
      } catch (err) {
        throw new ConsumerSetupError(`--lease-db: ${(err as Error).message}`);
      }
    })();
    if (loc.engine !== 'postgres') throw new ConsumerSetupError('--lease-db must be a postgres://... URL');
    const { default: pgm } = await import('pg');
    const client = new pgm.Client({ connectionString: loc.url });
    const leaseClient = new pgm.Client({ connectionString: loc.url });
    try {
      await client.connect();
      await leaseClient.connect();
      // Several consumers start at once: their CREATE ... IF NOT EXISTS would race.
      await client.query('BEGIN');
      await client.query(`SELECT pg_advisory_xact_lock(hashtext('auditstream-consumer-ddl'))`);
      if (loc.schema) {
        const q = `"${loc.schema.replace(/"/g, '""')}"`;
        await client.query(`CREATE SCHEMA IF NOT EXISTS ${q}`);
        await client.query(`SET search_path TO ${q}`);
        await leaseClient.query(`SET search_path TO ${q}`);
      }
      await client.query(`
        CREATE TABLE IF NOT EXISTS consumer_leases (source TEXT NOT NULL, shard TEXT NOT NULL, owner TEXT, expires_at TIMESTAMPTZ, sequence TEXT, finished BOOLEAN NOT NULL DEFAULT false, PRIMARY KEY (source, shard));
        CREATE TABLE IF NOT EXISTS consumer_members (source TEXT NOT NULL, owner TEXT NOT NULL, expires_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (source, owner));
        CREATE TABLE IF NOT EXISTS consumer_seen (account TEXT NOT NULL, log_id TEXT NOT NULL, digest TEXT NOT NULL, PRIMARY KEY (account, log_id));
        CREATE TABLE IF NOT EXISTS consumer_proof (account TEXT PRIMARY KEY, state TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS consumer_proof_pending (account TEXT NOT NULL, idx INTEGER NOT NULL, record TEXT NOT NULL, PRIMARY KEY (account, idx));
        CREATE TABLE IF NOT EXISTS consumer_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS consumer_held (account TEXT NOT NULL, log_id TEXT NOT NULL, ord BIGINT NOT NULL, digest TEXT NOT NULL, data BYTEA NOT NULL, shard TEXT NOT NULL, sequence TEXT NOT NULL, sub INTEGER, PRIMARY KEY (account, log_id));
      `);
      await client.query('COMMIT');
    } catch (err) {
      await client.end().catch(() => {});
      await leaseClient.end().catch(() => {});
      throw new ConsumerSetupError(`cannot use lease database: ${(err as Error).message}`);
    }
    return new PgConsumerState(client, leaseClient, loc.schema, opts);
  }

  async sync(source: string, shards: string[]): Promise<{ held: Set<string>; positions: Map<string, ShardPosition> }> {
    const c = this.leaseClient;
    const ttl = `${this.ttlMs} milliseconds`;
    await c.query(
      `INSERT INTO consumer_members (source, owner, expires_at) VALUES ($1, $2, now() + $3::interval)
       ON CONFLICT (source, owner) DO UPDATE SET expires_at = excluded.expires_at`,
      [source, this.owner, ttl],
    );
    await c.query("DELETE FROM consumer_members WHERE source = $1 AND expires_at < now() - interval '1 minute'", [source]);
    if (shards.length) await c.query('INSERT INTO consumer_leases (source, shard) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING', [source, shards]);
    const renewed = await c.query<{ shard: string }>(
      'UPDATE consumer_leases SET expires_at = now() + $3::interval WHERE source = $1 AND owner = $2 AND NOT finished RETURNING shard',
      [source, this.owner, ttl],
    );
    const held = new Set(renewed.rows.map((r) => r.shard));
    const members = Number(
      (await c.query<{ n: string }>('SELECT count(*) AS n FROM consumer_members WHERE source = $1 AND expires_at > now()', [source])).rows[0]!.n,
    );
    const open = Number(
      (await c.query<{ n: string }>('SELECT count(*) AS n FROM consumer_leases WHERE source = $1 AND NOT finished AND shard = ANY($2)', [source, shards]))
        .rows[0]!.n,
    );
    const share = Math.ceil(open / Math.max(1, members));
    if (held.size > share) {
      const extra = [...held].sort().slice(share);
      await c.query('UPDATE consumer_leases SET owner = NULL, expires_at = NULL WHERE source = $1 AND owner = $2 AND shard = ANY($3)', [
        source,
        this.owner,
        extra,
      ]);
      for (const s of extra) held.delete(s);
    } else if (held.size < share) {
      const taken = await c.query<{ shard: string }>(
        `UPDATE consumer_leases SET owner = $2, expires_at = now() + $3::interval
         WHERE source = $1 AND shard IN (
           SELECT shard FROM consumer_leases WHERE source = $1 AND NOT finished AND shard = ANY($4) AND (owner IS NULL OR expires_at < now())
           ORDER BY shard LIMIT $5 FOR UPDATE SKIP LOCKED)
         RETURNING shard`,
        [source, this.owner, ttl, shards, share - held.size],
      );
      for (const r of taken.rows) held.add(r.shard);
    }
    return { held, positions: await this.positions(source, c) };
  }

  async positions(source: string, c: pg.Client = this.client): Promise<Map<string, ShardPosition>> {
    const rows = await c.query<{ shard: string; sequence: string | null; finished: boolean }>(
      'SELECT shard, sequence, finished FROM consumer_leases WHERE source = $1 AND (sequence IS NOT NULL OR finished)',
      [source],
    );
    return new Map(rows.rows.map((r) => [r.shard, { shard: r.shard, ...(r.sequence !== null ? { sequence: r.sequence } : {}), finished: r.finished }]));
  }

  async seenDigests(keys: { account: string; logId: string }[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (keys.length === 0) return out;
    const rows = await this.client.query<{ account: string; log_id: string; digest: string }>(
      'SELECT s.account, s.log_id, s.digest FROM consumer_seen s JOIN unnest($1::text[], $2::text[]) AS k(account, log_id) USING (account, log_id)',
      [keys.map((k) => k.account), keys.map((k) => k.logId)],
    );
    for (const r of rows.rows) out.set(`${r.account}\n${r.log_id}`, r.digest);
    return out;
  }

  async proofStates(accounts?: string[]): Promise<{ state: AccountProofState; pending: PendingRecord[] }[]> {
    const states = accounts
      ? await this.client.query<{ account: string; state: string }>('SELECT account, state FROM consumer_proof WHERE account = ANY($1)', [accounts])
      : await this.client.query<{ account: string; state: string }>('SELECT account, state FROM consumer_proof');
    const out: { state: AccountProofState; pending: PendingRecord[] }[] = [];
    for (const s of states.rows) {
      const pending = await this.client.query<{ record: string }>('SELECT record FROM consumer_proof_pending WHERE account = $1 ORDER BY idx', [s.account]);
      out.push({ state: JSON.parse(s.state) as AccountProofState, pending: pending.rows.map((r) => JSON.parse(r.record) as PendingRecord) });
    }
    return out;
  }

  async heldRecords(accounts?: string[]): Promise<StoredHeld[]> {
    const rows = accounts
      ? await this.client.query<HeldRow>(
          'SELECT account, log_id, ord::float8 AS ord, digest, data, shard, sequence, sub FROM consumer_held WHERE account = ANY($1) ORDER BY ord',
          [accounts],
        )
      : await this.client.query<HeldRow>('SELECT account, log_id, ord::float8 AS ord, digest, data, shard, sequence, sub FROM consumer_held ORDER BY ord');
    return rows.rows.map(heldFromRow);
  }

  async meta(key: string): Promise<string | undefined> {
    return (await this.client.query<{ value: string }>('SELECT value FROM consumer_meta WHERE key = $1', [key])).rows[0]?.value;
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.client.query('INSERT INTO consumer_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value', [key, value]);
  }

  async commit(b: BatchCommit): Promise<void> {
    const c = this.client;
    await c.query('BEGIN');
    try {
      for (const p of b.positions) {
        // The fence: only the holder advances a shard.
        await c.query('UPDATE consumer_leases SET sequence = COALESCE($4, sequence), finished = $5 WHERE source = $1 AND shard = $2 AND owner = $3', [
          b.source,
          p.shard,
          this.owner,
          p.sequence ?? null,
          p.finished,
        ]);
      }
      if (b.seen.length) {
        await c.query('INSERT INTO consumer_seen (account, log_id, digest) SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING', [
          b.seen.map((s) => s.account),
          b.seen.map((s) => s.logId),
          b.seen.map((s) => s.digest),
        ]);
      }
      for (const p of b.proofs) {
        await c.query('INSERT INTO consumer_proof (account, state) VALUES ($1, $2) ON CONFLICT (account) DO UPDATE SET state = excluded.state', [
          p.state.account,
          JSON.stringify(p.state),
        ]);
        if (p.pendingReset) await c.query('DELETE FROM consumer_proof_pending WHERE account = $1', [p.state.account]);
        if (p.pendingAdded.length) {
          const base = p.state.pendingCount - p.pendingAdded.length;
          await c.query(
            'INSERT INTO consumer_proof_pending (account, idx, record) SELECT $1, base + n - 1, r FROM unnest($2::text[]) WITH ORDINALITY AS t(r, n), (SELECT $3::int AS base) b',
            [p.state.account, p.pendingAdded.map((r) => JSON.stringify(r)), base],
          );
        }
      }
      const put = (b.held?.put ?? []).map(heldToRow);
      if (put.length) {
        await c.query(
          'INSERT INTO consumer_held (account, log_id, ord, digest, data, shard, sequence, sub) SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bytea[], $6::text[], $7::text[], $8::int[]) ON CONFLICT (account, log_id) DO UPDATE SET ord = excluded.ord',
          [
            put.map((r) => r.account),
            put.map((r) => r.log_id),
            put.map((r) => r.ord),
            put.map((r) => r.digest),
            put.map((r) => r.data),
            put.map((r) => r.shard),
            put.map((r) => r.sequence),
            put.map((r) => r.sub),
          ],
        );
      }
      const remove = b.held?.remove ?? [];
      if (remove.length) {
        await c.query(
          'DELETE FROM consumer_held h USING unnest($1::text[], $2::text[]) AS k(account, log_id) WHERE h.account = k.account AND h.log_id = k.log_id',
          [remove.map((r) => r.account), remove.map((r) => r.logId)],
        );
      }
      if (b.outputPosition !== undefined)
        await c.query('INSERT INTO consumer_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value', [
          b.outputKey ?? 'output_position',
          b.outputPosition,
        ]);
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      throw err;
    }
  }

  async close(): Promise<void> {
    // Let go of the leases at once, so another process need not wait for them to expire.
    await this.leaseClient.query('UPDATE consumer_leases SET owner = NULL, expires_at = NULL WHERE owner = $1', [this.owner]).catch(() => {});
    await this.leaseClient.query('DELETE FROM consumer_members WHERE owner = $1', [this.owner]).catch(() => {});
    await this.leaseClient.end().catch(() => {});
    await this.client.end().catch(() => {});
  }
}
