import type { Logger } from '../log.js';
import { LISTEN_STATS, MAP_NAMES } from '../bpf/abi.js';
import type { BpfObject } from '../bpf/object.js';
import { DEFAULT_CGROUP2_PATHS } from './hold.js';
import { SlotCounters, attachToCgroupRoot } from './slot-counters.js';

/**
 * The collector's half of listen-queue overflow (bpf/listen_overflow.bpf.c): attaches its
 * cgroup_skb/ingress program to the root cgroup v2, zeroes a slot's counters when a target
 * takes it, and turns the kernel's cumulative counters into per-tick deltas.
 */

export const LISTEN_OVERFLOW_PROGRAMS = ['listen_overflow_ingress'] as const;
/** Loaded beside the hook ladder where it passes the verifier (hook-loader.ts). */
export const LISTEN_OVERFLOW_GROUP = { name: 'listenOverflow', programs: LISTEN_OVERFLOW_PROGRAMS } as const;

/** The per-tick listen-queue part of a target delta. */
export interface ListenTick {
  /** SYNs the target's listeners dropped because their accept queue was full (unserved demand). */
  readonly listenSynDrops: number;
  /** Handshake-completing ACKs dropped for the same reason (the client's TCP retries them). */
  readonly listenAckDrops: number;
  /** SYNs that reached the target's listeners. */
  readonly listenSyns: number;
  /** Sum over those SYNs of the accept-queue length each found (mean fill = sum / syns / backlog). */
  readonly acceptQueueSum: number;
  /** The listen() backlog the last SYN saw (a gauge; 0 before any SYN). */
  readonly acceptBacklog: number;
}

const COUNTERS = ['syn_drops', 'ack_drops', 'syns', 'accept_queue_sum'] as const;

export class ListenOverflowControl {
  private readonly counters: SlotCounters<keyof typeof LISTEN_STATS.offsets>;

  private constructor(object: BpfObject) {
    this.counters = new SlotCounters(object.map(MAP_NAMES.listenStats), LISTEN_STATS);
  }

  /** Attaches the program (loaded already) to the cgroup v2 root. Throws BpfError or Error. */
  static attach(object: BpfObject, log: Logger, cgroupPaths: readonly string[] = DEFAULT_CGROUP2_PATHS): ListenOverflowControl {
    const cgroup = attachToCgroupRoot(object, LISTEN_OVERFLOW_PROGRAMS, cgroupPaths);
    log.child({ component: 'listen-overflow' }).info({ cgroup }, 'listen-queue overflow program attached');
    return new ListenOverflowControl(object);
  }

  /** After the watch maps were synced: a target new to its slot (or generation) starts from zero. */
  sync(watched: Iterable<[string, { readonly slot: number; readonly generation: number }]>): void {
    this.counters.sync(watched);
  }

  /** Reads every used slot (one batch read); call once per tick, then `tick()` per target. */
  read(usedSlots: number): void {
    this.counters.read(usedSlots);
  }

  /** A target's listen-queue figures since the previous tick. */
  tick(targetId: string): ListenTick | undefined {
    const d = this.counters.deltas(targetId, COUNTERS);
    if (!d) return undefined;
    return {
      listenSynDrops: d.syn_drops,
      listenAckDrops: d.ack_drops,
      listenSyns: d.syns,
      acceptQueueSum: d.accept_queue_sum,
      acceptBacklog: this.counters.gaugeU32(targetId, 'backlog'),
    };
  }
}
