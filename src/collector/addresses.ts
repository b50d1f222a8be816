import net from 'node:net';
import { FAMILY_INET, FAMILY_INET6 } from '../bpf/abi.js';

/** An IP address as the kernel keeps it: family and network-order bytes. */
export interface AddressBytes {
  readonly family: typeof FAMILY_INET | typeof FAMILY_INET6;
  readonly bytes: Uint8Array;
}

function ipv4Bytes(text: string): Uint8Array {
  return Uint8Array.from(text.split('.').map((part) => Number(part)));
}

function ipv6Bytes(text: string): Uint8Array {
  let head = text;
  let v4Tail: Uint8Array | undefined;
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    v4Tail = ipv4Bytes(text.slice(lastColon + 1));
    head = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [left = '', right] = head.split('::');
  const leftGroups = left === '' ? [] : left.split(':');
  const rightGroups = right === undefined || right === '' ? [] : right.split(':');
  const zeros = right === undefined ? 0 : 8 - leftGroups.length - rightGroups.length;
  const groups = [...leftGroups, ...Array<string>(zeros).fill('0'), ...rightGroups];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  if (v4Tail) out.set(v4Tail, 12);
  return out;
}

/**
 * Parses an IPv4 or IPv6 address; IPv4-mapped IPv6 (::ffff:a.b.c.d) becomes IPv4, as the
 * kernel side normalises it. Throws on anything else.
 */
export function parseAddress(text: string): AddressBytes {
  const kind = net.isIP(text);
  if (kind === 4) return { family: FAMILY_INET, bytes: ipv4Bytes(text) };
  if (kind !== 6) throw new Error(`"${text}" is not an IPv4 or IPv6 address`);
  const bytes = ipv6Bytes(text.split('%')[0] ?? text);
  const mapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  if (mapped) return { family: FAMILY_INET, bytes: bytes.slice(12) };
  return { family: FAMILY_INET6, bytes };
}
