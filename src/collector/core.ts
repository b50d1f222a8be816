import type { Logger } from '../log.js';
import { MAP_NAMES, decodeWakeupEvent, type KernelHealth } from '../bpf/abi.js';
import type { BpfObject } from '../bpf/object.js';
import { RingBufferReader } from '../bpf/ringbuf.js';
import { loadHooks, verifyRung, type HookReport, type LoadHooksOptions } from './hook-loader.js';
import { FRAMING_COMPAT_GROUP, FRAMING_GROUPS, FramingControl } from './framing.js';
import { DEFAULT_CGROUP2_PATHS, HOLD_PROGRAMS, HoldControl } from './hold.js';
import { LISTEN_OVERFLOW_GROUP, LISTEN_OVERFLOW_PROGRAMS, ListenOverflowControl } from './listen-overflow.js';
import { TickReader, type WakeupEvent } from './tick-reader.js';
import type { TargetLoad } from './load-jump.js';
import type { CollectorTick, ProtocolTick, WatchEntry } from './types.js';
import { WatchSync, type WatchSetResult } from './watch-sync.js';

export { CollectorUnavailableError, DEFAULT_BPF_OBJECT, missingCapabilitiesSentence, type HookReport } from './hook-loader.js';
export type { WakeupEvent } from './tick-reader.js';
export type { WatchSetResult } from './watch-sync.js';

export interface CollectorCoreOptions extends Omit<LoadHooksOptions, 'optionalGroups'> {
  /** false: leave out the holdAtZero / connect() demand programs (default: use them where they load). */
  readonly hold?: boolean;
  /** false: leave out the listen-queue overflow program (default: use it where it loads). */
  readonly listenOverflow?: boolean;
  /**
   * false: leave out protocol framing (HTTP/2, TLS, HTTP/1 interim; default: use it where it
   * loads). 'compat': its compat build even where the bpf_loop build loads (what 5.11-5.16
   * run beside fentry's sk_storage variant; tests force it with this).
   */
  readonly framing?: boolean | 'compat';
  /** cgroup v2 mounts to try for them (default /sys/fs/cgroup, /sys/fs/cgroup/unified). */
  readonly cgroupPaths?: readonly string[];
}

/**
 * The collector's kernel half, wiring three parts: hook-loader.ts (probe, choose a rung,
 * load and attach), watch-sync.ts (watch sets -> watch maps) and tick-reader.ts (deltas,
 * wake-up arming, kernel health), plus the wake-up ring. No networking here.
 */
export class CollectorCore {
  private readonly watch: WatchSync;
  private readonly ticks: TickReader;
  private readonly ring: RingBufferReader;
  private readonly wakeupListeners = new Set<(events: readonly WakeupEvent[]) => void>();
  private pendingWakeups: WakeupEvent[] = [];
  private closed = false;

  private constructor(
    private readonly object: BpfObject,
    readonly hooks: HookReport,
    private readonly log: Logger,
    /** holdAtZero and connect() demand (hold.ts); undefined where they cannot load or attach (logged). */
    readonly hold?: HoldControl,
    /** Listen-queue overflow (listen-overflow.ts); undefined where it cannot load or attach (logged). */
    readonly listenOverflow?: ListenOverflowControl,
    /** Protocol framing (framing.ts); undefined where it cannot load or attach (logged). */
    readonly framing?: FramingControl,
  ) {
    const stats = object.map(MAP_NAMES.targetStats);
    const meta = object.map(MAP_NAMES.slotMeta);
    this.watch = new WatchSync({
      watch: object.map(MAP_NAMES.watchPorts),
      demand: object.map(MAP_NAMES.demandAddrs),
      portBits: object.map(MAP_NAMES.watchPortBits),
      demandPortBits: object.map(MAP_NAMES.demandPortBits),
      epoch: object.map(MAP_NAMES.watchEpoch),
      meta,
      stats,
    });
    this.ticks = new TickReader({ stats, meta, health: object.map(MAP_NAMES.health) }, this.watch, log);
    this.ring = new RingBufferReader(object.map(MAP_NAMES.wakeups), (record) => this.onRecord(record));
  }

