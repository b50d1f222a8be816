import { status } from '@grpc/grpc-js';

/**
 * Stable error codes of the scaler, and the one place that maps them to gRPC status codes.
 * Everything below the gRPC shell throws ScalerError; the shell turns whatever it caught
 * into a status with toGrpcStatus (grpc-js hands handlers `unknown` errors).
 */
export const errorCodes = {
  /** Trigger metadata failed validation; the message names the key and the accepted form. */
  INVALID_METADATA: status.INVALID_ARGUMENT,
  /** `service` metadata needs the Kubernetes resolver, which this process does not run. */
  SERVICE_NEEDS_KUBERNETES: status.FAILED_PRECONDITION,
  /** The resolver could not turn a selection into servers/demand addresses (e.g. no such Service). */
  RESOLVE_FAILED: status.FAILED_PRECONDITION,
  /** Kubernetes mode: the `service` the trigger names does not exist in its namespace. */
  SERVICE_NOT_FOUND: status.NOT_FOUND,
  /** Kubernetes mode: the Service exists but cannot be observed (no such port, no selector, ExternalName). */
  SERVICE_UNSUITABLE: status.INVALID_ARGUMENT,
  /** Kubernetes mode: RBAC refused a read the scaler needs; the message names the rule to grant. */
  KUBERNETES_FORBIDDEN: status.PERMISSION_DENIED,
  /** Kubernetes mode: the API server did not answer in time. */
  KUBERNETES_UNAVAILABLE: status.UNAVAILABLE,
  /** GetMetrics asked for a metric name this trigger does not produce. */
  UNKNOWN_METRIC: status.NOT_FOUND,
  /** The target registry is full (max targets); the new target was refused. */
  TARGET_LIMIT: status.RESOURCE_EXHAUSTED,
  /** A collector speaks a protocol version this scaler does not. */
  PROTOCOL_VERSION: status.FAILED_PRECONDITION,
  /** A collector stream broke the protocol (no Hello first, second Hello, empty collector_id). */
  PROTOCOL_VIOLATION: status.INVALID_ARGUMENT,
  /** A collector presented no credentials, or ones that do not verify (ingest port). */
  COLLECTOR_UNAUTHENTICATED: status.UNAUTHENTICATED,
  /** A verified peer that may not act as this collector (wrong ServiceAccount, another node's name). */
  COLLECTOR_FORBIDDEN: status.PERMISSION_DENIED,
  /** A collector stream did not read what the scaler sent it in time (bounded send queue). */
  SLOW_READER: status.RESOURCE_EXHAUSTED,
  /** The server is stopping. */
  SHUTTING_DOWN: status.UNAVAILABLE,
  INTERNAL: status.INTERNAL,
} as const satisfies Record<string, status>;

export type ErrorCode = keyof typeof errorCodes;

export class ScalerError extends Error {
  override readonly name = 'ScalerError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface GrpcStatus {
  readonly code: status;
  readonly details: string;
}

/** Maps anything a handler caught to a gRPC status; unknown errors become INTERNAL. */
export function toGrpcStatus(err: unknown): GrpcStatus {
  if (err instanceof ScalerError) return { code: errorCodes[err.code], details: err.message };
  const message = err instanceof Error ? err.message : String(err);
  return { code: status.INTERNAL, details: `internal error: ${message}` };
}
