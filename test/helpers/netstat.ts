import { z } from 'zod';

/**
 * The kernel's own protocol counters (/proc/net/netstat, what `nstat` reads) of one network
 * namespace: the reference the listen-queue overflow test and bench compare against.
 */

/** TcpExt counters: pairs of "TcpExt:" lines, names then values. */
export function parseTcpExt(netstatText: string): Map<string, number> {
  const lines = netstatText.split('\n').filter((l) => l.startsWith('TcpExt:'));
  if (lines.length < 2) throw new Error('no TcpExt lines in /proc/net/netstat');
  const names = lines[0]!.split(/\s+/).slice(1);
  const values = lines[1]!.split(/\s+/).slice(1).map((v) => z.coerce.number().int().min(0).parse(v));
  return new Map(names.map((n, i) => [n, values[i] ?? 0]));
}

export interface ListenCounters {
  /** TcpExtListenOverflows: SYNs and handshake ACKs dropped because the accept queue was full. */
  readonly overflows: number;
  /** TcpExtListenDrops: every drop at a listener (overflows included). */
  readonly drops: number;
}

export function listenCounters(netstatText: string): ListenCounters {
  const ext = parseTcpExt(netstatText);
  return { overflows: ext.get('ListenOverflows') ?? 0, drops: ext.get('ListenDrops') ?? 0 };
}
