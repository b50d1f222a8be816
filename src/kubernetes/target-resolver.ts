import { ScalerError, type ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import type { Selection } from '../scaler/metadata.js';
import { StandaloneResolver, type ResolvedSelection, type TargetResolver } from '../scaler/resolver.js';
import { targetId } from '../scaler/target.js';
import { KubernetesError, type KubernetesErrorCode } from './errors.js';
import type { ServiceResolution, ServiceResolver, ServiceWatch } from './service-resolver.js';

const errorCodeOf: Record<KubernetesErrorCode, ErrorCode> = {
  SERVICE_NOT_FOUND: 'SERVICE_NOT_FOUND',
  SERVICE_PORT_NOT_FOUND: 'SERVICE_UNSUITABLE',
  SERVICE_UNSUITABLE: 'SERVICE_UNSUITABLE',
  FORBIDDEN: 'KUBERNETES_FORBIDDEN',
  API_UNAVAILABLE: 'KUBERNETES_UNAVAILABLE',
  API_ERROR: 'RESOLVE_FAILED',
};

export function toScalerError(err: KubernetesError): ScalerError {
  return new ScalerError(errorCodeOf[err.code], err.message, { cause: err });
}

function formatAddress(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip.toLowerCase()}]:${port}` : `${ip}:${port}`;
}

/**
 * Kubernetes mode: `service` (+ `servicePort`) becomes the Service's ClusterIP:port demand
 * addresses and its pods' target ports, scoped by the pod selector, and follows the
 * Service as it changes (new ClusterIP, changed selector or ports): each change is pushed
 * to the registry, which pushes a new watch set to the collectors. Explicit `port` or
 * `demandAddress` metadata override what the Service says. Selections without `service`
 * resolve as in standalone mode.
 */
export class KubernetesTargetResolver implements TargetResolver {
  private readonly standalone = new StandaloneResolver();
  private readonly following = new Map<string, () => void>();
  private publish: ((id: string, resolved: ResolvedSelection) => void) | undefined;

  constructor(
    private readonly services: ServiceResolver,
    private readonly log: Logger,
  ) {}

  /** Where changes go (TargetRegistry.update); set once the registry exists. */
  onUpdate(publish: (id: string, resolved: ResolvedSelection) => void): void {
    this.publish = publish;
  }

  async resolve(selection: Selection): Promise<ResolvedSelection> {
    if (selection.service === undefined) return this.standalone.resolve(selection);
    const ref = { namespace: selection.namespace ?? 'default', service: selection.service, servicePort: selection.servicePort };
    let watch: ServiceWatch;
    try {
      watch = await this.services.watch(ref);
    } catch (err) {
      throw err instanceof KubernetesError ? toScalerError(err) : err;
    }
    const current = watch.current();
    if (!current) {
      throw new ScalerError('RESOLVE_FAILED', `Service "${ref.service}" in namespace "${ref.namespace}" cannot be resolved right now`);
    }
    const id = targetId(selection);
    if (!this.following.has(id)) {
      const offChange = watch.onChange((resolution) => {
        this.log.info({ targetId: id, service: `${ref.namespace}/${ref.service}` }, 'Service changed: new watch set');
        this.publish?.(id, this.toResolved(selection, resolution));
      });
      const offError = watch.onError((err) => this.log.warn({ targetId: id, code: err.code, err: err.message }, 'Service no longer resolvable'));
      this.following.set(id, () => {
        offChange();
        offError();
      });
    }
    return this.toResolved(selection, current);
  }

  /** Stops following the Service of an expired target. */
  forget(id: string): void {
    this.following.get(id)?.();
    this.following.delete(id);
  }

  private toResolved(selection: Selection, resolution: ServiceResolution): ResolvedSelection {
    const ports = selection.ports.length ? selection.ports : resolution.targetPorts;
    return {
      servers: ports.map((port) => ({ port, netnsPath: '', podNamespace: resolution.namespace, podSelector: { ...resolution.podSelector } })),
      demandAddresses: selection.demandAddresses.length
        ? [...selection.demandAddresses]
        : resolution.demandAddresses.map((a) => formatAddress(a.ip, a.port)),
      endpointsReady: resolution.endpointsReady,
    };
  }
}
