import type { Ingest } from '../ingest/ingest.js';
import type { WindowStore } from '../scaler/window-store.js';

/**
 * Holds a target's first activity answer until collectors have reported on it, so a
 * restarted scaler (empty window store) never tells KEDA "inactive" for a target that has
 * traffic: without it a StreamIsActive opened right after a restart said false, then true
 * one report later (a flap that scales to zero and back).
 *
 * A target is ready when a report carried its delta and the answer is already active, or
 * when a second delta arrived (the first may cover only the moment since the collector
 * started watching it), or at the deadline: one collector interval after the connect grace
 * (collectors reconnecting after the restart) or after the target was first asked about.
 * With no collector connected once the grace is over, nobody will report: no wait.
 */
export interface FirstReportGateOptions {
  readonly ingest: Ingest;
  readonly store: WindowStore;
  /** Unix ms. */
  readonly clock: () => number;
  /** How long after start-up collectors have to (re)connect. */
  readonly connectGraceMs: number;
  /** The collectors' report interval (their --tick). */
  readonly intervalMs: number;
}

/** Defaults for the scaler command: the collector's default --tick and its first reconnects. */
export const DEFAULT_CONNECT_GRACE_MS = 2000;
export const DEFAULT_COLLECTOR_INTERVAL_MS = 1000;

/** Deltas after which a target is ready whatever its activity. */
const DELTAS_FOR_A_FULL_INTERVAL = 2;

export class FirstReportGate {
  /** target id -> deltas received (capped); pruned of targets the store dropped. */
  private readonly deltas = new Map<string, number>();
  private readonly waiters = new Map<string, Set<{ check(): void; done(): void }>>();
  private readonly off: () => void;
  private startedAtMs: number | undefined;

  constructor(private readonly options: FirstReportGateOptions) {
    this.off = options.ingest.onTargetsUpdated((ids) => {
      for (const id of ids) {
        const n = this.deltas.get(id) ?? 0;
        if (n < DELTAS_FOR_A_FULL_INTERVAL) this.deltas.set(id, n + 1);
        // Copied only when someone waits (check() may remove itself): no array per delta otherwise.
        const waiting = this.waiters.get(id);
        if (waiting !== undefined) for (const waiter of [...waiting]) waiter.check();
      }
      if (this.deltas.size > options.store.maxTargets) for (const id of this.deltas.keys()) if (!options.store.has(id)) this.deltas.delete(id);
    });
  }

  /** The server is serving from now on. */
  started(): void {
    this.startedAtMs = this.options.clock();
  }

  /** Resolves when `targetId`'s answer may be given; `isActive` evaluates it now. */
  wait(targetId: string, isActive: () => boolean): Promise<void> {
    return this.waitIfNeeded(targetId, isActive) ?? Promise.resolve();
  }

  /**
   * wait() without a promise when the answer may be given now (the KEDA hot path, where it
   * nearly always may): undefined then, else the promise of wait().
   */
  waitIfNeeded(targetId: string, isActive: () => boolean): Promise<void> | undefined {
    const now = this.options.clock();
    const graceEnd = (this.startedAtMs ?? now) + this.options.connectGraceMs;
    const ready = (): boolean => {
      const seen = this.deltas.get(targetId) ?? 0;
      if (seen >= DELTAS_FOR_A_FULL_INTERVAL || (seen > 0 && isActive())) return true;
      return this.options.ingest.collectorsConnected === 0 && this.options.clock() >= graceEnd;
    };
    if (ready()) return undefined;
    const deadlineMs = Math.max(now, graceEnd) + this.options.intervalMs;
    return new Promise((resolve) => {
      const waiting = this.waiters.get(targetId) ?? new Set();
      this.waiters.set(targetId, waiting);
      const waiter = {
        done: (): void => {
          clearTimeout(timer);
          clearInterval(poll);
          waiting.delete(waiter);
          if (waiting.size === 0) this.waiters.delete(targetId);
          resolve();
        },
        check: (): void => {
          if (ready()) waiter.done();
        },
      };
      waiting.add(waiter);
      const timer = setTimeout(waiter.done, deadlineMs - now);
      // Collectors may all go away (or never come) during the grace: look again now and then.
      const poll = setInterval(waiter.check, 250);
      timer.unref();
      poll.unref();
    });
  }

  close(): void {
    this.off();
    for (const waiting of [...this.waiters.values()]) for (const waiter of [...waiting]) waiter.done();
  }
}
