/**
 * The standard deaggregator, `aws-kinesis-agg` (the npm package AWS publishes for reading KPL
 * aggregated records), typed for the tests: its own .d.ts needs aws-sdk v2 and aws-lambda types.
 */
import { createRequire } from 'node:module';

interface UserRecord {
  Data?: string;
  data?: string;
  SubSequenceNumber?: number;
}
interface KplDeagg {
  deaggregateSync(
    record: { Data: string; PartitionKey: string; SequenceNumber: string },
    computeChecksums: boolean,
    cb: (err: Error | null, records?: UserRecord[]) => void,
  ): void;
}

const agg = createRequire(import.meta.url)('aws-kinesis-agg') as KplDeagg;

/**
 * The user records in one Kinesis record, as `aws-kinesis-agg` reads them with checksums on (a
 * record that is not aggregated comes back as itself). Throws what the package reports.
 */
export function deaggregate(data: Uint8Array, partitionKey = 'pk', sequenceNumber = '1'): Buffer[] {
  let out: Buffer[] | undefined;
  let failure: Error | undefined;
  agg.deaggregateSync({ Data: Buffer.from(data).toString('base64'), PartitionKey: partitionKey, SequenceNumber: sequenceNumber }, true, (err, records) => {
    failure = err ?? undefined;
    out = (records ?? []).map((r) => Buffer.from(r.Data ?? r.data ?? '', 'base64'));
  });
  if (failure !== undefined) throw failure instanceof Error ? failure : new Error(String(failure));
  return out ?? [];
}
