import { closeSync, constants, openSync } from 'node:fs';
import type { Logger } from '../log.js';
import { HOLD_STATS, MAP_NAMES, MAX_TARGETS, encodeHoldConfig, encodeArrayKey } from '../bpf/abi.js';
import type { BpfMap } from '../bpf/map.js';
import type { BpfObject } from '../bpf/object.js';
import { countListeners } from './listeners.js';
import type { HoldDirective, ServerSelection, WatchEntry } from './types.js';

/**
 * The collector's half of holdAtZero (bpf/hold.bpf.c) and of connect()-time demand
 * (bpf/connect_demand.bpf.c): attaches their cgroup programs to the root cgroup v2, keeps
 * each slot's hold_config in step with the watch set, and reads the hold outcomes and the
 * listening-socket view per tick (one batch map read).
 */

/** Attached to the root cgroup v2: every process of the node passes through them. */
export const HOLD_CGROUP_PROGRAMS = ['hold_syn_egress', 'connect_demand4', 'connect_demand6', 'connect_demand_release'] as const;
/**
 * The one that runs for every packet the node sends (cgroup_skb/egress): attached only while
 * some watched target has holdAtZero, so a node that uses none pays nothing per packet (not
 * even the cgroup dispatch around the program, which costs more than its two loads).
 */
export const HOLD_EGRESS_PROGRAM = 'hold_syn_egress';
/** tp_btf programs beside the hook ladder's. */
export const HOLD_TRACING_PROGRAMS = ['hold_listen_tp_btf'] as const;
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
export function openCgroup2(candidates: readonly string[]): { fd: number; path: string } {
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
  private readonly statsBuffer = Buffer.alloc(MAX_TARGETS * HOLD_STATS.bytes);
  private readonly slots = new Map<string, SlotHold>();
  private egressAttached = false;

  private constructor(
    private readonly object: BpfObject,
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
      for (const program of HOLD_CGROUP_PROGRAMS) if (program !== HOLD_EGRESS_PROGRAM) object.attachCgroup(program, cgroup.fd);
    } finally {
      // The links hold the cgroup; the fd is no longer needed.
      closeSync(cgroup.fd);
    }
    for (const program of HOLD_TRACING_PROGRAMS) object.attach(program);
    const control = new HoldControl(object, cgroup.path, log.child({ component: 'hold' }));
    control.log.info({ cgroup: cgroup.path }, 'holdAtZero and connect() demand programs attached');
    return control;
  }

  /**
   * After the watch maps were synced (WatchSync.apply): every watched target's hold state
   * in step with its slot and generation. A target new to its slot starts from zeroed
   * hold figures; a target gone from the watch set holds nothing any more.
   */
  sync(entries: readonly WatchEntry[], watched: Iterable<[string, { readonly slot: number; readonly generation: number }]>): void {
    const slots = new Map(watched);
    for (const [targetId, state] of this.slots) {
      const now = slots.get(targetId);
      if (!now || now.generation !== state.generation) this.remove(targetId);
    }
    for (const entry of entries) {
      const at = slots.get(entry.targetId);
      if (!at) continue;
      if (!this.slots.has(entry.targetId)) this.assign(entry.targetId, at.slot, at.generation);
      this.apply(entry.targetId, entry.hold, entry.servers);
    }
    this.syncEgress(entries.some((e) => slots.has(e.targetId) && (e.hold?.holdAtZeroMs ?? 0) > 0));
  }

  /** Whether the per-packet hold program is attached (tests, bench). */
  get holdingEnabled(): boolean {
    return this.egressAttached;
  }

  /**
   * The egress program attached while a target has holdAtZero, detached when none has. A
   * target whose holdAtZero is removed while connections are held stops counting their
   * release (their SYN retries pass unseen, as they would once released).
   */
  private syncEgress(wanted: boolean): void {
    if (wanted === this.egressAttached) return;
    if (!wanted) {
      this.object.detach(HOLD_EGRESS_PROGRAM);
      this.egressAttached = false;
      this.log.info('no target has holdAtZero: the per-packet hold program is detached');
      return;
    }
    try {
      const fd = openSync(this.cgroupPath, constants.O_RDONLY | constants.O_DIRECTORY);
      try {
        this.object.attachCgroup(HOLD_EGRESS_PROGRAM, fd);
      } finally {
        closeSync(fd);
      }
      this.egressAttached = true;
      this.log.info({ cgroup: this.cgroupPath }, 'a target has holdAtZero: the per-packet hold program is attached');
    } catch (err) {
      this.log.error({ err: (err as Error).message, cgroup: this.cgroupPath }, 'cannot attach the holdAtZero program: first connections are refused as without holdAtZero');
    }
  }

  /** A slot was (re)assigned to a target: its hold state starts from zero. */
  private assign(targetId: string, slot: number, generation: number): void {
    this.stats.update(encodeArrayKey(slot), Buffer.alloc(HOLD_STATS.bytes));
    this.config.update(encodeArrayKey(slot), encodeHoldConfig(0n, generation, 0));
    this.slots.set(targetId, { slot, generation, holdNs: 0n, episode: 0, seedListeners: 0, serversKey: '', previous: { held: 0, released: 0, timedOut: 0 } });
  }

  /**
   * The scaler's directive for a target: hold while holdAtZero is set and the target is
   * not ready. Turning from not holding to holding starts a new episode, whose window the
   * kernel opens at its first held SYN and closes by itself holdAtZero later.
   */
  private apply(targetId: string, directive: HoldDirective | undefined, servers: readonly ServerSelection[]): void {
    const state = this.slots.get(targetId);
    if (!state) return;
    const holdNs = directive && !directive.ready ? BigInt(directive.holdAtZeroMs) * 1_000_000n : 0n;
    if (directive && directive.holdAtZeroMs > 0) this.seed(targetId, state, servers);
    if (holdNs === state.holdNs) return;
    if (state.holdNs === 0n) state.episode = (state.episode + 1) >>> 0;
    state.holdNs = holdNs;
    this.config.update(encodeArrayKey(state.slot), encodeHoldConfig(holdNs, state.generation, state.episode));
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

  /** The target left the watch set (its generation is already cleared): nothing of it is held any more. */
  private remove(targetId: string): void {
    const state = this.slots.get(targetId);
    if (!state) return;
    this.config.update(encodeArrayKey(state.slot), encodeHoldConfig(0n, 0, 0));
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
    const base = state.slot * HOLD_STATS.bytes;
    const word = (offset: number): number => Number(this.statsBuffer.readBigUInt64LE(base + offset));
    const now = { held: word(HOLD_STATS.offsets.held_connections), released: word(HOLD_STATS.offsets.released_connections), timedOut: word(HOLD_STATS.offsets.timed_out_connections) };
    const listenDelta = Number(this.statsBuffer.readBigInt64LE(base + HOLD_STATS.offsets.listen_delta));
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
