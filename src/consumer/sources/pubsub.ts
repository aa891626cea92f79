/**
 * A Pub/Sub subscription as a source: streaming pull (the official client), each message
 * acknowledged only after the batch it belongs to is durable in the output and committed, so a
 * crash means redelivery (deduped by log_id), never loss. auditstream publishes with the account
 * id as ordering key; on a subscription with message ordering the service delivers each key's
 * messages in order and this source keeps that order. The subscription itself tracks what was
 * acknowledged, so there are no shard positions to store.
 */
import { PubSub, type Message, type Subscription } from '@google-cloud/pubsub';
import { standardEndpointEnv } from '../../config.js';
import { publisherEndpoint } from '../../sinks/pubsub/endpoint.js';
import { ConsumerSetupError, type ShardPosition, type Source, type SourceBatch, type SourceRecord } from '../types.js';

export interface PubSubSourceOptions {
  /** `projects/P/subscriptions/S`. */
  subscription: string;
  /** Most messages held unacknowledged at once (and per batch). */
  maxMessages?: number;
  /** How long `next` waits for a first message. */
  waitMs?: number;
}

const NAME = /^projects\/([a-z][a-z0-9-]{4,28}[a-z0-9])\/subscriptions\/([A-Za-z][A-Za-z0-9._~+%-]{2,254})$/;

export class PubSubSource implements Source {
  readonly description: string;
  private readonly client: PubSub;
  private subscription: Subscription | undefined;
  private buffer: Message[] = [];
  private wake: (() => void) | undefined;
  private failure: Error | undefined;
  private lastPublishMs: number | undefined;
  private readonly maxMessages: number;
  private readonly waitMs: number;

  constructor(private readonly opts: PubSubSourceOptions) {
    const m = NAME.exec(opts.subscription);
    if (!m) throw new ConsumerSetupError(`--pubsub-subscription ${opts.subscription} is not projects/PROJECT/subscriptions/NAME`);
    this.description = `pubsub ${opts.subscription}`;
    // The same endpoint rules as the Pub/Sub sink (PUBSUB_EMULATOR_HOST: plaintext, no
    // credentials); universeDomain stated so the client never probes the GCE metadata server.
    const endpoint = publisherEndpoint(standardEndpointEnv());
    this.client = new PubSub({
      projectId: m[1]!,
      universeDomain: 'googleapis.com',
      ...(endpoint.kind === 'emulator'
        ? { apiEndpoint: `${endpoint.host}:${endpoint.port}`, emulatorMode: true }
        : { apiEndpoint: endpoint.host, port: endpoint.port }),
    });
    this.maxMessages = opts.maxMessages ?? 1000;
    this.waitMs = opts.waitMs ?? 250;
  }

  async open(_positions: Map<string, ShardPosition>): Promise<void> {
    const sub = this.client.subscription(this.opts.subscription, {
      flowControl: { maxMessages: this.maxMessages, allowExcessMessages: false },
    });
    let exists: boolean;
    try {
      [exists] = await sub.exists();
    } catch (err) {
      await this.close();
      throw new ConsumerSetupError(`cannot reach Pub/Sub subscription ${this.opts.subscription}: ${(err as Error).message}`);
    }
    if (!exists) {
      await this.close();
      throw new ConsumerSetupError(`Pub/Sub subscription ${this.opts.subscription} does not exist`);
    }
    sub.on('message', (m: Message) => {
      this.buffer.push(m);
      this.wake?.();
    });
    sub.on('error', (err: Error) => {
      this.failure = err;
      this.wake?.();
    });
    this.subscription = sub;
  }

  async next(signal: AbortSignal): Promise<SourceBatch | null> {
    if (this.failure) throw this.failure;
    if (this.buffer.length === 0 && !signal.aborted) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          signal.removeEventListener('abort', done);
          this.wake = undefined;
          resolve();
        };
        const t = setTimeout(done, this.waitMs);
        signal.addEventListener('abort', done, { once: true });
        this.wake = done;
      });
    }
    const messages = this.buffer;
    this.buffer = [];
    const records: SourceRecord[] = messages.map((m) => ({
      account: m.orderingKey || m.attributes['account_id'] || '',
      data: m.data,
      shard: this.opts.subscription,
      sequence: m.id,
    }));
    if (messages.length) this.lastPublishMs = messages[messages.length - 1]!.publishTime.getTime();
    return {
      records,
      positions: [],
      commit: async () => {
        for (const m of messages) m.ack();
      },
    };
  }

  lag(): Map<string, number> {
    return new Map(this.lastPublishMs !== undefined ? [[this.opts.subscription, Math.max(0, Date.now() - this.lastPublishMs)]] : []);
  }

  async close(): Promise<void> {
    this.subscription?.removeAllListeners('message');
    await this.subscription?.close().catch(() => {});
    await this.client.close().catch(() => {});
  }
}
