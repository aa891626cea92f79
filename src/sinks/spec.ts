/**
 * The audit log sink spec, mirroring Temporal Cloud's `temporal.api.cloud.account.v1.AuditLogSinkSpec`
 * (camelCase, as @temporalio/proto's JSON form): a name, `enabled`, and exactly one destination.
 * The destinations are declared by each kind's folder (`SinkDestinations` in
 * src/delivery/adapter.ts): Temporal's two here, auditstream's own kinds in their folders.
 */
import type { StoredSinkSpec } from '../delivery/adapter.js';

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

/** `AuditLogSinkSpec`: a name, `enabled`, optional filter, exactly one destination. */
export type AuditLogSinkSpec = StoredSinkSpec;
