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

/**
 * A watch target as a scaler sent it, in plain form. Netns paths and pod selectors are kept
 * as received: turning them into netns inodes is the collector wiring's job (it knows the
 * node), producing src/collector/types.ts WatchEntry.
 */
export interface ReceivedServerSelector {
  readonly port: number;
  /** "/run/netns/NAME" or "/proc/PID/ns/net"; absent = any network namespace. */
  readonly netnsPath?: string;
  /** Kubernetes mode: pods of this namespace matching podSelector. */
  readonly podNamespace?: string;
  readonly podSelector?: Readonly<Record<string, string>>;
}

/** holdAtZero as the scaler states it for a target (proto WatchTarget fields 4-5). */
export interface HoldDirective {
  /** 0 = never hold. */
  readonly holdAtZeroMs: number;
  /** The scaler's view: the target has a ready endpoint, so nothing is held. */
  readonly ready: boolean;
}

export interface ReceivedWatchTarget {
  readonly targetId: string;
  readonly servers: readonly ReceivedServerSelector[];
  readonly demand: readonly DemandAddress[];
  /** Absent from scalers that predate holdAtZero. */
  readonly hold?: HoldDirective;
}

export interface WatchEntry {
  readonly targetId: string;
  readonly servers: readonly ServerSelection[];
  readonly demand: readonly DemandAddress[];
  readonly hold?: HoldDirective;
}

/** One target's counters for one tick: deltas except inFlight (a gauge). */
export interface TargetDelta {
  readonly targetId: string;
  readonly requests: number;
  readonly latencySumUs: number;
  readonly inFlight: number;
  readonly acceptedConnections: number;
  /** Requests that ended without a response: the connection closed or was reset while one
   * was open (HTTP/2: streams still open at close). Set by the collector; other producers
   * of deltas (tests, the scaler's ingest) may leave it out. */
  readonly abortedRequests?: number;
  readonly demandAttempts: number;
  readonly demandRefused: number;
  readonly buckets: SparseBuckets;
  /** holdAtZero: sockets listening on the target's server ports now (a gauge; standalone readiness). */
  readonly listeners?: number;
  /** holdAtZero outcomes in the tick, per connection (bpf/hold.bpf.c). */
  readonly heldConnections?: number;
  readonly releasedConnections?: number;
  readonly timedOutConnections?: number;
  /** Listen-queue overflow in the tick (bpf/listen_overflow.bpf.c; absent where it does not load). */
  readonly listenSynDrops?: number;
  readonly listenAckDrops?: number;
  readonly listenSyns?: number;
  readonly acceptQueueSum?: number;
  /** The listeners' listen() backlog as last seen (a gauge). */
  readonly acceptBacklog?: number;
  /** Protocol framing in the tick (bpf/protocol_framing.bpf.c); absent where it is not attached. */
  readonly protocol?: ProtocolTick;
}

/** Per-target protocol framing counters for one tick (deltas). */
export interface ProtocolTick {
  /** New connections framed as HTTP/2 cleartext (timed per stream). */
  readonly h2cConnections: number;
  /** New connections framed as TLS (application-data records take turns). */
  readonly tlsConnections: number;
  /** New TLS connections offering ALPN h2: not split per stream, left out of latency and rps. */
  readonly tlsH2Connections: number;
  /** HTTP/2 streams beyond the per-connection bound: not timed. */
  readonly h2StreamsOverLimit: number;
  /** Connections whose framing was lost (a gap in the byte stream, too many frames in a packet): no longer timed. */
  readonly framingLost: number;
  /** HTTP/1 interim (1xx) responses that did not end their request. */
  readonly interimResponses: number;
}

/** One tick of the collector: every watched target, including those with all-zero deltas. */
export interface CollectorTick {
  readonly endUnixMs: number;
  readonly intervalMs: number;
  readonly targets: readonly TargetDelta[];
  /** True when the tick was cut short by a demand wake-up from the ring buffer. */
  readonly wakeup: boolean;
}
