import type { KubeConfig } from '@kubernetes/client-node';
import type { ReceivedWatchTarget } from '../collector/types.js';
import { netnsInode } from '../collector/netns.js';
import type { NodeNamespaces } from '../collector/watch-resolution.js';
import type { Logger } from '../log.js';
import { NetnsMapper } from './netns-mapper.js';
import { PodWatcher, type PodSelector } from './pod-watcher.js';

export interface KubernetesCollectorMode {
  /** Netns paths and pod selectors -> inodes on this node (for the collector runtime). */
  readonly namespaces: NodeNamespaces;
  /** The scalers' watch targets changed: watch exactly their pod selectors. */
  setWatchTargets(targets: readonly ReceivedWatchTarget[]): void;
  /** Called (asynchronously) whenever the selected pods on this node change. */
  onPodsChanged(listener: () => void): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The collector's view of its node: pods on this node (field selector spec.nodeName) that
 * the watch sets select, mapped to their network namespaces through the host's cgroup fs
 * and procfs. Pod churn re-resolves the watch set; nothing restarts.
 */
export function kubernetesCollectorMode(options: {
  kubeConfig: KubeConfig;
  nodeName: string;
  logger: Logger;
  procRoot: string;
  cgroupRoot: string;
}): KubernetesCollectorMode {
  const log = options.logger.child({ component: 'kubernetes' });
  const mapper = new NetnsMapper({ procRoot: options.procRoot, cgroupRoot: options.cgroupRoot });
  const watcher = new PodWatcher({ kubeConfig: options.kubeConfig, nodeName: options.nodeName, logger: log, mapper });
  return {
    namespaces: {
      netnsInode,
      podNetns: (namespace, selector) => watcher.podNetns(namespace, selector),
    },
    setWatchTargets(targets) {
      const selectors = new Map<string, PodSelector>();
      for (const t of targets) {
        for (const s of t.servers) {
          if (s.podNamespace === undefined && s.podSelector === undefined) continue;
          const selector = { namespace: s.podNamespace ?? '', matchLabels: s.podSelector ?? {} };
          selectors.set(JSON.stringify([selector.namespace, Object.entries(selector.matchLabels).sort()]), selector);
        }
      }
      watcher.setSelectors([...selectors.values()]);
    },
    onPodsChanged(listener) {
      // Deferred: the change may be reported while a watch set is being resolved.
      watcher.onChange(() => setImmediate(listener));
    },
    start: () => watcher.start(),
    stop: () => watcher.stop(),
  };
}
