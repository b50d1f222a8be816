import type { Logger } from '../log.js';
import { JUMP_FOLLOW_MS, LOAD_CHECK_MS, LoadJumpWatch, type TargetLoad } from './load-jump.js';
import type { CollectorTick, ReceivedWatchTarget, WatchEntry } from './types.js';
import { resolveWatchTargets, type NodeNamespaces } from './watch-resolution.js';

/** What the agent needs of the kernel side (CollectorCore; recorded deltas in tests). */
export interface KernelSource {
  applyWatchSet(entries: readonly WatchEntry[]): { readonly rejected: readonly { targetId: string; reason: string }[] };
  readTick(wakeup?: boolean): CollectorTick;
  /** Load now (in flight, cumulative completions and latency sum) without consuming deltas; absent = no early reports on load jumps. */
  loadNow?(): ReadonlyMap<string, TargetLoad>;
  onWakeup(listener: (events: readonly { readonly targetId: string; readonly delayNs: bigint }[]) => void): () => void;
}

/** Where ticks go: the gRPC stream client (collector) or an in-process ingest session (standalone). */
export interface ReportUplink {
  send(tick: CollectorTick): void;
}

export interface CollectorAgentOptions {
  readonly kernel: KernelSource;
  readonly uplink: ReportUplink;
  readonly node: NodeNamespaces;
  readonly tickMs: number;
  readonly logger: Logger;
}

/**
 * Selectors that could not be resolved (a netns that does not exist yet, a pod not started)
 * are retried this often: soon enough that a new pod is timed from its first seconds, rare
 * enough that a permanently wrong path costs nothing.
 */
const PENDING_RETRY_MS = 2000;

/**
 * The collector's heartbeat: applies the scalers' watch sets to the kernel, reads deltas
 * every tick and sends them up; a demand wake-up from the ring buffer cuts the tick short
 * so the scaler learns of the first connection attempt at once, and so does a jump of a
 * target's requests in flight (load-jump.ts), so the scaler's windows move within a fraction
 * of a tick after a load or latency step.
 */
export class CollectorAgent {
  private received: readonly ReceivedWatchTarget[] = [];
  private pendingSince: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private loadTimer: NodeJS.Timeout | undefined;
  private readonly loadJumps = new LoadJumpWatch();
  private lastEmitMs = 0;
  /** Until then every load check reports (the moments after a jump). */
  private followJumpUntilMs = 0;
  private unsubscribeWakeup: (() => void) | undefined;
  private readonly log: Logger;
  private lastPendingLog = '';

  constructor(private readonly options: CollectorAgentOptions) {
    this.log = options.logger.child({ component: 'agent' });
  }

  start(): void {
    this.unsubscribeWakeup = this.options.kernel.onWakeup((events) => {
      this.log.debug({ targets: events.map((e) => e.targetId), delayUs: events.map((e) => Number(e.delayNs / 1000n)) }, 'demand wake-up');
      this.emit(true);
    });
    this.timer = setInterval(() => this.tick(), this.options.tickMs);
    if (this.options.kernel.loadNow && this.options.tickMs > 2 * LOAD_CHECK_MS) {
      this.loadTimer = setInterval(() => this.checkLoad(), LOAD_CHECK_MS);
    }
  }

  /** The union of the scalers' watch sets changed. */
  setWatchTargets(targets: readonly ReceivedWatchTarget[]): void {
    this.received = targets;
    this.apply();
  }

  /** Resolves the last watch targets again (e.g. pods on this node changed). */
  refresh(): void {
    this.apply();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.loadTimer) clearInterval(this.loadTimer);
    this.loadTimer = undefined;
    this.unsubscribeWakeup?.();
    this.unsubscribeWakeup = undefined;
  }

  private tick(): void {
    if (this.pendingSince !== undefined && Date.now() - this.pendingSince >= PENDING_RETRY_MS) this.apply();
    this.emit(false);
  }

  private checkLoad(): void {
    const nowMs = Date.now();
    if (nowMs - this.lastEmitMs < LOAD_CHECK_MS) return;
    let load: ReadonlyMap<string, TargetLoad> | undefined;
    try {
      load = this.options.kernel.loadNow?.();
      if (load === undefined) return;
      // Checked during a follow too: a second step (e.g. clients stopping, then a slower
      // server) extends it instead of waiting for the tick.
      const jumped = this.loadJumps.jumped(load);
      if (jumped.length > 0) {
        this.followJumpUntilMs = nowMs + JUMP_FOLLOW_MS;
        this.log.debug({ targets: jumped }, 'load jump: reporting before the tick ends');
      } else if (nowMs >= this.followJumpUntilMs) return;
    } catch (err) {
      this.log.error({ err }, 'reading the load between ticks failed');
      return;
    }
    this.emit(false, load);
  }

  /** `load`: read just now by the caller; else read here (where the next jump test starts). */
  private emit(wakeup: boolean, load?: ReadonlyMap<string, TargetLoad>): void {
    try {
      const atReport = load ?? this.options.kernel.loadNow?.();
      const tick = this.options.kernel.readTick(wakeup);
      this.lastEmitMs = Date.now();
      this.loadJumps.noteReported(tick, atReport);
      this.options.uplink.send(tick);
    } catch (err) {
      this.log.error({ err }, 'reading or sending a tick failed');
    }
  }

  private apply(): void {
    const { entries, pending } = resolveWatchTargets(this.received, this.options.node);
    const { rejected } = this.options.kernel.applyWatchSet(entries);
    this.pendingSince = pending.length ? Date.now() : undefined;
    const summary = pending.join('; ');
    if (summary !== this.lastPendingLog) {
      // Once per change, not once per retry.
      if (pending.length) this.log.warn({ pending }, 'some watch selectors cannot be resolved on this node yet; retrying');
      this.lastPendingLog = summary;
    }
    if (rejected.length) this.log.warn({ rejected }, 'some watch entries were not programmed into the kernel');
  }
}
