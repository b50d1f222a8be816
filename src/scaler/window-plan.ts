import { COARSE_SLOT_SECONDS } from './limits.js';

/**
 * Which slots of a target make up the seconds [fromSec, nowSec]: one-second slots as far
 * back as the fine ring reaches (from a coarse boundary on), COARSE_SLOT_SECONDS-wide slots
 * before that. The coarse part may start up to COARSE_SLOT_SECONDS - 1 seconds early; rates
 * stay right because they divide by the time the slots' intervals span.
 *
 * As key ranges rather than slot lists, so a running window sum (window-aggregate.ts) can
 * tell which slots entered or left it when the second moves on, and whether a slot being
 * written or replaced is part of it, without visiting the rest of the window.
 */
export interface WindowPlan {
  /** Coarse slot keys [coarseFrom, coarseTo) (empty when equal). */
  readonly coarseFrom: number;
  readonly coarseTo: number;
  /** Fine slot keys (seconds) [fineFrom, fineTo] (empty when fineFrom > fineTo). */
  readonly fineFrom: number;
  readonly fineTo: number;
}

export const toSec = (ms: number): number => Math.floor(ms / 1000);
export const coarseKey = (sec: number): number => Math.floor(sec / COARSE_SLOT_SECONDS);

/**
 * The plan for [fromSec, nowSec] of a target whose fine ring holds `fineCapacity` seconds
 * and whose coarse ring (if any) `coarseCapacity` coarse slots.
 */
export function windowPlan(fineCapacity: number, coarseCapacity: number | undefined, fromSec: number, nowSec: number): WindowPlan {
  const fineReach = nowSec - fineCapacity + 1;
  if (fromSec >= fineReach || coarseCapacity === undefined) {
    return { coarseFrom: 0, coarseTo: 0, fineFrom: Math.max(fromSec, fineReach), fineTo: nowSec };
  }
  const boundary = Math.ceil(fineReach / COARSE_SLOT_SECONDS) * COARSE_SLOT_SECONDS;
  const oldestCoarse = coarseKey(nowSec) - coarseCapacity + 1;
  const coarseFrom = Math.max(coarseKey(fromSec), oldestCoarse);
  const coarseTo = Math.max(coarseFrom, boundary / COARSE_SLOT_SECONDS);
  return { coarseFrom, coarseTo, fineFrom: boundary, fineTo: nowSec };
}

export function planHasFine(plan: WindowPlan, sec: number): boolean {
  return sec >= plan.fineFrom && sec <= plan.fineTo;
}

export function planHasCoarse(plan: WindowPlan, key: number): boolean {
  return key >= plan.coarseFrom && key < plan.coarseTo;
}
