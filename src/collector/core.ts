import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../log.js';
import {
  MAP_NAMES,
  MAX_TARGETS,
  ANY_NETNS,
  TARGET_STATS_BYTES,
  decodeHealth,
  decodeWakeupEvent,
  encodeDemandKey,
  encodePortBitmapWord,
  encodeSlotKey,
  encodeSlotMeta,
  encodeSlotRef,
  encodeWatchKey,
  watchKeyPort,
  type KernelHealth,
} from '../bpf/abi.js';
import { BpfError, E2BIG, ENOMEM, ENOSPC } from '../bpf/errors.js';
import type { BpfMap } from '../bpf/map.js';
import { BpfObject } from '../bpf/object.js';
import { RingBufferReader } from '../bpf/ringbuf.js';
import { parseAddress } from './addresses.js';
import { STATS_WORDS, decodeStats, statsDelta } from './deltas.js';
import { RUNGS, RUNG_PROGRAMS, chooseRung, type Rung, type RungRejection } from './hook-ladder.js';
import { probeKernelFacts, type KernelFacts } from './kernel-facts.js';
import { HOLD_PROGRAMS, HoldControl } from './hold.js';
import { SlotTable } from './slots.js';
import type { CollectorTick, TargetDelta, WatchEntry } from './types.js';

/** build/bpf/scaler.bpf.o at the package root, from src/collector or dist/collector. */
export const DEFAULT_BPF_OBJECT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../build/bpf/scaler.bpf.o');

