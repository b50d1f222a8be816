import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { splitHostPort } from '../net/address.js';

/**
 * Which scaler replicas to stream to. The user gives a comma list of HOST:PORT; an IP
 * literal is one scaler, a DNS name is as many scalers as it has addresses (a headless
 * Service lists one A/AAAA record per ready replica), re-resolved periodically by the
 * client so replicas that come and go are followed.
 */
export interface ScalerAddress {
  /** As the user wrote it (IPv6 without brackets). */
  readonly host: string;
  readonly port: number;
}

/** One scaler replica to connect to. */
export interface ScalerEndpoint {
  /** Stable identity: "ip:port" ("[v6]:port"); one stream per key. */
  readonly key: string;
  readonly ip: string;
  readonly port: number;
  /** The name it was resolved from; undefined when the user gave an IP literal. */
  readonly hostname?: string;
  /** grpc-js target URI that bypasses grpc-js' own resolver: "ipv4:1.2.3.4:9090" / "ipv6:[::1]:9090". */
  readonly target: string;
}

/** Returns every address of a name (IPv4 and IPv6). Injectable so tests need no DNS server. */
export type HostResolver = (hostname: string) => Promise<readonly string[]>;

export const systemResolver: HostResolver = async (hostname) => {
  const records = await lookup(hostname, { all: true, verbatim: true });
  return records.map((r) => r.address);
};

export class ScalerAddressError extends Error {
  override readonly name = 'ScalerAddressError';
}

/** Parses "host:port[,host:port...]" ("[::1]:9090" for IPv6). Throws naming the bad entry. */
export function parseScalerAddresses(list: string): ScalerAddress[] {
  const out: ScalerAddress[] = [];
  for (const raw of list.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const parsed = splitHostPort(entry);
    if (!parsed) throw new ScalerAddressError(`scaler address "${entry}" is not HOST:PORT (IPv6 as [ADDR]:PORT, port 1-65535)`);
    out.push(parsed);
  }
  if (out.length === 0) throw new ScalerAddressError('no scaler address given (expected HOST:PORT[,HOST:PORT...])');
  return out;
}

/** The one HOST:PORT parser (src/net/address.ts), re-exported for this module's users. */
export { splitHostPort } from '../net/address.js';

export function endpointFor(ip: string, port: number, hostname?: string): ScalerEndpoint {
  const v6 = isIP(ip) === 6;
  const key = v6 ? `[${ip}]:${port}` : `${ip}:${port}`;
  const target = v6 ? `ipv6:[${ip}]:${port}` : `ipv4:${ip}:${port}`;
  return hostname === undefined ? { key, ip, port, target } : { key, ip, port, hostname, target };
}

export interface ResolvedEndpoints {
  readonly endpoints: ScalerEndpoint[];
  /** Names that failed to resolve this round, with the reason (the caller keeps their old endpoints). */
  readonly failures: { readonly hostname: string; readonly error: string }[];
}

/** Expands every address: IP literals as is, names through `resolve`. Deduplicated by key. */
export async function resolveScalerEndpoints(addresses: readonly ScalerAddress[], resolve: HostResolver): Promise<ResolvedEndpoints> {
  const byKey = new Map<string, ScalerEndpoint>();
  const failures: { hostname: string; error: string }[] = [];
  await Promise.all(
    addresses.map(async (address) => {
      if (isIP(address.host) !== 0) {
        const ep = endpointFor(address.host, address.port);
        byKey.set(ep.key, ep);
        return;
      }
      try {
        const ips = await resolve(address.host);
        for (const ip of ips) {
          if (isIP(ip) === 0) continue;
          const ep = endpointFor(ip, address.port, address.host);
          if (!byKey.has(ep.key)) byKey.set(ep.key, ep);
        }
        if (ips.length === 0) failures.push({ hostname: address.host, error: 'no addresses' });
      } catch (err) {
        failures.push({ hostname: address.host, error: err instanceof Error ? err.message : String(err) });
      }
    }),
  );
  const endpoints = [...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { endpoints, failures };
}
