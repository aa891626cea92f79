/** The AssumeRole + ExternalId credentials are shared by the AWS kinds: see src/sinks/aws/credentials.ts. */
export { AssumedRoleCredentials, RoleAssumptionError, sessionNameFor } from '../aws/credentials.js';
