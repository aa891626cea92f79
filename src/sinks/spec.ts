/**
 * The audit log sink spec, mirroring Temporal Cloud's `temporal.api.cloud.account.v1.AuditLogSinkSpec`
 * (camelCase, as @temporalio/proto's JSON form): a name, `enabled`, and exactly one destination.
 * Shared by the delivery engine (src/delivery), the adapters (src/sinks/*) and the control plane.
 */

/** `temporal.api.cloud.sink.v1.KinesisSpec`. */
export interface KinesisSinkSpec {
  /** Name of the IAM role in the stream's AWS account that auditstream assumes (not an ARN). */
  roleName: string;
  /** The stream ARN: `arn:aws:kinesis:<region>:<account>:stream/<name>`. */
  destinationUri: string;
  /** The stream's region; must equal the ARN's. */
  region: string;
  /**
   * auditstream extension (not in the Ops API's KinesisSpec): pack records in the KPL aggregated
   * format (src/sinks/kinesis/aggregate.ts). Absent or false: one Kinesis record per audit record.
   */
  aggregate?: boolean;
}

/** `temporal.api.cloud.sink.v1.PubSubSpec`. */
export interface PubSubSinkSpec {
  /** The customer's service account email that auditstream impersonates. */
  serviceAccountId: string;
  /** The short topic id (not `projects/.../topics/...`). */
  topicName: string;
  gcpProjectId: string;
}

/** `AuditLogSinkSpec`: exactly one of `kinesisSink` / `pubSubSink`. */
export interface AuditLogSinkSpec {
  /** Unique per account; `[A-Za-z0-9_-]{1,64}` (see validateSpec). */
  name: string;
  /** `false` pauses delivery and keeps the cursor. */
  enabled: boolean;
  kinesisSink?: KinesisSinkSpec;
  pubSubSink?: PubSubSinkSpec;
}

export type SinkKind = 'kinesis' | 'pubsub';

/** Which destination a spec names (validateSpec guarantees exactly one is set). */
export function sinkKindOf(spec: AuditLogSinkSpec): SinkKind {
  return spec.kinesisSink ? 'kinesis' : 'pubsub';
}
