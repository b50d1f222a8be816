import { ScalerError } from '../errors.js';
import type { Selection } from './metadata.js';

/**
 * Turns what a trigger names (its selection) into what collectors observe. The standalone
 * resolver reads port/netns/demandAddress as they are; the Kubernetes resolver (issue 5)
 * looks `service` up (ClusterIP:ports as demand addresses, target ports, pod selector).
 */

/** One server socket selector of proto/collector.proto's ServerSelector. */
export interface ServerSelectorSpec {
  readonly port: number;
  /** Standalone: network namespace path; "" = any namespace. */
  readonly netnsPath: string;
  /** Kubernetes: the pods' namespace and label selector ("" / {} in standalone mode). */
  readonly podNamespace: string;
  readonly podSelector: Readonly<Record<string, string>>;
}

export interface ResolvedSelection {
  readonly servers: readonly ServerSelectorSpec[];
  /** Canonical "ip:port" / "[v6]:port". */
  readonly demandAddresses: readonly string[];
  /** Kubernetes mode: the Service has a ready endpoint (holdAtZero releases on it); undefined in standalone mode. */
  readonly endpointsReady?: boolean;
}

export interface TargetResolver {
  /** Throws ScalerError (SERVICE_NEEDS_KUBERNETES, RESOLVE_FAILED) when it cannot. */
  resolve(selection: Selection): Promise<ResolvedSelection>;
}

/** Standalone mode: the metadata names sockets directly. */
export class StandaloneResolver implements TargetResolver {
  async resolve(selection: Selection): Promise<ResolvedSelection> {
    if (selection.service !== undefined) {
      throw new ScalerError(
        'SERVICE_NEEDS_KUBERNETES',
        `metadata "service": "${selection.service}" needs Kubernetes mode, which this scaler does not run; in standalone mode use "port" (and optionally "netns") and "demandAddress"`,
      );
    }
    return {
      servers: selection.ports.map((port) => ({ port, netnsPath: selection.netns ?? '', podNamespace: '', podSelector: {} })),
      demandAddresses: [...selection.demandAddresses],
    };
  }
}
