import { closeSync, constants, openSync } from 'node:fs';
import type { Logger } from '../log.js';
import { HOLD_STATS, HOLD_STATS_BYTES, MAP_NAMES, MAX_TARGETS, encodeHoldConfig, encodeSlotKey } from '../bpf/abi.js';
import type { BpfMap } from '../bpf/map.js';
import type { BpfObject } from '../bpf/object.js';
import { countListeners } from './listeners.js';
import type { HoldDirective, ServerSelection } from './types.js';

/**
 * The collector's half of holdAtZero (bpf/hold.bpf.c) and of connect()-time demand
 * (bpf/connect_demand.bpf.c): attaches their cgroup programs to the root cgroup v2, keeps
 * each slot's hold_config in step with the watch set, and reads the hold outcomes and the
 * listening-socket view per tick (one batch map read).
 */

/** Attached to the root cgroup v2: every process of the node passes through them. */
export const HOLD_CGROUP_PROGRAMS = ['hold_syn_egress', 'connect_demand4', 'connect_demand6', 'connect_demand_release'] as const;
/** tp_btf programs beside the hook ladder's. */
export const HOLD_TRACING_PROGRAMS = ['hold_listen_tp_btf', 'connect_demand_syn_sent'] as const;
export const HOLD_PROGRAMS: readonly string[] = [...HOLD_CGROUP_PROGRAMS, ...HOLD_TRACING_PROGRAMS];

/** Where cgroup v2 is mounted when nothing else is said: unified hosts, then hybrid ones. */
export const DEFAULT_CGROUP2_PATHS = ['/sys/fs/cgroup', '/sys/fs/cgroup/unified'] as const;

/** The per-tick holdAtZero part of a target delta. */
export interface HoldTick {
  readonly listeners: number;
  readonly heldConnections: number;
  readonly releasedConnections: number;
  readonly timedOutConnections: number;
}

interface SlotHold {
  slot: number;
  generation: number;
  holdNs: bigint;
  episode: number;
  /** Listening sockets that existed before the kernel started counting transitions. */
  seedListeners: number;
  serversKey: string;
  previous: { held: number; released: number; timedOut: number };
}

