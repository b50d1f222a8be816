import type { CollectorTick } from './types.js';

/**
 * When a report should not wait for the end of the tick. A tick of 1 s keeps ingest cheap
 * while load is steady; but a latency or rate step shows first as a jump in requests in
 * flight (Little's law: in flight = rate x latency), and the scaler's windows can only move
 * once they have the new samples. So between ticks the agent compares each target's
 * in-flight gauge with the last reported one and reports at once when it at least doubled
 * or halved, by at least JUMP_MIN_IN_FLIGHT requests (below that, Poisson noise of a quiet
 * target would trigger it all the time).
 */

/** How often in-flight gauges are compared between ticks (one batch map read each time). */
export const LOAD_CHECK_MS = 200;
/**
 * After a jump the agent keeps reporting every LOAD_CHECK_MS for this long: the first early
 * report carries a fifth of a second of the new load, and a window quantile needs a little
 * more of it to move, so the next few arrive at the same pace instead of a tick later.
 */
export const JUMP_FOLLOW_MS = 1000;
export const JUMP_MIN_IN_FLIGHT = 4;

export function inFlightJumped(reported: number, now: number): boolean {
  const low = Math.min(reported, now);
  const high = Math.max(reported, now);
  return high - low >= JUMP_MIN_IN_FLIGHT && high >= 2 * low;
}

export class LoadJumpWatch {
  private readonly reported = new Map<string, number>();

  /** The in-flight gauges a report just carried. */
  noteReported(tick: CollectorTick): void {
    this.reported.clear();
    for (const t of tick.targets) this.reported.set(t.targetId, t.inFlight);
  }

  /** Targets whose in-flight gauge jumped since the last report. */
  jumped(now: ReadonlyMap<string, number>): string[] {
    const ids: string[] = [];
    for (const [targetId, inFlight] of now) if (inFlightJumped(this.reported.get(targetId) ?? 0, inFlight)) ids.push(targetId);
    return ids;
  }
}
