import type { ReceivedWatchTarget, ServerSelection, WatchEntry } from './types.js';

/**
 * Turns watch targets as the scalers sent them (netns paths, pod selectors) into what the
 * kernel maps key on (netns inodes) on this node. A selector that cannot be resolved yet
 * (a netns not created yet, a pod not running here) is left out and named in `pending`,
 * so the caller can try again later; the rest of the target is still watched.
 */
export interface NodeNamespaces {
  /** Inode of a netns path such as /run/netns/NAME or /proc/PID/ns/net; throws when absent. */
  netnsInode(path: string): number;
  /**
   * Kubernetes mode: netns inodes of the running pods on this node that match. Undefined
   * when this collector has no Kubernetes view (standalone).
   */
  podNetns?(namespace: string, selector: Readonly<Record<string, string>>): readonly number[];
}

export interface WatchResolution {
  readonly entries: WatchEntry[];
  /** One line per selector left out: which target, which selector, why. */
  readonly pending: string[];
}

export function resolveWatchTargets(targets: readonly ReceivedWatchTarget[], node: NodeNamespaces): WatchResolution {
  const entries: WatchEntry[] = [];
  const pending: string[] = [];
  for (const target of targets) {
    const servers: ServerSelection[] = [];
    for (const selector of target.servers) {
      if (selector.podSelector !== undefined || selector.podNamespace !== undefined) {
        if (!node.podNetns) {
          pending.push(`${target.targetId}: port ${selector.port} selects pods, but this collector runs without Kubernetes`);
          continue;
        }
        const inodes = node.podNetns(selector.podNamespace ?? '', selector.podSelector ?? {});
        for (const netnsInode of inodes) servers.push({ port: selector.port, netnsInode });
        continue;
      }
      if (selector.netnsPath === undefined) {
        servers.push({ port: selector.port });
        continue;
      }
      try {
        servers.push({ port: selector.port, netnsInode: node.netnsInode(selector.netnsPath) });
      } catch (err) {
        pending.push(`${target.targetId}: port ${selector.port} in ${selector.netnsPath}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    entries.push({ targetId: target.targetId, servers, demand: target.demand, ...(target.hold ? { hold: target.hold } : {}) });
  }
  return { entries, pending };
}
