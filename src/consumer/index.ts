/**
 * `auditstream/consumer`: the library behind `auditstream consume`, for people who write their
 * own consumer of the stream auditstream delivers. A source, an output and a checkpoint
 * database go into `consume`; it dedupes by log_id and, given the operator's public keys,
 * proves what arrived against the signed checkpoints in the stream.
 */
export { consume, formatReport, type ConsumeOptions, type ConsumeResult } from './consume.js';
export { CheckpointDb } from './checkpoints.js';
export { Dedupe, type DedupeVerdict } from './dedupe.js';
export { ProofTracker, diagnose, type AccountProofState, type AccountReport, type PendingRecord } from './proof.js';
export { deaggregate, aggregate, type UserRecord } from './deaggregate.js';
export { loadTrustedKeys } from './keys.js';
export { PgConsumerState, type PgConsumerStateOptions } from './leases.js';
export { RejectFile, positionOf, type Reject } from './rejects.js';
export { KinesisSource, parseStreamArn, type KinesisSourceOptions, type StartFrom } from './sources/kinesis.js';
export { PubSubSource, type PubSubSourceOptions } from './sources/pubsub.js';
export { StdoutOutput } from './outputs/stdout.js';
export { tableOutput, SqliteTableOutput, PostgresTableOutput } from './outputs/table.js';
export { DirectoryOutput } from './outputs/directory.js';
export {
  ConsumerSetupError,
  type BatchCommit,
  type ConsumerState,
  type ShardLeases,
  type OutputRecord,
  type Output,
  type ShardPosition,
  type Source,
  type SourceBatch,
  type SourceRecord,
} from './types.js';