/** Opens the cgroup v2 root: the first candidate that is a cgroup2 directory we can open. */
function openCgroup2(candidates: readonly string[]): { fd: number; path: string } {
  const problems: string[] = [];
  for (const candidate of candidates) {
    try {
      // cgroup.controllers exists only at cgroup v2 directories.
      closeSync(openSync(`${candidate}/cgroup.controllers`, constants.O_RDONLY));
      return { fd: openSync(candidate, constants.O_RDONLY | constants.O_DIRECTORY), path: candidate };
    } catch (err) {
      problems.push(`${candidate}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }
  throw new Error(`no cgroup v2 mount found (${problems.join('; ')}); mount cgroup2 or pass its path`);
}

export class HoldControl {
  private readonly config: BpfMap;
  private readonly stats: BpfMap;
  private readonly statsBuffer = Buffer.alloc(MAX_TARGETS * HOLD_STATS_BYTES);
  private readonly slots = new Map<string, SlotHold>();

  private constructor(
    object: BpfObject,
    readonly cgroupPath: string,
    private readonly log: Logger,
  ) {
    this.config = object.map(MAP_NAMES.holdConfig);
    this.stats = object.map(MAP_NAMES.holdStats);
  }

  /** Attaches the hold and connect-demand programs (loaded already). Throws BpfError or Error. */
  static attach(object: BpfObject, log: Logger, cgroupPaths: readonly string[] = DEFAULT_CGROUP2_PATHS): HoldControl {
    const cgroup = openCgroup2(cgroupPaths);
    try {
      for (const program of HOLD_CGROUP_PROGRAMS) object.attachCgroup(program, cgroup.fd);
    } finally {
      // The links hold the cgroup; the fd is no longer needed.
      closeSync(cgroup.fd);
    }
    for (const program of HOLD_TRACING_PROGRAMS) object.attach(program);
    const control = new HoldControl(object, cgroup.path, log.child({ component: 'hold' }));
    control.log.info({ cgroup: cgroup.path }, 'holdAtZero and connect() demand programs attached');
    return control;
  }

  /** A slot was (re)assigned to a target: its hold state starts from zero. Before the generation is published. */
  assign(targetId: string, slot: number, generation: number): void {
    this.stats.update(encodeSlotKey(slot), Buffer.alloc(HOLD_STATS_BYTES));
    this.config.update(encodeSlotKey(slot), encodeHoldConfig(0n, generation, 0));
    this.slots.set(targetId, { slot, generation, holdNs: 0n, episode: 0, seedListeners: 0, serversKey: '', previous: { held: 0, released: 0, timedOut: 0 } });
  }

  /**
   * The scaler's directive for a target: hold while holdAtZero is set and the target is
   * not ready. Turning from not holding to holding starts a new episode, whose window the
   * kernel opens at its first held SYN and closes by itself holdAtZero later.
   */
  apply(targetId: string, directive: HoldDirective | undefined, servers: readonly ServerSelection[]): void {
    const state = this.slots.get(targetId);
    if (!state) return;
    const holdNs = directive && !directive.ready ? BigInt(directive.holdAtZeroMs) * 1_000_000n : 0n;
    if (directive && directive.holdAtZeroMs > 0) this.seed(targetId, state, servers);
    if (holdNs === state.holdNs) return;
    if (state.holdNs === 0n) state.episode = (state.episode + 1) >>> 0;
    state.holdNs = holdNs;
    this.config.update(encodeSlotKey(state.slot), encodeHoldConfig(holdNs, state.generation, state.episode));
    this.log.info({ targetId, holdAtZeroMs: directive?.holdAtZeroMs ?? 0, ready: directive?.ready ?? false, holding: holdNs > 0n }, holdNs > 0n ? 'holding first connections' : 'hold released');
  }

  /** Counts the listeners that predate the kernel's counting, when the server set changed. */
  private seed(targetId: string, state: SlotHold, servers: readonly ServerSelection[]): void {
    const serversKey = JSON.stringify(servers);
    if (serversKey === state.serversKey) return;
    state.serversKey = serversKey;
    const anyPorts = new Set(servers.filter((s) => s.netnsInode === undefined).map((s) => s.port));
    const scoped = servers.filter((s) => s.netnsInode !== undefined);
    try {
      state.seedListeners =
        countListeners({ ports: anyPorts }) +
        countListeners({ ports: new Set(scoped.map((s) => s.port)), netnsInodes: new Set(scoped.map((s) => s.netnsInode!)) });
    } catch (err) {
      this.log.warn({ targetId, err: (err as Error).message }, 'cannot read the listening sockets from /proc; readiness waits for the next listen()');
    }
  }

  /** The target left the watch set: nothing of it is held any more. */
  remove(targetId: string): void {
    const state = this.slots.get(targetId);
    if (!state) return;
    this.config.update(encodeSlotKey(state.slot), encodeHoldConfig(0n, 0, 0));
    this.slots.delete(targetId);
  }

  /** Reads every used slot's hold figures (one batch read); call once per tick, then `tick()` per target. */
  read(usedSlots: number): void {
    this.stats.readArrayPrefix(usedSlots, this.statsBuffer);
  }

  /** A target's hold figures since the previous tick (listeners: a gauge). */
  tick(targetId: string): HoldTick | undefined {
    const state = this.slots.get(targetId);
    if (!state) return undefined;
    const base = state.slot * HOLD_STATS_BYTES;
    const word = (offset: number): number => Number(this.statsBuffer.readBigUInt64LE(base + offset));
    const now = { held: word(HOLD_STATS.heldConnections), released: word(HOLD_STATS.releasedConnections), timedOut: word(HOLD_STATS.timedOutConnections) };
    const listenDelta = Number(this.statsBuffer.readBigInt64LE(base + HOLD_STATS.listenDelta));
    const prev = state.previous;
    state.previous = now;
    return {
      listeners: Math.max(0, state.seedListeners + listenDelta),
      heldConnections: Math.max(0, now.held - prev.held),
      releasedConnections: Math.max(0, now.released - prev.released),
      timedOutConnections: Math.max(0, now.timedOut - prev.timedOut),
    };
  }
}
