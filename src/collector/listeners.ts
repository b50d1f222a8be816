import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * Sockets already listening when a holdAtZero target is first watched. The kernel counts
 * LISTEN transitions from then on (bpf/hold.bpf.c, hold_stats.listen_delta); this adds the
 * listeners that existed before, read once per target from procfs: /proc/PID/net/tcp{,6}
 * lists the sockets of PID's network namespace, so one PID per namespace is enough.
 * Costs one readdir of /proc and a readlink-like stat per process, once per new target;
 * never per tick.
 */

/** /proc/net/tcp "st" column: 0A = TCP_LISTEN. */
const TCP_LISTEN_HEX = '0A';

export interface ListenerQuery {
  readonly ports: ReadonlySet<number>;
  /** Namespaces to look in; undefined = every namespace on the host. */
  readonly netnsInodes?: ReadonlySet<number>;
}

/** One process per network namespace inode (the first found), from procRoot/PID/ns/net. */
export function processPerNetns(procRoot = '/proc'): Map<number, string> {
  const byNetns = new Map<number, string>();
  for (const name of readdirSync(procRoot)) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const inode = statSync(path.join(procRoot, name, 'ns/net')).ino;
      if (!byNetns.has(inode)) byNetns.set(inode, name);
    } catch {
      // the process exited, or it is not ours to look at
    }
  }
  return byNetns;
}

/** Listening TCP sockets in a /proc/net/tcp{,6} text whose local port is in `ports`. */
export function countListening(table: string, ports: ReadonlySet<number>): number {
  let n = 0;
  for (const line of table.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 4 || fields[3] !== TCP_LISTEN_HEX) continue;
    const local = fields[1]!;
    const port = parseInt(local.slice(local.lastIndexOf(':') + 1), 16);
    if (ports.has(port)) n++;
  }
  return n;
}

/** Listening sockets on the query's ports in the query's namespaces, right now. */
export function countListeners(query: ListenerQuery, procRoot = '/proc'): number {
  if (query.ports.size === 0) return 0;
  let n = 0;
  for (const [inode, pid] of processPerNetns(procRoot)) {
    if (query.netnsInodes && !query.netnsInodes.has(inode)) continue;
    for (const file of ['net/tcp', 'net/tcp6']) {
      try {
        n += countListening(readFileSync(path.join(procRoot, pid, file), 'utf8'), query.ports);
      } catch {
        // no IPv6, or the process exited meanwhile
      }
    }
  }
  return n;
}
