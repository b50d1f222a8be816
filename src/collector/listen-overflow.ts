import { closeSync } from 'node:fs';
import type { Logger } from '../log.js';
import { LISTEN_STATS, MAP_NAMES, MAX_TARGETS, encodeArrayKey } from '../bpf/abi.js';
import type { BpfMap } from '../bpf/map.js';
import type { BpfObject } from '../bpf/object.js';
import { DEFAULT_CGROUP2_PATHS, openCgroup2 } from './hold.js';

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

interface SlotListen {
  readonly slot: number;
  readonly generation: number;
  previous: readonly [number, number, number, number];
}

const at = LISTEN_STATS.offsets;

export class ListenOverflowControl {
  private readonly stats: BpfMap;
  private readonly statsBuffer = Buffer.alloc(MAX_TARGETS * LISTEN_STATS.bytes);
  private readonly slots = new Map<string, SlotListen>();

  private constructor(object: BpfObject) {
    this.stats = object.map(MAP_NAMES.listenStats);
  }

  /** Attaches the program (loaded already) to the cgroup v2 root. Throws BpfError or Error. */
  static attach(object: BpfObject, log: Logger, cgroupPaths: readonly string[] = DEFAULT_CGROUP2_PATHS): ListenOverflowControl {
    const cgroup = openCgroup2(cgroupPaths);
    try {
      for (const program of LISTEN_OVERFLOW_PROGRAMS) object.attachCgroup(program, cgroup.fd);
    } finally {
      closeSync(cgroup.fd);
    }
    log.child({ component: 'listen-overflow' }).info({ cgroup: cgroup.path }, 'listen-queue overflow program attached');
    return new ListenOverflowControl(object);
  }

  /** After the watch maps were synced: a target new to its slot (or generation) starts from zero. */
  sync(watched: Iterable<[string, { readonly slot: number; readonly generation: number }]>): void {
    const now = new Map(watched);
    for (const [targetId, state] of this.slots) {
      const current = now.get(targetId);
      if (!current || current.generation !== state.generation || current.slot !== state.slot) this.slots.delete(targetId);
    }
    for (const [targetId, { slot, generation }] of now) {
      if (this.slots.has(targetId)) continue;
      this.stats.update(encodeArrayKey(slot), Buffer.alloc(LISTEN_STATS.bytes));
      this.slots.set(targetId, { slot, generation, previous: [0, 0, 0, 0] });
    }
  }

  /** Reads every used slot (one batch read); call once per tick, then `tick()` per target. */
  read(usedSlots: number): void {
    this.stats.readArrayPrefix(usedSlots, this.statsBuffer);
  }

  /** A target's listen-queue figures since the previous tick. */
  tick(targetId: string): ListenTick | undefined {
    const state = this.slots.get(targetId);
    if (!state) return undefined;
    const base = state.slot * LISTEN_STATS.bytes;
    const word = (offset: number): number => Number(this.statsBuffer.readBigUInt64LE(base + offset));
    const now = [word(at.syn_drops), word(at.ack_drops), word(at.syns), word(at.accept_queue_sum)] as const;
    const prev = state.previous;
    state.previous = now;
    const delta = (i: 0 | 1 | 2 | 3): number => (now[i] >= prev[i] ? now[i] - prev[i] : now[i]);
    return {
      listenSynDrops: delta(0),
      listenAckDrops: delta(1),
      listenSyns: delta(2),
      acceptQueueSum: delta(3),
      acceptBacklog: this.statsBuffer.readUInt32LE(base + at.backlog),
    };
  }
}
