import type { DemandAddress } from '../collector/types.js';
import { KubernetesError, serviceNotFound } from './errors.js';
import type { EndpointSlice, Service, ServicePort } from './objects.js';

/** Trigger metadata `service` (+ `servicePort`) in the ScaledObject's namespace. */
export interface ServiceRef {
  readonly namespace: string;
  readonly service: string;
  /** A Service port name or number (as text); undefined = every TCP port. */
  readonly servicePort?: string | undefined;
}

/** What a Service means for observation: where demand arrives and which pods serve it. */
export interface ServiceResolution {
  readonly namespace: string;
  readonly service: string;
  /** Every ClusterIP (both families of a dual-stack Service) x every selected Service port. Empty for headless. */
  readonly demandAddresses: readonly DemandAddress[];
  /** Container ports the selected pods serve on (sorted, unique). */
  readonly targetPorts: readonly number[];
  /** The Service's pod selector (the collector maps matching pods to network namespaces). */
  readonly podSelector: Readonly<Record<string, string>>;
  /**
   * Named targetPorts not resolved yet: no EndpointSlice carries them, which is normal at
   * zero replicas. They resolve (and a change is emitted) when the first pod is ready.
   */
  readonly unresolvedPortNames: readonly string[];
  /** Whether any EndpointSlice has an endpoint whose ready condition is not false (holdAtZero releases on it). */
  readonly endpointsReady: boolean;
}

/**
 * Pure: Service + its EndpointSlices -> resolution. Throws KubernetesError when the Service
 * is missing, the port does not exist, or the Service cannot select pods.
 */
export function resolveService(ref: ServiceRef, service: Service | undefined, slices: readonly EndpointSlice[]): ServiceResolution {
  if (!service) throw serviceNotFound(ref.namespace, ref.service);
  const spec = service.spec ?? {};
  const name = `Service "${ref.service}" in namespace "${ref.namespace}"`;
  if (spec.type === 'ExternalName') {
    throw new KubernetesError('SERVICE_UNSUITABLE', `${name} is of type ExternalName: it has no pods to observe`);
  }
  const selector = spec.selector ?? {};
  if (Object.keys(selector).length === 0) {
    throw new KubernetesError('SERVICE_UNSUITABLE', `${name} has no pod selector: its pods cannot be found (use "port" metadata instead)`);
  }
  const tcpPorts = (spec.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP');
  const ports = selectPorts(ref, name, tcpPorts);

  const clusterIPs = spec.clusterIPs && spec.clusterIPs.length > 0 ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : [];
  const vips = clusterIPs.filter((ip) => ip !== '' && ip !== 'None');
  const demandAddresses = vips.flatMap((ip) => ports.map((p) => ({ ip, port: p.port })));

  const targetPorts = new Set<number>();
  const unresolved: string[] = [];
  for (const port of ports) {
    const target = port.targetPort ?? port.port;
    if (typeof target === 'number') {
      targetPorts.add(target);
      continue;
    }
    if (/^\d+$/.test(target)) {
      targetPorts.add(Number(target));
      continue;
    }
    // EndpointSlice ports carry the Service port's name and the container port number the
    // named targetPort resolved to, per pod (pods may disagree: keep every number).
    const resolved = resolvedPortNumbers(slices, port.name ?? '');
    if (resolved.length === 0) unresolved.push(target);
    for (const n of resolved) targetPorts.add(n);
  }
  return {
    namespace: ref.namespace,
    service: ref.service,
    demandAddresses,
    targetPorts: [...targetPorts].sort((a, b) => a - b),
    // Sorted keys: resolutions compare by their JSON text.
    podSelector: Object.fromEntries(Object.entries(selector).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    unresolvedPortNames: unresolved.sort(),
    endpointsReady: hasReadyEndpoint(slices),
  };
}

/** EndpointSlice API: a nil `ready` condition means ready (discovery.k8s.io/v1 EndpointConditions). */
function hasReadyEndpoint(slices: readonly EndpointSlice[]): boolean {
  return slices.some((slice) => (slice.endpoints ?? []).some((e) => e.addresses.length > 0 && e.conditions?.ready !== false));
}

function selectPorts(ref: ServiceRef, name: string, tcpPorts: readonly ServicePort[]): readonly ServicePort[] {
  if (ref.servicePort === undefined || ref.servicePort === '') {
    if (tcpPorts.length === 0) throw new KubernetesError('SERVICE_UNSUITABLE', `${name} has no TCP port`);
    return tcpPorts;
  }
  const wanted = ref.servicePort;
  const match = tcpPorts.filter((p) => p.name === wanted || String(p.port) === wanted);
  if (match.length === 0) {
    const known = tcpPorts.map((p) => (p.name ? `${p.name} (${p.port})` : String(p.port))).join(', ') || 'none';
    throw new KubernetesError('SERVICE_PORT_NOT_FOUND', `${name} has no TCP port "${wanted}" (servicePort); its TCP ports: ${known}`);
  }
  return match;
}

function resolvedPortNumbers(slices: readonly EndpointSlice[], servicePortName: string): number[] {
  const numbers = new Set<number>();
  for (const slice of slices) {
    for (const p of slice.ports ?? []) {
      if ((p.name ?? '') === servicePortName && (p.protocol ?? 'TCP') === 'TCP' && typeof p.port === 'number') numbers.add(p.port);
    }
  }
  return [...numbers];
}

/** Equality of two resolutions (for emitting changes only when something changed). */
export function sameResolution(a: ServiceResolution | undefined, b: ServiceResolution | undefined): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
