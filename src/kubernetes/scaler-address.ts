/** Whether a trigger's scalerAddress names this scaler (pure; no API access). */
import { splitHostPort as splitHostAndPort } from '../net/address.js';

/** How ScaledObjects name this scaler in trigger metadata `scalerAddress`. */
export interface ScalerIdentity {
  /** The scaler's Service name, e.g. "keda-ebpf-scaler". */
  readonly serviceName: string;
  /** The scaler's namespace, e.g. "keda-ebpf-scaler". */
  readonly namespace: string;
  /** Cluster DNS domain; default "cluster.local". */
  readonly clusterDomain?: string;
  /** Only addresses with this port match; undefined = any port. */
  readonly port?: number;
  /** More host names or IPs that reach this scaler (e.g. a second Service). */
  readonly extraHosts?: readonly string[];
}

/**
 * True when a scalerAddress ("host:port", "[v6]:port", "dns:///host:port") reaches this
 * scaler: its host is the scaler Service's DNS name in any of its forms (the short name
 * only from the scaler's own namespace) or one of extraHosts, and the port matches.
 */
export function addressNamesScaler(scalerAddress: string, fromNamespace: string, identity: ScalerIdentity): boolean {
  const parsed = splitHostPort(scalerAddress);
  if (!parsed) return false;
  if (identity.port !== undefined && parsed.port !== undefined && parsed.port !== identity.port) return false;
  const domain = (identity.clusterDomain ?? 'cluster.local').toLowerCase();
  const svc = identity.serviceName.toLowerCase();
  const ns = identity.namespace.toLowerCase();
  const hosts = new Set([`${svc}.${ns}`, `${svc}.${ns}.svc`, `${svc}.${ns}.svc.${domain}`, ...(identity.extraHosts ?? []).map((h) => h.toLowerCase())]);
  if (fromNamespace.toLowerCase() === ns) hosts.add(svc);
  return hosts.has(parsed.host);
}

function splitHostPort(address: string): { host: string; port: number | undefined } | undefined {
  let rest = address.trim().replace(/^dns:(\/\/[^/]*\/)?/, '');
  rest = rest.replace(/^[a-z]+:\/\//i, '').replace(/\/$/, '');
  const withPort = splitHostAndPort(rest);
  const host = withPort?.host ?? /^\[([^\]]+)\]$/.exec(rest)?.[1] ?? (/^[^:/[\]\s]+$/.test(rest) ? rest : undefined);
  if (host === undefined) return undefined;
  return { host: host.toLowerCase().replace(/\.$/, ''), port: withPort?.port };
}
