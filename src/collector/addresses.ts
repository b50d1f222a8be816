import { FAMILY_INET, FAMILY_INET6 } from '../bpf/abi.js';
import { ipBytes } from '../net/address.js';

/** An IP address as the kernel keeps it: family and network-order bytes. */
export interface AddressBytes {
  readonly family: typeof FAMILY_INET | typeof FAMILY_INET6;
  readonly bytes: Uint8Array;
}

/**
 * Parses an IPv4 or IPv6 address; IPv4-mapped IPv6 (::ffff:a.b.c.d) becomes IPv4, as the
 * kernel side normalises it. Throws on anything else.
 */
export function parseAddress(text: string): AddressBytes {
  const { family, bytes } = ipBytes(text.split('%')[0] ?? text);
  return { family: family === 4 ? FAMILY_INET : FAMILY_INET6, bytes };
}
