import type { Logger } from '../log.js';
import { MAX_TARGETS, TARGET_STATS, decodeHealth, encodeArrayKey, encodeSlotMeta, type KernelHealth, type KernelWakeupEvent } from '../bpf/abi.js';
import { STATS_WORDS, decodeStats, loadOf, statsDelta } from './deltas.js';
import type { TargetLoad } from './load-jump.js';
import type { CollectorTick, TargetDelta } from './types.js';

/**
 * Each tick: the kernel's cumulative counters for every watched target -> deltas, idle
 * targets re-armed for demand wake-ups, and the kernel's own drop counters checked.
 */

/** The maps a tick reads (BpfMap satisfies it). */
export interface TickMaps {
  /** target_stats: every used slot in one batch read. */
  readonly stats: { readArrayPrefix(count: number, values: Buffer): void };
  /** slot_meta: re-arming writes the wake-up flag. */
  readonly meta: { update(key: Buffer, value: Buffer): void };
  /** health: the kernel side's drop counters. */
  readonly health: { lookup(key: Buffer): Buffer | undefined };
}

/** Which targets hold which slot under which generation (WatchSync). */
export interface WatchedSlots {
  targets(): IterableIterator<[string, { readonly slot: number; readonly generation: number }]>;
  targetAt(slot: number, generation: number): string | undefined;
  usedSlots(): number;
}

export interface WakeupEvent {
  readonly targetId: string;
  /** CLOCK_MONOTONIC ns of the connection attempt in the kernel. */
  readonly kernelTimeNs: bigint;
  /** From the attempt to this callback (process.hrtime is CLOCK_MONOTONIC too). */
  readonly delayNs: bigint;
}

interface TargetCounters {
  readonly generation: number;
  previous: Float64Array;
  current: Float64Array;
  /** Our belief about the kernel's wakeup_armed flag for this slot (a new slot starts armed). */
  armed: boolean;
}

export class TickReader {
  private readonly counters = new Map<string, TargetCounters>();
  private readonly statsBuffer = Buffer.alloc(MAX_TARGETS * TARGET_STATS.bytes);
  private lastTickMs = Date.now();
  private lastKernelHealth: KernelHealth = { connStateFailures: 0n, wakeupDrops: 0n };

  constructor(
    private readonly maps: TickMaps,
    private readonly watched: WatchedSlots,
    private readonly log: Logger,
  ) {}

  /**
   * Deltas since the previous read for every watched target (in-flight is a gauge). One
   * batch syscall reads all used slots; idle targets are re-armed for wake-ups.
   */
  read(wakeup: boolean): CollectorTick {
    const nowMs = Date.now();
    this.maps.stats.readArrayPrefix(this.watched.usedSlots(), this.statsBuffer);
    const targets: TargetDelta[] = [];
    const seen = new Set<string>();
    for (const [targetId, { slot, generation }] of this.watched.targets()) {
      seen.add(targetId);
      const c = this.countersOf(targetId, generation);
      decodeStats(this.statsBuffer, slot * TARGET_STATS.bytes, c.current);
      const d = statsDelta(targetId, c.current, c.previous);
      [c.previous, c.current] = [c.current, c.previous];
      targets.push(d);
      if (d.demandAttempts > 0) c.armed = false;
      else if (!c.armed && d.requests === 0 && d.inFlight === 0) {
        this.maps.meta.update(encodeArrayKey(slot), encodeSlotMeta(generation, true));
        c.armed = true;
      }
    }
    for (const targetId of this.counters.keys()) if (!seen.has(targetId)) this.counters.delete(targetId);
    this.checkKernelHealth();
    const tick: CollectorTick = { endUnixMs: nowMs, intervalMs: nowMs - this.lastTickMs, targets, wakeup };
    this.lastTickMs = nowMs;
    return tick;
  }

  /** The kernel side's drop counters as of the last read (cumulative). */
  get kernelHealth(): KernelHealth {
    return this.lastKernelHealth;
  }

  /**
   * Load per target right now, without consuming deltas (the next read() still covers the
   * whole tick): requests in flight and the cumulative completions and latency sum, what the
   * agent watches between ticks to report early when load jumps. One batch syscall, like read().
   */
  loadNow(): Map<string, TargetLoad> {
    this.maps.stats.readArrayPrefix(this.watched.usedSlots(), this.statsBuffer);
    const snapshot = new Float64Array(STATS_WORDS);
    const load = new Map<string, TargetLoad>();
    for (const [targetId, { slot }] of this.watched.targets()) {
      decodeStats(this.statsBuffer, slot * TARGET_STATS.bytes, snapshot);
      load.set(targetId, loadOf(snapshot));
    }
    return load;
  }

  /** A wake-up record from the ring: its target (the kernel disarmed it), or undefined when stale. */
  wakeupFrom(event: KernelWakeupEvent): WakeupEvent | undefined {
    const targetId = this.watched.targetAt(event.slot, event.generation);
    if (targetId === undefined) return undefined;
    this.countersOf(targetId, event.generation).armed = false;
    return { targetId, kernelTimeNs: event.timeNs, delayNs: process.hrtime.bigint() - event.timeNs };
  }

  /** A target's counters; fresh (zero, armed) when the target or its generation is new. */
  private countersOf(targetId: string, generation: number): TargetCounters {
    let c = this.counters.get(targetId);
    if (!c || c.generation !== generation) {
      c = { generation, previous: new Float64Array(STATS_WORDS), current: new Float64Array(STATS_WORDS), armed: true };
      this.counters.set(targetId, c);
    }
    return c;
  }

  private checkKernelHealth(): void {
    const raw = this.maps.health.lookup(encodeArrayKey(0));
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
}
