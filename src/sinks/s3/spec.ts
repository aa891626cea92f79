/** The Amazon S3 sink's spec (auditstream's own kind, `s3_sink` in /api/v1 bodies). */
export interface S3SinkSpec {
  /** The bucket's name (not an ARN). */
  bucket: string;
  /** Key prefix the objects go under, without a leading or trailing "/", e.g. `audit/temporal`. */
  prefix: string;
  /** The bucket's region. */
  region: string;
  /** The 12-digit AWS account that owns the role. */
  awsAccountId: string;
  /** Name of the IAM role in that account that auditstream assumes (not an ARN). */
  roleName: string;
}
