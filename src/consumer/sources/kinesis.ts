/**
 * A Kinesis stream as a source: every shard, parents fully read before their children start
 * (so one account's records — one partition key — stay in order across a split or merge),
 * resuming after the last committed sequence number of each shard, deaggregating KPL records.
 * The first start reads from `--from` (TRIM_HORIZON, LATEST or a timestamp); a shard found later
 * (a child of a resharding) is read from its beginning.
 */
import { GetRecordsCommand, GetShardIteratorCommand, KinesisClient, ListShardsCommand, type Shard, type ShardIteratorType } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { deaggregate } from '../deaggregate.js';
import { ConsumerSetupError, type ShardLeases, type ShardPosition, type Source, type SourceBatch, type SourceRecord } from '../types.js';

export type StartFrom = { kind: 'trim-horizon' } | { kind: 'latest' } | { kind: 'timestamp'; at: Date };

export interface KinesisSourceOptions {
  streamArn: string;
  region?: string;
  from: StartFrom;
  /** Records per GetRecords call (Kinesis allows up to 10,000). */
  limit?: number;
  /** Wait between polls when nothing arrived (Kinesis allows 5 GetRecords per shard per second). */
  idleWaitMs?: number;
  client?: KinesisClient;
  /** Shared leases: read only the shards this process holds (several consumers on one stream). */
  leases?: ShardLeases;
}

const ARN = /^arn:aws[a-z-]*:kinesis:([a-z0-9-]+):(\d{12}):stream\/([A-Za-z0-9_.-]{1,128})$/;

/** Stream name and region of a Kinesis stream ARN, or a setup error naming the problem. */
export function parseStreamArn(arn: string): { region: string; account: string; name: string } {
  const m = ARN.exec(arn);
  if (!m) throw new ConsumerSetupError(`--kinesis-stream-arn ${arn} is not a Kinesis stream ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME)`);
  return { region: m[1]!, account: m[2]!, name: m[3]! };
}

interface Reader {
  shard: Shard;
  iterator?: string;
  sequence?: string;
  lagMs: number;
}

export class KinesisSource implements Source {
  readonly description: string;
  private readonly client: KinesisClient;
  private readonly streamArn: string;
  /** Calls name the stream (the consumer runs in the stream's own account and region). */
  private readonly streamName: string;
  private readonly from: StartFrom;
  private readonly limit: number;
  private readonly idleWaitMs: number;
  private shards: Shard[] = [];
  private positions = new Map<string, ShardPosition>();
  private readers = new Map<string, Reader>();
  private firstStart = true;
  private lastList = 0;
  private readonly leases: ShardLeases | undefined;
  /** Shards this process holds the lease of (all, without leases). */
  private held: Set<string> | undefined;
  private lastSync = 0;

  constructor(opts: KinesisSourceOptions) {
    const arn = parseStreamArn(opts.streamArn);
    this.streamArn = opts.streamArn;
    this.streamName = arn.name;
    this.description = `kinesis stream/${arn.name}`;
    this.from = opts.from;
    this.limit = opts.limit ?? 10_000;
    this.idleWaitMs = opts.idleWaitMs ?? 250;
    this.leases = opts.leases;
    // HTTP/1.1 as the sink uses: the client's HTTP/2 default only matters for SubscribeToShard.
    this.client =
      opts.client ??
      new KinesisClient({ region: opts.region ?? arn.region, requestHandler: new NodeHttpHandler({ connectionTimeout: 5000, requestTimeout: 30_000 }) });
  }

  async open(positions: Map<string, ShardPosition>): Promise<void> {
    this.positions = new Map(positions);
    this.firstStart = positions.size === 0;
    await this.list(true);
  }

