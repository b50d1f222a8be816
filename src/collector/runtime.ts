import type { Logger } from '../log.js';
import { CollectorAgent, type ReportUplink } from './agent.js';
import { CollectorCore, type HookReport } from './core.js';
import type { Rung } from './hook-ladder.js';
import { netnsInode } from './netns.js';
import type { ReceivedWatchTarget } from './types.js';
import type { NodeNamespaces } from './watch-resolution.js';

/** What the collector announces in Hello: the protocol features this build supports. */
export const COLLECTOR_CAPABILITIES = ['ipv4', 'ipv6', 'demand', 'demand-refused', 'ringbuf-wakeup'] as const;

/** Netns resolution on this host without Kubernetes: paths only. */
export const hostNamespaces: NodeNamespaces = { netnsInode };

export interface CollectorRuntime {
  readonly core: CollectorCore;
  readonly hooks: HookReport;
  /** Connects an uplink (stream client or in-process ingest) and starts ticking. */
  start(uplink: ReportUplink): void;
  /** Feed the union of the scalers' watch sets here. */
  setWatchTargets(targets: readonly ReceivedWatchTarget[]): void;
  /** Resolve the current watch targets again: what the node's namespaces mean changed. */
  refresh(): void;
  close(): void;
}

/**
 * The kernel side plus its heartbeat: loads and attaches (throws CollectorUnavailableError,
 * one sentence, when this host cannot run it), then ticks into whatever uplink it is given.
 * Watch sets that arrive before start() are kept and applied.
 */
export function openCollectorRuntime(options: {
  readonly logger: Logger;
  readonly tickMs: number;
  readonly objectPath?: string;
  /** Rungs the hook ladder may use (default all): `--hook-rung`. */
  readonly rungs?: readonly Rung[];
  readonly node?: NodeNamespaces;
  /** cgroup v2 mounts to try for the holdAtZero programs (default /sys/fs/cgroup, /sys/fs/cgroup/unified). */
  readonly cgroupPaths?: readonly string[];
}): CollectorRuntime {
  const core = CollectorCore.open({
    logger: options.logger,
    ...(options.cgroupPaths ? { cgroupPaths: options.cgroupPaths } : {}),
    ...(options.objectPath ? { objectPath: options.objectPath } : {}),
    ...(options.rungs ? { rungs: options.rungs } : {}),
  });
  let agent: CollectorAgent | undefined;
  let early: readonly ReceivedWatchTarget[] | undefined;
  return {
    core,
    hooks: core.hooks,
    start(uplink) {
      agent = new CollectorAgent({ kernel: core, uplink, node: options.node ?? hostNamespaces, tickMs: options.tickMs, logger: options.logger });
      agent.start();
      if (early) agent.setWatchTargets(early);
    },
    setWatchTargets(targets) {
      if (agent) agent.setWatchTargets(targets);
      else early = targets;
    },
    refresh() {
      agent?.refresh();
    },
    close() {
      agent?.stop();
      core.close();
    },
  };
}
