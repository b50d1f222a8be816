/**
 * Errors of the Kubernetes layer, with stable codes. `grpcStatus` names the gRPC status the
 * scaler should answer with (mapped to a number in one place on the gRPC side, so this
 * module stays free of gRPC).
 */
export type KubernetesErrorCode =
  | 'SERVICE_NOT_FOUND'
  | 'SERVICE_PORT_NOT_FOUND'
  | 'SERVICE_UNSUITABLE'
  | 'FORBIDDEN'
  | 'API_UNAVAILABLE'
  | 'API_ERROR';

export type GrpcStatusName = 'NOT_FOUND' | 'INVALID_ARGUMENT' | 'PERMISSION_DENIED' | 'UNAVAILABLE' | 'INTERNAL';

const statusOf: Record<KubernetesErrorCode, GrpcStatusName> = {
  SERVICE_NOT_FOUND: 'NOT_FOUND',
  SERVICE_PORT_NOT_FOUND: 'INVALID_ARGUMENT',
  SERVICE_UNSUITABLE: 'INVALID_ARGUMENT',
  FORBIDDEN: 'PERMISSION_DENIED',
  API_UNAVAILABLE: 'UNAVAILABLE',
  API_ERROR: 'INTERNAL',
};

export class KubernetesError extends Error {
  override readonly name = 'KubernetesError';
  readonly grpcStatus: GrpcStatusName;
  constructor(
    readonly code: KubernetesErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.grpcStatus = statusOf[code];
  }
}

/** What a request was doing, for error messages that say which permission is missing. */
export interface ResourceRequest {
  readonly verb: 'list' | 'watch' | 'get' | 'create';
  /** API group: '' for core, 'discovery.k8s.io', 'keda.sh'. */
  readonly group: string;
  readonly resource: string;
  /** Undefined: cluster-wide. */
  readonly namespace?: string;
}

export function describeRequest(req: ResourceRequest): string {
  const where = req.namespace === undefined ? 'cluster-wide' : `in namespace "${req.namespace}"`;
  const group = req.group === '' ? '' : `.${req.group}`;
  return `${req.verb} ${req.resource}${group} ${where}`;
}

export function serviceNotFound(namespace: string, service: string): KubernetesError {
  return new KubernetesError(
    'SERVICE_NOT_FOUND',
    `Service "${service}" not found in namespace "${namespace}" (trigger metadata "service" names a Service in the ScaledObject's namespace)`,
  );
}

/**
 * Turns whatever the client library threw (ApiException from typed calls: `code`; Watch:
 * `statusCode`; undici fetch: TypeError with a `cause`) into a KubernetesError.
 */
export function classifyApiError(err: unknown, req: ResourceRequest): KubernetesError {
  if (err instanceof KubernetesError) return err;
  const status = httpStatusOf(err);
  const what = describeRequest(req);
  if (status === 403) {
    const group = JSON.stringify(req.group);
    return new KubernetesError(
      'FORBIDDEN',
      `forbidden to ${what}: the service account needs RBAC permission ` +
        `{apiGroups: [${group}], resources: ["${req.resource}"], verbs: [${req.verb === 'create' ? '"create"' : '"get", "list", "watch"'}]} (see manifests/base/rbac.yaml)`,
      { cause: err },
    );
  }
  if (status === undefined) {
    const detail = err instanceof Error ? causeText(err) : String(err);
    return new KubernetesError('API_UNAVAILABLE', `cannot reach the Kubernetes API server to ${what}: ${detail}`, { cause: err });
  }
  if (status >= 500) {
    return new KubernetesError('API_UNAVAILABLE', `Kubernetes API server answered HTTP ${status} to ${what}`, { cause: err });
  }
  return new KubernetesError('API_ERROR', `Kubernetes API server answered HTTP ${status} to ${what}`, { cause: err });
}

/** HTTP status carried by a client-node error, if any. */
export function httpStatusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const record = err as { code?: unknown; statusCode?: unknown };
  if (typeof record.statusCode === 'number') return record.statusCode;
  if (typeof record.code === 'number') return record.code;
  return undefined;
}

function causeText(err: Error): string {
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof Error) return `${err.message} (${cause.message})`;
  return err.message;
}
