import type { CollectorTick } from './types.js';

/**
 * When a report should not wait for the end of the tick. A tick of 1 s keeps ingest cheap
 * while load is steady, but the scaler's windows can only move once they have the new
 * samples. So between ticks the agent compares each target's load now with what it last
 * reported, and reports at once when either signal jumped:
 * - requests in flight at least doubled or halved, by at least JUMP_MIN_IN_FLIGHT (below
 *   that, Poisson noise of a quiet target would trigger it all the time): a rate or
 *   latency step with open-loop clients (Little's law: in flight = rate x latency);
 * - the mean latency of the requests completed since the last report is at least double
 *   or at most half the mean of the last report that had enough of them, by at least
 *   JUMP_MIN_LATENCY_US, over at least JUMP_MIN_COMPLETED requests: a latency step with
 *   closed-loop clients (a fixed pool of connections each waiting for its answer), whose
 *   in-flight count stays at the pool size whatever the latency.
 * The mean, not a quantile: it is two counters the kernel already keeps (latency sum and
 * completed requests), so a check is one batch map read and no histogram walk; a step big
 * enough to move a window's quantile moves the mean of the newest samples at least as much.
 *
 * Bounded: a jump makes the agent report at every check (LOAD_CHECK_MS) until
 * JUMP_FOLLOW_MS after the last jump, so the worst case is 1000 / LOAD_CHECK_MS reports a
 * second per collector besides the regular tick (one report carries every target), and only while load keeps
 * doubling or halving; steady load does not cross the factor 2 (the minimum sample count and
 * latency difference keep sparse or sub-millisecond noise out), so reports fall back to one
 * a tick.
 */

/** How often load is compared between ticks (one batch map read each time). */
export const LOAD_CHECK_MS = 200;
/**
 * After a jump the agent keeps reporting every LOAD_CHECK_MS for this long: the first early
 * report carries a fifth of a second of the new load, and a window quantile needs a little
 * more of it to move, so the next few arrive at the same pace instead of a tick later.
 */
export const JUMP_FOLLOW_MS = 1000;
export const JUMP_MIN_IN_FLIGHT = 4;
export const JUMP_MIN_COMPLETED = 32;
export const JUMP_MIN_LATENCY_US = 1000;

/** A target's load now: the in-flight gauge and cumulative completions and latency sum. */
export interface TargetLoad {
  readonly inFlight: number;
  readonly completed: number;
  readonly latencySumUs: number;
}

export function inFlightJumped(reported: number, now: number): boolean {
  return doubledOrHalved(reported, now, JUMP_MIN_IN_FLIGHT);
}

/** Mean latency (µs) of the newest completions against the reference mean. */
export function latencyJumped(referenceMeanUs: number, completed: number, latencySumUs: number): boolean {
  if (completed < JUMP_MIN_COMPLETED || referenceMeanUs <= 0) return false;
  return doubledOrHalved(referenceMeanUs, latencySumUs / completed, JUMP_MIN_LATENCY_US);
}

function doubledOrHalved(a: number, b: number, minDifference: number): boolean {
  const low = Math.min(a, b);
  const high = Math.max(a, b);
  return high - low >= minDifference && high >= 2 * low;
}

interface Reported {
  inFlight: number;
  /** Cumulative counters when the report was read: "since the last report" starts here. */
  completed: number;
  latencySumUs: number;
  /** Mean latency of the last report with at least JUMP_MIN_COMPLETED requests; 0 = none yet. */
  referenceMeanUs: number;
}

export class LoadJumpWatch {
  private reported = new Map<string, Reported>();

  /** What a report just carried, and the cumulative load read right before it. */
  noteReported(tick: CollectorTick, loadAtReport?: ReadonlyMap<string, TargetLoad>): void {
    const next = new Map<string, Reported>();
    for (const t of tick.targets) {
      const at = loadAtReport?.get(t.targetId);
      const previous = this.reported.get(t.targetId);
      const referenceMeanUs = t.requests >= JUMP_MIN_COMPLETED ? t.latencySumUs / t.requests : (previous?.referenceMeanUs ?? 0);
      next.set(t.targetId, { inFlight: t.inFlight, completed: at?.completed ?? 0, latencySumUs: at?.latencySumUs ?? 0, referenceMeanUs });
    }
    this.reported = next;
  }

  /** Targets whose load jumped since the last report. */
  jumped(now: ReadonlyMap<string, TargetLoad>): string[] {
    const ids: string[] = [];
    for (const [targetId, load] of now) {
      const was = this.reported.get(targetId);
      if (inFlightJumped(was?.inFlight ?? 0, load.inFlight)) ids.push(targetId);
      else if (was && load.completed >= was.completed) {
        // (fewer completions than at the report: the slot was reset, nothing to compare)
        if (latencyJumped(was.referenceMeanUs, load.completed - was.completed, load.latencySumUs - was.latencySumUs)) ids.push(targetId);
      }
    }
    return ids;
  }
}
