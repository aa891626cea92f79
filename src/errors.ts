/**
 * One catalogue of every error auditstream reports to a caller, each with a stable code, an HTTP
 * status and a gRPC status. Code outside this file throws `AuditError` with one of these codes;
 * the HTTP and gRPC layers translate it, so a client's mistake is never a 500 or an `INTERNAL`
 * (the official Temporal Cloud client retries UNKNOWN, ABORTED, UNAVAILABLE and RESOURCE_EXHAUSTED
 * up to 10 times, so those are reserved for conditions that really are transient).
 */

/** gRPC status codes (numeric values from grpc/status.proto), kept here to avoid a grpc import. */
export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcCode = (typeof GrpcCode)[keyof typeof GrpcCode];

interface ErrorSpec {
  http: number;
  grpc: GrpcCode;
}

export const ERRORS = {
  AS_ERR_INVALID_ARGUMENT: { http: 400, grpc: GrpcCode.INVALID_ARGUMENT },
  AS_ERR_INVALID_RECORD: { http: 400, grpc: GrpcCode.INVALID_ARGUMENT },
  AS_ERR_INVALID_CURSOR: { http: 400, grpc: GrpcCode.INVALID_ARGUMENT },
  AS_ERR_UNAUTHENTICATED: { http: 401, grpc: GrpcCode.UNAUTHENTICATED },
  AS_ERR_PERMISSION_DENIED: { http: 403, grpc: GrpcCode.PERMISSION_DENIED },
  AS_ERR_NOT_FOUND: { http: 404, grpc: GrpcCode.NOT_FOUND },
  AS_ERR_ALREADY_EXISTS: { http: 409, grpc: GrpcCode.ALREADY_EXISTS },
  AS_ERR_LOG_ID_CONFLICT: { http: 409, grpc: GrpcCode.ALREADY_EXISTS },
  AS_ERR_FAILED_PRECONDITION: { http: 409, grpc: GrpcCode.FAILED_PRECONDITION },
  AS_ERR_PAYLOAD_TOO_LARGE: { http: 413, grpc: GrpcCode.INVALID_ARGUMENT },
  AS_ERR_UNSUPPORTED_MEDIA_TYPE: { http: 415, grpc: GrpcCode.INVALID_ARGUMENT },
  AS_ERR_RATE_LIMITED: { http: 429, grpc: GrpcCode.RESOURCE_EXHAUSTED },
  AS_ERR_HEADERS_TOO_LARGE: { http: 431, grpc: GrpcCode.INVALID_ARGUMENT },
  AS_ERR_REQUEST_TIMEOUT: { http: 408, grpc: GrpcCode.DEADLINE_EXCEEDED },
  AS_ERR_UNIMPLEMENTED: { http: 501, grpc: GrpcCode.UNIMPLEMENTED },
  AS_ERR_UNAVAILABLE: { http: 503, grpc: GrpcCode.UNAVAILABLE },
  AS_ERR_INTERNAL: { http: 500, grpc: GrpcCode.INTERNAL },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** An error with a catalogued code; `details` is safe to show the caller (never secrets). */
export class AuditError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: ErrorOptions) {
    super(message, options);
    this.name = 'AuditError';
    this.code = code;
    this.details = details;
  }

  get httpStatus(): number {
    return ERRORS[this.code].http;
  }

  get grpcCode(): GrpcCode {
    return ERRORS[this.code].grpc;
  }
}

export function isAuditError(err: unknown): err is AuditError {
  return err instanceof AuditError;
}

/** Shorthand constructors for the errors thrown most. */
export const invalidArgument = (message: string, details?: Record<string, unknown>) => new AuditError('AS_ERR_INVALID_ARGUMENT', message, details);
export const notFound = (message: string, details?: Record<string, unknown>) => new AuditError('AS_ERR_NOT_FOUND', message, details);
export const permissionDenied = (message: string, details?: Record<string, unknown>) => new AuditError('AS_ERR_PERMISSION_DENIED', message, details);
export const unauthenticated = (message: string) => new AuditError('AS_ERR_UNAUTHENTICATED', message);
export const failedPrecondition = (message: string, details?: Record<string, unknown>) => new AuditError('AS_ERR_FAILED_PRECONDITION', message, details);