/** The collector cannot run on this host; `message` is one sentence saying what is missing. */
export class CollectorUnavailableError extends Error {
  override readonly name = 'CollectorUnavailableError';
  constructor(
    message: string,
    readonly missing: readonly string[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface HookReport {
  readonly rung: Rung;
  readonly reason: string;
  readonly attached: readonly string[];
  /** Better rungs passed over, and why (absent hooks or failed load/attach). */
  readonly rejected: readonly RungRejection[];
  readonly kernel: KernelFacts;
}

export interface CollectorCoreOptions {
  readonly logger: Logger;
  readonly objectPath?: string;
  /** Rungs allowed, best first (default all): tests force a rung with this. */
  readonly rungs?: readonly Rung[];
  /** false: do not load the holdAtZero / connect() demand programs (default: load them where they work). */
  readonly hold?: boolean;
  /** cgroup v2 mounts to try for the hold programs (default /sys/fs/cgroup, /sys/fs/cgroup/unified). */
  readonly cgroupPaths?: readonly string[];
}

export interface WatchSetResult {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  /** Targets or entries that could not be programmed (map full, conflicts, bad address). */
  readonly rejected: readonly { readonly targetId: string; readonly reason: string }[];
}

export interface WakeupEvent {
  readonly targetId: string;
  /** CLOCK_MONOTONIC ns of the connection attempt in the kernel. */
  readonly kernelTimeNs: bigint;
  /** From the attempt to this callback (process.hrtime is CLOCK_MONOTONIC too). */
  readonly delayNs: bigint;
}

interface TargetState {
  readonly slot: number;
  readonly generation: number;
  readonly watchKeys: Set<string>;
  readonly demandKeys: Set<string>;
  previous: Float64Array;
  current: Float64Array;
  /** Our belief about the kernel's wakeup_armed flag for this slot. */
  armed: boolean;
}

function isMapFull(err: unknown): boolean {
  return err instanceof BpfError && (err.errno === E2BIG || err.errno === ENOSPC || err.errno === ENOMEM);
}

/** The sentence for missing capabilities (also what `probe` prints). */
export function missingCapabilitiesSentence(missing: readonly string[]): string {
  return (
    `The collector cannot run here: this process lacks ${missing.join(' and ')} ` +
    `(grant CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN; the DaemonSet also grants CAP_NET_ADMIN and CAP_SYS_RESOURCE).`
  );
}

/**
 * The collector's kernel half: probes the hook ladder, loads and attaches the chosen
 * programs, programs the watch maps from watch sets, reads per-target deltas each tick
 * and wakes subscribers on demand events. No networking here.
 */
export class CollectorCore {
  private readonly slots = new SlotTable(MAX_TARGETS);
  private readonly targets = new Map<string, TargetState>();
  private readonly watchOwners = new Map<string, string>();
  private readonly demandOwners = new Map<string, string>();
  /** Watch entries per port, behind the kernel's watched-port bitmap. */
  private readonly portRefs = new Map<number, number>();
  /** Bumped after every change: connections re-select their targets at their next request. */
  private watchEpoch = 0;
  private keyChanges = 0;
  private readonly wakeupListeners = new Set<(events: readonly WakeupEvent[]) => void>();
  private readonly statsBuffer = Buffer.alloc(MAX_TARGETS * TARGET_STATS_BYTES);
  private readonly zeroStats = Buffer.alloc(TARGET_STATS_BYTES);
  private pendingWakeups: WakeupEvent[] = [];
  private lastTickMs = Date.now();
  private mapFullCount = 0;
  private lastKernelHealth: KernelHealth = { connStateFailures: 0n, wakeupDrops: 0n };
  private readonly maps: {
    watch: BpfMap;
    portBits: BpfMap;
    epoch: BpfMap;
    demand: BpfMap;
    meta: BpfMap;
    stats: BpfMap;
    health: BpfMap;
  };
  private readonly ring: RingBufferReader;
  private closed = false;

  private constructor(
    private readonly object: BpfObject,
    readonly hooks: HookReport,
    private readonly log: Logger,
    /** holdAtZero and connect() demand; undefined where they cannot load or attach (logged). */
    readonly hold?: HoldControl,
  ) {
    this.maps = {
      watch: object.map(MAP_NAMES.watchPorts),
      portBits: object.map(MAP_NAMES.watchPortBits),
      epoch: object.map(MAP_NAMES.watchEpoch),
      demand: object.map(MAP_NAMES.demandAddrs),
      meta: object.map(MAP_NAMES.slotMeta),
      stats: object.map(MAP_NAMES.targetStats),
      health: object.map(MAP_NAMES.health),
    };
    this.ring = new RingBufferReader(object.map(MAP_NAMES.wakeups), (record) => this.onRecord(record));
  }

  /**
   * Probes, loads and attaches. Throws CollectorUnavailableError (one sentence) when this
   * host cannot run the collector: missing capabilities, no BTF, no usable hook.
   */
  static open(options: CollectorCoreOptions): CollectorCore {
    const log = options.logger.child({ component: 'collector-core' });
    const objectPath = options.objectPath ?? DEFAULT_BPF_OBJECT;
    let kernel: KernelFacts;
    try {
      kernel = probeKernelFacts();
    } catch (err) {
      throw new CollectorUnavailableError(`The collector cannot run here: ${(err as Error).message}.`, ['libbpf1'], { cause: err });
    }
    if (kernel.missingCapabilities.length) {
      throw new CollectorUnavailableError(missingCapabilitiesSentence(kernel.missingCapabilities), kernel.missingCapabilities);
    }
    if (!kernel.hook.btf) {
      throw new CollectorUnavailableError(
        'The collector cannot run here: the kernel has no BTF (/sys/kernel/btf/vmlinux; build it with CONFIG_DEBUG_INFO_BTF=y).',
        ['BTF'],
      );
    }
    const allowed = options.rungs ?? RUNGS;
    const failed: Partial<Record<Rung, string>> = {};
    for (const rung of RUNGS) if (!allowed.includes(rung)) failed[rung] = 'not allowed by configuration';
    for (;;) {
      const choice = chooseRung({ ...kernel.hook, failed });
      if (choice.rung === undefined) {
        throw new CollectorUnavailableError(`The collector cannot run here: ${choice.reason}.`, ['hook']);
      }
      let object = BpfObject.open(objectPath);
      try {
        const load = (withHold: boolean): void => {
          object.loadOnly(withHold ? [...choice.programs, ...HOLD_PROGRAMS] : choice.programs);
          // Only rung 3 keeps state in the LRU hash; don't reserve its memory otherwise.
          if (choice.rung !== 'kprobe') object.setMaxEntries(MAP_NAMES.connStateBySk, 1);
          object.load();
        };
        let holdLoaded = options.hold !== false;
        try {
          load(holdLoaded);
        } catch (err) {
          if (!holdLoaded || !(err instanceof BpfError)) throw err;
          // holdAtZero is optional: the rung still runs without it.
          log.warn({ err: err.message }, 'holdAtZero and connect() demand programs do not load here; running without them');
          object.close();
          object = BpfObject.open(objectPath);
          holdLoaded = false;
          load(false);
        }
        for (const program of choice.programs) object.attach(program);
        let hold: HoldControl | undefined;
        if (holdLoaded) {
          try {
            hold = HoldControl.attach(object, log, options.cgroupPaths);
          } catch (err) {
            log.warn({ err: (err as Error).message }, 'holdAtZero and connect() demand programs cannot attach; running without them');
          }
        }
        const report: HookReport = { rung: choice.rung, reason: choice.reason, attached: object.attachedPrograms, rejected: choice.rejected, kernel };
        log.info({ rung: report.rung, reason: report.reason, attached: report.attached }, 'kernel hooks attached');
        return new CollectorCore(object, report, log, hold);
      } catch (err) {
        object.close();
        if (!(err instanceof BpfError)) throw err;
        log.warn({ rung: choice.rung, err: err.message }, 'hook rung failed, trying the next');
        failed[choice.rung] = `tried and failed: ${err.message}`;
      }
    }
  }

  /**
   * Loads one rung's programs through the verifier without attaching (rungs that cannot
   * attach here can still be checked). Throws BpfError with the verifier's verdict.
   */
  static verifyRung(rung: Rung, objectPath: string = DEFAULT_BPF_OBJECT): readonly string[] {
    const object = BpfObject.open(objectPath);
    try {
      object.loadOnly(RUNG_PROGRAMS[rung]);
      object.load();
      return RUNG_PROGRAMS[rung];
    } finally {
      object.close();
    }
  }

  /** Kernel ids of the attached programs (for kernel.bpf_stats_enabled figures via bpftool). */
  programIds(): Record<string, number> {
    return Object.fromEntries(this.hooks.attached.map((p) => [p, this.object.programId(p)]));
  }

  /**
   * Makes the kernel observe exactly these targets. Targets keep their slot across calls;
   * a removed target stops counting at once (its generation is cleared first); a new
   * target starts from zeroed counters. Nothing is detached or reattached.
   */
  applyWatchSet(entries: readonly WatchEntry[]): WatchSetResult {
    this.assertOpen();
    const desired = new Map(entries.map((e) => [e.targetId, e]));
    const added: string[] = [];
    const removed: string[] = [];
    const rejected: { targetId: string; reason: string }[] = [];

    for (const [targetId, state] of this.targets) {
      if (desired.has(targetId)) continue;
      this.hold?.remove(targetId);
      this.maps.meta.update(encodeSlotKey(state.slot), encodeSlotMeta(0, false));
      for (const key of state.watchKeys) this.dropKey(this.maps.watch, this.watchOwners, key);
      for (const key of state.demandKeys) this.dropKey(this.maps.demand, this.demandOwners, key);
      this.slots.release(targetId);
      this.targets.delete(targetId);
      removed.push(targetId);
    }

    for (const entry of desired.values()) {
      let state = this.targets.get(entry.targetId);
      if (!state) {
        const assignment = this.slots.assign(entry.targetId);
        if (!assignment) {
          this.countMapFull('target slots', entry.targetId);
          rejected.push({ targetId: entry.targetId, reason: `all ${MAX_TARGETS} target slots are in use` });
          continue;
        }
        // Zero first, then publish the generation: the kernel never counts into stale data.
        this.maps.stats.update(encodeSlotKey(assignment.slot), this.zeroStats);
        this.hold?.assign(entry.targetId, assignment.slot, assignment.generation);
        this.maps.meta.update(encodeSlotKey(assignment.slot), encodeSlotMeta(assignment.generation, true));
        state = {
          slot: assignment.slot,
          generation: assignment.generation,
          watchKeys: new Set(),
          demandKeys: new Set(),
          previous: new Float64Array(STATS_WORDS),
          current: new Float64Array(STATS_WORDS),
          armed: true,
        };
        this.targets.set(entry.targetId, state);
        added.push(entry.targetId);
      }
      const watchKeys = new Set(entry.servers.map((s) => encodeWatchKey(s.netnsInode ?? ANY_NETNS, s.port).toString('hex')));
      const demandKeys = new Set<string>();
      for (const d of entry.demand) {
        try {
          const addr = parseAddress(d.ip);
          demandKeys.add(encodeDemandKey(addr.family, addr.bytes, d.port).toString('hex'));
        } catch (err) {
          rejected.push({ targetId: entry.targetId, reason: (err as Error).message });
        }
      }
      this.syncKeys(entry.targetId, state, state.watchKeys, watchKeys, this.maps.watch, this.watchOwners, rejected);
      this.syncKeys(entry.targetId, state, state.demandKeys, demandKeys, this.maps.demand, this.demandOwners, rejected);
      this.hold?.apply(entry.targetId, entry.hold, entry.servers);
    }
    if (this.keyChanges > 0 || added.length || removed.length) {
      this.keyChanges = 0;
      this.watchEpoch = (this.watchEpoch + 1) >>> 0;
      const value = Buffer.alloc(4);
      value.writeUInt32LE(this.watchEpoch);
      this.maps.epoch.update(encodeSlotKey(0), value);
    }
    if (added.length || removed.length || rejected.length) {
      this.log.info({ added, removed, rejected, targets: this.targets.size }, 'watch set applied');
    }
    return { added, removed, rejected };
  }

  private syncKeys(
    targetId: string,
    state: TargetState,
    have: Set<string>,
    want: Set<string>,
    map: BpfMap,
    owners: Map<string, string>,
    rejected: { targetId: string; reason: string }[],
  ): void {
    for (const key of have) {
      if (want.has(key)) continue;
      this.dropKey(map, owners, key);
      have.delete(key);
    }
    for (const key of want) {
      if (have.has(key)) continue;
      const owner = owners.get(key);
      if (owner !== undefined && owner !== targetId) {
        rejected.push({ targetId, reason: `${map.name} entry ${key} already belongs to target ${owner}` });
        continue;
      }
      try {
        map.update(Buffer.from(key, 'hex'), encodeSlotRef(state.slot));
      } catch (err) {
        if (!isMapFull(err)) throw err;
        this.countMapFull(map.name, targetId);
        rejected.push({ targetId, reason: `${map.name} is full (${map.maxEntries} entries)` });
        continue;
      }
      owners.set(key, targetId);
      have.add(key);
      this.keyChanges++;
      if (map === this.maps.watch) this.countPort(watchKeyPort(Buffer.from(key, 'hex')), 1);
    }
  }

  private dropKey(map: BpfMap, owners: Map<string, string>, key: string): void {
    const raw = Buffer.from(key, 'hex');
    map.delete(raw);
    owners.delete(key);
    this.keyChanges++;
    if (map === this.maps.watch) this.countPort(watchKeyPort(raw), -1);
  }

  /** Keeps the kernel's port bitmap in step with the watch entries naming each port. */
  private countPort(port: number, change: 1 | -1): void {
    const refs = (this.portRefs.get(port) ?? 0) + change;
    if (refs > 0) this.portRefs.set(port, refs);
    else this.portRefs.delete(port);
    if (refs > 1 || (refs === 1 && change === -1)) return; // the bit did not change
    const word = port >> 6;
    this.maps.portBits.update(encodeSlotKey(word), encodePortBitmapWord(word, (p) => this.portRefs.has(p)));
  }

  private countMapFull(what: string, targetId: string): void {
    this.mapFullCount++;
    this.log.warn({ map: what, targetId, mapFullCount: this.mapFullCount }, 'kernel map full: target not (fully) watched');
  }

  /**
   * Deltas since the previous read for every watched target (in-flight is a gauge). One
   * batch syscall reads all used slots; idle targets are re-armed for wake-ups.
   */
  readTick(wakeup = false): CollectorTick {
    this.assertOpen();
    const nowMs = Date.now();
    const used = this.slots.usedPrefix();
    this.maps.stats.readArrayPrefix(used, this.statsBuffer);
    this.hold?.read(used);
    const targets: TargetDelta[] = [];
    for (const [targetId, state] of this.targets) {
      decodeStats(this.statsBuffer, state.slot * TARGET_STATS_BYTES, state.current);
      const d = statsDelta(targetId, state.current, state.previous);
      [state.previous, state.current] = [state.current, state.previous];
      targets.push({ ...d, ...this.hold?.tick(targetId) });
      if (d.demandAttempts > 0) state.armed = false;
      else if (!state.armed && d.requests === 0 && d.inFlight === 0) {
        this.maps.meta.update(encodeSlotKey(state.slot), encodeSlotMeta(state.generation, true));
        state.armed = true;
      }
    }
    this.checkKernelHealth();
    const tick: CollectorTick = { endUnixMs: nowMs, intervalMs: nowMs - this.lastTickMs, targets, wakeup };
    this.lastTickMs = nowMs;
    return tick;
  }

  private checkKernelHealth(): void {
    const raw = this.maps.health.lookup(encodeSlotKey(0));
    if (!raw) return;
    const now = decodeHealth(raw);
    if (now.connStateFailures > this.lastKernelHealth.connStateFailures || now.wakeupDrops > this.lastKernelHealth.wakeupDrops) {
      this.log.warn(
        { connStateFailures: now.connStateFailures.toString(), wakeupDrops: now.wakeupDrops.toString() },
        'kernel side dropped events (connection state or wake-up ring full)',
      );
    }
    this.lastKernelHealth = now;
  }

  health(): { readonly mapFull: number; readonly kernel: KernelHealth; readonly targets: number } {
    return { mapFull: this.mapFullCount, kernel: this.lastKernelHealth, targets: this.targets.size };
  }

  /** Called on the first demand attempt for an idle target; returns an unsubscribe. */
  onWakeup(listener: (events: readonly WakeupEvent[]) => void): () => void {
    this.wakeupListeners.add(listener);
    return () => this.wakeupListeners.delete(listener);
  }

  private onRecord(record: Buffer): void {
    const event = decodeWakeupEvent(record);
    if (!event) return;
    const targetId = this.slots.targetAt(event.slot);
    const state = targetId === undefined ? undefined : this.targets.get(targetId);
    if (targetId === undefined || !state || state.generation !== event.generation) return;
    state.armed = false;
    const delayNs = process.hrtime.bigint() - event.timeNs;
    if (this.pendingWakeups.push({ targetId, kernelTimeNs: event.timeNs, delayNs }) === 1) {
      // Dispatch after ring_buffer__consume returns, outside the native callback.
      queueMicrotask(() => {
        const events = this.pendingWakeups;
        this.pendingWakeups = [];
        for (const listener of this.wakeupListeners) listener(events);
      });
    }
  }

  /** Drains the wake-up ring now (normally libuv polling does this by itself). */
  pollWakeups(): number {
    return this.ring.consume();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ring.close();
    this.object.close();
    this.wakeupListeners.clear();
    this.log.info('kernel hooks detached');
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('collector core is closed');
  }
}