  /**
   * Probes, loads and attaches. Throws CollectorUnavailableError (one sentence) when this
   * host cannot run the collector: missing capabilities, no BTF, no usable hook.
   */
  static open(options: CollectorCoreOptions): CollectorCore {
    const groups = [
      ...(options.hold === false ? [] : [{ name: 'holdAtZero', programs: HOLD_PROGRAMS }]),
      ...(options.listenOverflow === false ? [] : [LISTEN_OVERFLOW_GROUP]),
      ...(options.framing === false ? [] : options.framing === 'compat' ? [FRAMING_COMPAT_GROUP] : FRAMING_GROUPS),
    ];
    const { object, report, optionalLoaded } = loadHooks({ ...options, optionalGroups: groups });
    try {
      const log = options.logger.child({ component: 'collector-core' });
      let hold: HoldControl | undefined;
      if (optionalLoaded.has('holdAtZero')) {
        try {
          hold = HoldControl.attach(object, log, options.cgroupPaths);
        } catch (err) {
          log.warn({ err: (err as Error).message }, 'holdAtZero and connect() demand programs cannot attach here; running without them');
        }
      }
      let listenOverflow: ListenOverflowControl | undefined;
      if (optionalLoaded.has(LISTEN_OVERFLOW_GROUP.name)) {
        try {
          listenOverflow = ListenOverflowControl.attach(object, log, options.cgroupPaths);
        } catch (err) {
          log.warn({ err: (err as Error).message }, 'listen-queue overflow program cannot attach here; dropped connection attempts are not counted');
        }
      } else if (options.listenOverflow !== false) {
        log.warn({ programs: LISTEN_OVERFLOW_PROGRAMS }, 'listen-queue overflow program did not load on this kernel (see the hook-loader warning); dropped connection attempts are not counted');
      }
      let framing: FramingControl | undefined;
      const framingBuild = FramingControl.loadedBuild(optionalLoaded);
      if (framingBuild) {
        try {
          framing = FramingControl.attach(object, log, options.cgroupPaths ?? DEFAULT_CGROUP2_PATHS, framingBuild);
        } catch (err) {
          log.warn({ err: (err as Error).message }, 'protocol framing programs cannot attach here; HTTP/2 and TLS are timed by turn-taking');
        }
      } else if (options.framing !== false) {
        log.warn('protocol framing programs did not load here; HTTP/2 and TLS are timed by turn-taking');
      }
      return new CollectorCore(object, report, log, hold, listenOverflow, framing);
    } catch (err) {
      object.close();
      throw err;
    }
  }

  /** Loads one rung variant through the verifier without attaching (hook-loader.ts verifyRung). */
  static verifyRung = verifyRung;

  /** Kernel ids of the attached programs (for kernel.bpf_stats_enabled figures via bpftool). */
  programIds(): Record<string, number> {
    const programs = [
      ...this.hooks.attached,
      ...(this.hold ? HOLD_PROGRAMS : []),
      ...(this.listenOverflow ? LISTEN_OVERFLOW_PROGRAMS : []),
      ...(this.framing?.programs ?? []),
    ];
    return Object.fromEntries(programs.map((p) => [p, this.object.programId(p)]));
  }

  /** What the collector's metrics show: map-full refusals, kernel drop counters, watched targets. */
  health(): { readonly mapFull: number; readonly kernel: KernelHealth; readonly targets: number } {
    return { mapFull: this.watch.mapFullCount, kernel: this.ticks.kernelHealth, targets: this.watch.targetCount };
  }

  /** Makes the kernel observe exactly these targets (WatchSync.apply). */
  applyWatchSet(entries: readonly WatchEntry[]): WatchSetResult {
    this.assertOpen();
    const mapFullBefore = this.watch.mapFullCount;
    const result = this.watch.apply(entries);
    this.hold?.sync(entries, this.watch.targets());
    this.listenOverflow?.sync(this.watch.targets());
    this.framing?.sync(this.watch.targets());
    if (this.watch.mapFullCount > mapFullBefore) {
      this.log.warn({ mapFullCount: this.watch.mapFullCount }, 'kernel map full: some targets are not (fully) watched');
    }
    if (result.added.length || result.removed.length || result.rejected.length) {
      this.log.info({ ...result, targets: this.watch.targetCount }, 'watch set applied');
    }
    return result;
  }

  /** Deltas since the previous read for every watched target (TickReader.read). */
  readTick(wakeup = false): CollectorTick {
    this.assertOpen();
    const tick = this.ticks.read(wakeup);
    const { hold, listenOverflow, framing } = this;
    if (!hold && !listenOverflow && !framing) return tick;
    hold?.read(this.watch.usedSlots());
    listenOverflow?.read(this.watch.usedSlots());
    framing?.read(this.watch.usedSlots());
    const protocol = (targetId: string): { protocol?: ProtocolTick } => {
      const p = framing?.tick(targetId);
      return p ? { protocol: p } : {};
    };
    return { ...tick, targets: tick.targets.map((d) => ({ ...d, ...hold?.tick(d.targetId), ...listenOverflow?.tick(d.targetId), ...protocol(d.targetId) })) };
  }

  /** Load per target now (in flight, cumulative completions and latency sum), deltas untouched (TickReader.loadNow). */
  loadNow(): Map<string, TargetLoad> {
    this.assertOpen();
    return this.ticks.loadNow();
  }

  /** Called on the first demand attempt for an idle target; returns an unsubscribe. */
  onWakeup(listener: (events: readonly WakeupEvent[]) => void): () => void {
    this.wakeupListeners.add(listener);
    return () => this.wakeupListeners.delete(listener);
  }

  private onRecord(record: Buffer): void {
    const kernelEvent = decodeWakeupEvent(record);
    const event = kernelEvent && this.ticks.wakeupFrom(kernelEvent);
    if (!event) return;
    if (this.pendingWakeups.push(event) === 1) {
      // Dispatch after ring_buffer__consume returns, outside the native callback.
      queueMicrotask(() => {
        const events = this.pendingWakeups;
        this.pendingWakeups = [];
        for (const listener of this.wakeupListeners) listener(events);
      });
    }
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
