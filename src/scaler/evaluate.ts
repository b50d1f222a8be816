import type { TriggerConfig } from './metadata.js';
import type { WindowStore, WindowSums } from './window-store.js';

/**
 * One evaluation answers every RPC and stream of a trigger (IsActive is computed from the
 * same data as GetMetrics: one source of truth).
 */
export interface Evaluation {
  /** The metric value: ms (latency), req/s (rps) or requests in flight (concurrency); finite, >= 0. */
  readonly value: number;
  readonly active: boolean;
  /** When `active` will change by itself (activity ageing out, a gauge going stale), if it will. */
  readonly nextChangeMs?: number;
  /** Requests + demand attempts inside activationWindow. */
  readonly activity: number;
  readonly inFlight: number;
}

/** Never hand KEDA a negative, NaN or infinite number. */
export function safeValue(x: number): number {
  return Number.isFinite(x) && x > 0 ? x : 0;
}

/** The newest part of the window a latency quantile also looks at (see latencyMs). */
export const RECENT_LATENCY_MS = 5000;
/** Samples beyond the quantile the recent part needs before it counts (fewer is noise). */
export const RECENT_MIN_TAIL_SAMPLES = 5;

/**
 * The latency metric: the larger of the quantile over the whole window and the quantile
 * over its newest RECENT_LATENCY_MS. A p95 over 30 s cannot move before 5 % of the window
 * (1.5 s) holds new samples; the newest 5 s need 0.25 s. So a latency step reaches the HPA
 * within a second, while the way down stays as smooth as the window says (the recent part
 * only ever raises the value, and only while it is worse). The recent part counts once it
 * holds RECENT_MIN_TAIL_SAMPLES beyond the quantile (100 samples for p95), so a quiet
 * target's few requests never make it jumpy.
 */
function latencyMs(store: WindowStore, targetId: string, trigger: TriggerConfig, now: number, whole: WindowSums): number {
  const wholeMs = whole.histogram && whole.histogram.total > 0 ? whole.histogram.quantileUs(trigger.quantile) / 1000 : 0;
  if (trigger.windowMs <= RECENT_LATENCY_MS) return wholeMs;
  const recent = store.query(targetId, now, RECENT_LATENCY_MS, true)?.histogram;
  if (!recent || recent.total * (1 - trigger.quantile) < RECENT_MIN_TAIL_SAMPLES) return wholeMs;
  return Math.max(wholeMs, recent.quantileUs(trigger.quantile) / 1000);
}

/**
 * - latency: the trigger's quantile of the window's merged histogram, in ms, or of its
 *   newest 5 s when that is higher (latencyMs); 0 when empty.
 * - rps: (completed requests + refused demand attempts + connection attempts the target's
 *   listeners dropped with a full accept queue) / seconds: demand the target did not serve
 *   counts, so an overloaded server asks for more replicas instead of looking fast.
 * - concurrency: sum of latencies / seconds (Little's law).
 * "seconds" is the time the window's collector intervals actually span (the window, or
 * less right after a scaler start, a new trigger or a collector outage), so rates are right
 * from the first report instead of ramping up over a whole window, and never read low
 * while the current second is still filling.
 * - active: activity (requests + demand attempts) within activationWindow >=
 *   activationRequests, or any request in flight now.
 */
export function evaluate(store: WindowStore, targetId: string, trigger: TriggerConfig, now: number): Evaluation {
  const sums = store.query(targetId, now, trigger.windowMs, trigger.metric === 'latency');
  let value = 0;
  if (sums) {
    switch (trigger.metric) {
      case 'latency':
        value = latencyMs(store, targetId, trigger, now, sums);
        break;
      case 'rps':
        value = (sums.requests + sums.demandRefused + sums.listenDrops) / sums.coveredSeconds;
        break;
      case 'concurrency':
        value = sums.latencySumUs / 1e6 / sums.coveredSeconds;
        break;
    }
  }
  return { value: safeValue(value), ...evaluateActivity(store, targetId, trigger, now) };
}

/** What activation depends on: two keys of the trigger. */
export type ActivationConfig = Pick<TriggerConfig, 'activationRequests' | 'activationWindowMs'>;

/**
 * The activation half of evaluate(): counters only, no histogram merge, so IsActive and
 * StreamIsActive stay cheap however long the metric window is.
 */
export function evaluateActivity(store: WindowStore, targetId: string, trigger: ActivationConfig, now: number): Omit<Evaluation, 'value'> {
  const slots = store.activity(targetId, now, trigger.activationWindowMs);
  const activity = slots.reduce((sum, s) => sum + s.count, 0);
  const gauge = store.inFlight(targetId, now);
  const byActivity = activity >= trigger.activationRequests;
  const active = byActivity || gauge.value > 0;

  // When does `active` flip without new data? Slots leave the activation window in order of
  // untilMs; find the first departure that takes activity below the threshold. A stale
  // gauge can also end activity.
  let activityEndsMs: number | undefined;
  if (byActivity) {
    let remaining = activity;
    for (const s of slots.sort((a, b) => a.untilMs - b.untilMs)) {
      remaining -= s.count;
      if (remaining < trigger.activationRequests) {
        activityEndsMs = s.untilMs;
        break;
      }
    }
  }
  let nextChangeMs: number | undefined;
  if (active) {
    const ends = [byActivity ? activityEndsMs : now, gauge.value > 0 ? gauge.staleAtMs : now];
    // Active ends when both reasons have ended; a reason that does not hold ends "now".
    const finite = ends.filter((x): x is number => x !== undefined);
    nextChangeMs = finite.length === ends.length ? Math.max(...finite) : undefined;
  }
  return {
    active,
    activity,
    inFlight: gauge.value,
    ...(nextChangeMs !== undefined ? { nextChangeMs } : {}),
  };
}
