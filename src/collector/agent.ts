import type { Logger } from '../log.js';
import type { CollectorTick, ReceivedWatchTarget, WatchEntry } from './types.js';
import { resolveWatchTargets, type NodeNamespaces } from './watch-resolution.js';

/** What the agent needs of the kernel side (CollectorCore; recorded deltas in tests). */
export interface KernelSource {
  applyWatchSet(entries: readonly WatchEntry[]): { readonly rejected: readonly { targetId: string; reason: string }[] };
  readTick(wakeup?: boolean): CollectorTick;
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
 * so the scaler learns of the first connection attempt at once.
 */
export class CollectorAgent {
  private received: readonly ReceivedWatchTarget[] = [];
  private pendingSince: number | undefined;
  private timer: NodeJS.Timeout | undefined;
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
    this.unsubscribeWakeup?.();
    this.unsubscribeWakeup = undefined;
  }

  private tick(): void {
    if (this.pendingSince !== undefined && Date.now() - this.pendingSince >= PENDING_RETRY_MS) this.apply();
    this.emit(false);
  }

  private emit(wakeup: boolean): void {
    try {
      this.options.uplink.send(this.options.kernel.readTick(wakeup));
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
