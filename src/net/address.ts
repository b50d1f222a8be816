import ipaddr from 'ipaddr.js';

/**
 * The one place that reads IP addresses and HOST:PORT text (flags, trigger metadata,
 * scaler lists, scalerAddress, the kernel's address bytes). IP parsing is ipaddr.js; this
 * module only fixes the forms this project accepts: IPv6 in brackets before a port, port
 * 1-65535 (0 where a listener may pick a free one).
 */

export type IpFamily = 4 | 6;

export interface HostPort {
  /** As written; IPv6 without its brackets. */
  readonly host: string;
  readonly port: number;
}

export interface HostPortOptions {
  /** Accept port 0 (a listener picking a free port). Default false. */
  readonly allowPortZero?: boolean;
}

/** 4 or 6 for an IP literal (IPv6 zone ids allowed), 0 for anything else. */
export function ipFamily(text: string): IpFamily | 0 {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return 4;
  return ipaddr.IPv6.isValid(text) ? 6 : 0;
}

/** "host:port" / "[v6]:port" -> parts; undefined when malformed. A bare IPv6 is ambiguous: refused. */
export function splitHostPort(text: string, options: HostPortOptions = {}): HostPort | undefined {
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close === -1 || text[close + 1] !== ':') return undefined;
    host = text.slice(1, close);
    if (ipFamily(host) !== 6) return undefined;
    portText = text.slice(close + 2);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon <= 0) return undefined;
    host = text.slice(0, colon);
    if (host.includes(':') || /[\s[\]/]/.test(host)) return undefined;
    portText = text.slice(colon + 1);
  }
  const port = parsePort(portText, options.allowPortZero ?? false);
  return port === undefined ? undefined : { host, port };
}

/** Decimal port 1-65535 (or 0 when allowed). */
export function parsePort(text: string, allowZero = false): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port <= 65535 && (port >= 1 || (allowZero && port === 0)) ? port : undefined;
}

/** "host:port" with the host written back canonically: IPv6 lower-case in brackets. */
export function formatHostPort(host: string, port: number): string {
  return ipFamily(host) === 6 ? `[${host.toLowerCase()}]:${port}` : `${host}:${port}`;
}

/** Network-order bytes of an IP literal; IPv4-mapped IPv6 (::ffff:a.b.c.d) becomes IPv4. */
export function ipBytes(text: string): { readonly family: IpFamily; readonly bytes: Uint8Array } {
  if (ipFamily(text) === 0) throw new Error(`"${text}" is not an IPv4 or IPv6 address`);
  let address = ipaddr.parse(text);
  if (address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress()) address = (address as ipaddr.IPv6).toIPv4Address();
  return { family: address.kind() === 'ipv4' ? 4 : 6, bytes: Uint8Array.from(address.toByteArray()) };
}

/** True for an IP literal in 127.0.0.0/8 or ::1 (also IPv4-mapped). */
export function isLoopbackIp(text: string): boolean {
  if (ipFamily(text) === 0) return false;
  const address = ipaddr.process(text);
  return address.range() === 'loopback';
}