  private async list(initial = false): Promise<void> {
    const shards: Shard[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(new ListShardsCommand(token ? { NextToken: token } : { StreamName: this.streamName }));
        shards.push(...(page.Shards ?? []));
        token = page.NextToken;
      } while (token);
    } catch (err) {
      const name = (err as { name?: string }).name ?? '';
      if (initial) {
        if (name === 'ResourceNotFoundException') throw new ConsumerSetupError(`Kinesis stream ${this.streamArn} does not exist`);
        throw new ConsumerSetupError(`cannot list the shards of ${this.streamArn}: ${name ? `${name}: ` : ''}${(err as Error).message}`);
      }
      throw err;
    }
    this.shards = shards;
    this.lastList = Date.now();
    if (this.leases) await this.syncLeases();
    if (initial && this.firstStart && this.from.kind === 'latest') {
      // Closed shards hold nothing newer than now.
      for (const s of shards) if (s.SequenceNumberRange?.EndingSequenceNumber) this.positions.set(s.ShardId!, { shard: s.ShardId!, finished: true });
    }
    this.startReady();
  }

  /** Renews and takes leases; drops readers of shards lost; adopts others' committed positions. */
  private async syncLeases(): Promise<void> {
    const { held, positions } = await this.leases!.sync(
      this.description,
      this.shards.map((s) => s.ShardId!),
    );
    this.lastSync = Date.now();
    this.held = held;
    for (const id of [...this.readers.keys()]) if (!held.has(id)) this.readers.delete(id);
    // Shards this process is not reading: the database knows best (another process read them).
    for (const [id, pos] of positions) if (!this.readers.has(id)) this.positions.set(id, pos);
    this.startReady();
  }

  /** Starts a reader for every unfinished shard whose parents are finished (or gone). */
  private startReady(): void {
    const known = new Set(this.shards.map((s) => s.ShardId!));
    const done = (id: string | undefined) => !id || !known.has(id) || this.positions.get(id)?.finished === true;
    for (const s of this.shards) {
      const id = s.ShardId!;
      if (this.readers.has(id) || this.positions.get(id)?.finished || (this.held && !this.held.has(id))) continue;
      if (!done(s.ParentShardId) || !done(s.AdjacentParentShardId)) continue;
      const pos = this.positions.get(id);
      this.readers.set(id, { shard: s, ...(pos?.sequence ? { sequence: pos.sequence } : {}), lagMs: 0 });
    }
  }

  private async iterator(r: Reader): Promise<string> {
    const id = r.shard.ShardId!;
    const known = this.positions.has(id);
    let type: ShardIteratorType;
    const extra: { StartingSequenceNumber?: string; Timestamp?: Date } = {};
    // A position "@<time>" stands for "no record yet since LATEST / the timestamp at <time>".
    if (r.sequence?.startsWith('@')) {
      type = 'AT_TIMESTAMP';
      extra.Timestamp = new Date(r.sequence.slice(1));
    } else if (r.sequence) {
      type = 'AFTER_SEQUENCE_NUMBER';
      extra.StartingSequenceNumber = r.sequence;
    } else if (!this.firstStart || known || this.hasParent(r.shard)) type = 'TRIM_HORIZON';
    else if (this.from.kind === 'latest') {
      type = 'LATEST';
      r.sequence = `@${new Date().toISOString()}`;
    } else if (this.from.kind === 'timestamp') {
      type = 'AT_TIMESTAMP';
      extra.Timestamp = this.from.at;
      r.sequence = `@${this.from.at.toISOString()}`;
    } else type = 'TRIM_HORIZON';
    const out = await this.client.send(new GetShardIteratorCommand({ StreamName: this.streamName, ShardId: id, ShardIteratorType: type, ...extra }));
    return out.ShardIterator!;
  }

  /** A child of a shard this consumer read (a resharding after it started) starts at its beginning. */
  private hasParent(s: Shard): boolean {
    return [s.ParentShardId, s.AdjacentParentShardId].some((p) => p !== undefined && this.positions.has(p));
  }

  async next(signal: AbortSignal): Promise<SourceBatch | null> {
    if (this.leases && Date.now() - this.lastSync >= this.leases.renewEveryMs) await this.syncLeases();
    if (this.readers.size === 0) {
      await this.list();
      if (this.readers.size === 0 && this.shards.every((s) => this.positions.get(s.ShardId!)?.finished)) return null;
    }
    const records: SourceRecord[] = [];
    const positions: ShardPosition[] = [];
    let finishedAny = false;
    for (const r of [...this.readers.values()]) {
      if (signal.aborted) break;
      const id = r.shard.ShardId!;
      r.iterator ??= await this.iterator(r);
      let page;
      try {
        page = await this.client.send(new GetRecordsCommand({ ShardIterator: r.iterator, Limit: this.limit }));
      } catch (err) {
        const name = (err as { name?: string }).name;
        if (name === 'ExpiredIteratorException') {
          delete r.iterator;
          continue;
        }
        throw err;
      }
      r.lagMs = page.MillisBehindLatest ?? 0;
      for (const k of page.Records ?? []) {
        const data = Buffer.from(k.Data ?? new Uint8Array());
        const users = deaggregate(data, k.PartitionKey ?? '');
        const aggregated = users.length !== 1 || users[0]!.data !== data;
        users.forEach((u, i) =>
          records.push({ account: u.partitionKey, data: u.data, shard: id, sequence: k.SequenceNumber!, ...(aggregated ? { subSequence: i } : {}) }),
        );
        r.sequence = k.SequenceNumber!;
      }
      if (page.NextShardIterator) r.iterator = page.NextShardIterator;
      else {
        this.readers.delete(id);
        finishedAny = true;
      }
      const pos: ShardPosition = { shard: id, ...(r.sequence ? { sequence: r.sequence } : {}), finished: !page.NextShardIterator };
      // The first poll of a shard is committed even when empty, so a restart does not go back
      // to LATEST / the timestamp and skip what arrived in between.
      if (page.Records?.length || pos.finished || !this.positions.has(id)) positions.push(pos);
      this.positions.set(id, pos);
    }
    if (finishedAny || Date.now() - this.lastList > 30_000) await this.list();
    if (records.length === 0 && !signal.aborted) await sleep(this.idleWaitMs, signal);
    return { records, positions };
  }

  lag(): Map<string, number> {
    return new Map([...this.readers.values()].map((r) => [r.shard.ShardId!, r.lagMs]));
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
