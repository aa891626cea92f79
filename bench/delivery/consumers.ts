/** Reading the delivered records back: each consumer calls onArrive(logId, arrivalMs) for every record it reads. */
import { GetRecordsCommand, GetShardIteratorCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { Message } from '@google-cloud/pubsub';
import { createOrderedTopic, emulatorClient, type PubSubEmulator } from '../../test/helpers/pubsub-emulator.js';
import { PROJECT, progress, sleep } from './util.js';
import { deaggregate } from '../../test/helpers/kpl.js';

export interface Consumer {
  stop(): Promise<void>;
}

export function kinesisConsumer(client: KinesisClient, stream: string, onArrive: (logId: string, at: number) => void, pollMs = 20): Consumer {
  let running = true;
  const loop = (async () => {
    let it = (await client.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: 'shardId-000000000000', ShardIteratorType: 'TRIM_HORIZON' })))
      .ShardIterator;
    let failures = 0;
    while (running) {
      let page;
      try {
        page = await client.send(new GetRecordsCommand({ ShardIterator: it!, Limit: 10_000 }));
        failures = 0;
      } catch (err) {
        // moto's GetRecords iterates a shard's dict while PutRecords may be adding to it (its
        // Shard.put_record is "not safe for concurrency"): an occasional 500. Read again.
        if (++failures > 20) throw err;
        await sleep(pollMs);
        continue;
      }
      const at = Date.now();
      for (const r of page.Records ?? []) {
        // aws-kinesis-agg, as a consumer would: KPL aggregated records hold many audit records.
        for (const d of deaggregate(r.Data!, r.PartitionKey!, r.SequenceNumber!)) onArrive((JSON.parse(d.toString('utf8')) as { log_id: string }).log_id, at);
      }
      it = page.NextShardIterator ?? it;
      if (!page.Records?.length) await sleep(pollMs);
    }
  })();
  // Held until stop(): an unhandled rejection would end the process before moto is stopped.
  let failure: unknown;
  loop.catch((err: unknown) => {
    failure = err;
    running = false;
  });
  return {
    async stop() {
      running = false;
      await loop.catch(() => {});
      if (failure !== undefined) throw failure instanceof Error ? failure : new Error(String(failure));
    },
  };
}

export function pubsubConsumer(emulator: PubSubEmulator, topic: string, onArrive: (logId: string, at: number) => void): Promise<Consumer> {
  return (async () => {
    const admin = emulatorClient(emulator, PROJECT);
    const created = await createOrderedTopic(admin, topic, `${topic}-sub`);
    const sub = admin.subscription(created.name, { flowControl: { maxMessages: 10_000, allowExcessMessages: true } });
    sub.on('message', (m: Message) => {
      onArrive(m.attributes['log_id']!, Date.now());
      m.ack();
    });
    sub.on('error', (err) => progress(`pubsub consumer error: ${String(err)}`));
    return {
      async stop() {
        sub.removeAllListeners('message');
        await sub.close();
        await admin.close();
      },
    };
  })();
}
