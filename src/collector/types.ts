import type { SparseBuckets } from '../histogram/histogram.js';

/**
 * What the collector observes for one target, as the scaler asked for it (a WatchTarget of
 * proto/collector.proto, after the netns paths were resolved to inodes on this node).
 */
export interface ServerSelection {
  /** Server TCP port to time. */
  readonly port: number;
  /** Network namespace inode (from stat() of /proc/PID/ns/net or /run/netns/NAME); undefined = any netns. */
  readonly netnsInode?: number;
}

export interface DemandAddress {
  /** IPv4 dotted quad or IPv6 text form. */
  readonly ip: string;
  readonly port: number;
}

export interface WatchEntry {
  readonly targetId: string;
  readonly servers: readonly ServerSelection[];
  readonly demand: readonly DemandAddress[];
}

/** One target's counters for one tick: deltas except inFlight (a gauge). */
export interface TargetDelta {
  readonly targetId: string;
  readonly requests: number;
  readonly latencySumUs: number;
  readonly inFlight: number;
  readonly acceptedConnections: number;
  readonly demandAttempts: number;
  readonly demandRefused: number;
  readonly buckets: SparseBuckets;
}

/** One tick of the collector: every watched target, including those with all-zero deltas. */
export interface CollectorTick {
  readonly endUnixMs: number;
  readonly intervalMs: number;
  readonly targets: readonly TargetDelta[];
  /** True when the tick was cut short by a demand wake-up from the ring buffer. */
  readonly wakeup: boolean;
}
