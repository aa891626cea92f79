/**
 * Kinesis stream ARNs: `arn:<partition>:kinesis:<region>:<12-digit account>:stream/<name>`.
 * Stream names are 1-128 characters of `[a-zA-Z0-9_.-]`.
 * Source: https://docs.aws.amazon.com/kinesis/latest/APIReference/API_CreateStream.html (StreamName)
 * and https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html
 */

export interface StreamArn {
  partition: string;
  region: string;
  accountId: string;
  streamName: string;
}

export type ParseResult = { ok: true; value: StreamArn } | { ok: false; message: string };

const PARTITIONS = ['aws', 'aws-cn', 'aws-us-gov'];

/** Parses a stream ARN, saying exactly which part is wrong. */
export function parseStreamArn(text: string): ParseResult {
  const fail = (why: string): ParseResult => ({
    ok: false,
    message: `"${text}" is not a Kinesis stream ARN: ${why} (expected arn:aws:kinesis:<region>:<account id>:stream/<stream name>)`,
  });
  const parts = text.split(':');
  if (parts.length !== 6 || parts[0] !== 'arn') return fail('it must have six ":"-separated parts starting with "arn"');
  const [, partition, service, region, accountId, resource] = parts as [string, string, string, string, string, string];
  if (!PARTITIONS.includes(partition)) return fail(`unknown partition "${partition}"`);
  if (service !== 'kinesis') return fail(`the service is "${service}", not "kinesis"`);
  if (!/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/.test(region)) return fail(`"${region}" is not a region code`);
  if (!/^\d{12}$/.test(accountId)) return fail(`the account id "${accountId}" must be 12 digits`);
  if (!resource.startsWith('stream/')) return fail(`the resource "${resource}" must be stream/<name>`);
  const streamName = resource.slice('stream/'.length);
  if (!/^[a-zA-Z0-9_.-]{1,128}$/.test(streamName)) return fail(`the stream name "${streamName}" must be 1-128 letters, digits, "_", "." or "-"`);
  return { ok: true, value: { partition, region, accountId, streamName } };
}

/** The role auditstream assumes: `arn:<partition>:iam::<account of the stream>:role/<roleName>`. */
export function roleArnFor(stream: StreamArn, roleName: string): string {
  return `arn:${stream.partition}:iam::${stream.accountId}:role/${roleName}`;
}
