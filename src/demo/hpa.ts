/**
 * The replica count the HPA (plus KEDA's 0 <-> 1 step) would pick for one metric, as a pure
 * function so the demo can show the arithmetic and tests can check it with plain numbers.
 *
 * Mirrors the external-metric paths of the Kubernetes replica calculator:
 * - metricType Value (latency): usageRatio = value / target and, outside the tolerance,
 *   desired = ceil(currentReplicas x value / target).
 * - metricType AverageValue (rps, concurrency): the external metric is a total;
 *   usageRatio = total / (target x currentReplicas) and, outside the tolerance,
 *   desired = ceil(total / target).
 * KEDA owns 0 <-> 1: an active target at zero replicas goes to one; an inactive target
 * goes to zero once it has been inactive for the cooldown period.
 */

export type MetricType = 'Value' | 'AverageValue';

/** The HPA's default tolerance (--horizontal-pod-autoscaler-tolerance). */
export const DEFAULT_TOLERANCE = 0.1;

export interface HpaInput {
  readonly metricType: MetricType;
  /** Replicas running now (0 = scaled to zero by KEDA). */
  readonly currentReplicas: number;
  /** The value the scaler returns: a quantile for Value, a total for AverageValue. */
  readonly metricValue: number;
  /** targetValue (Value) or targetAverageValue (AverageValue); must be > 0. */
  readonly target: number;
  /** HPA minReplicas (>= 1: zero is KEDA's business, not the HPA's). */
  readonly minReplicas: number;
  readonly maxReplicas: number;
  readonly tolerance?: number;
  /** KEDA IsActive. */
  readonly active: boolean;
  /** How long the target has been inactive (0 when active). */
  readonly inactiveForMs: number;
  /** KEDA cooldownPeriod in ms. */
  readonly cooldownMs: number;
  /** Unit shown in the formula text, e.g. "ms" or "rps". */
  readonly unit?: string;
}

export type HpaReason =
  | 'stay-at-zero'
  | 'scale-to-zero'
  | 'activate'
  | 'within-tolerance'
  | 'formula'
  | 'clamped-min'
  | 'clamped-max';

export interface HpaDecision {
  readonly replicas: number;
  /** usageRatio as the HPA computes it (NaN when the HPA did not run). */
  readonly ratio: number;
  readonly reason: HpaReason;
  /** The formula with the numbers filled in, for the view. */
  readonly formula: string;
}

function fmt(n: number): string {
  if (!Number.isFinite(n) || Number.isInteger(n)) return String(n);
  const abs = Math.abs(n);
  if (abs >= 100) return n.toFixed(0);
  if (abs >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

export function hpaDesiredReplicas(input: HpaInput): HpaDecision {
  const tolerance = input.tolerance ?? DEFAULT_TOLERANCE;
  const minReplicas = Math.max(1, Math.floor(input.minReplicas));
  const maxReplicas = Math.max(minReplicas, Math.floor(input.maxReplicas));
  const current = Math.max(0, Math.floor(input.currentReplicas));
  // A non-finite or negative value never reaches the HPA from this scaler; treat it as 0.
  const value = Number.isFinite(input.metricValue) && input.metricValue > 0 ? input.metricValue : 0;
  const target = input.target;
  if (!(target > 0)) throw new RangeError(`target must be > 0, got ${target}`);
  const unit = input.unit ? ` ${input.unit}` : '';

  if (!input.active) {
    if (current === 0) {
      return { replicas: 0, ratio: Number.NaN, reason: 'stay-at-zero', formula: 'inactive at 0 replicas -> stay at 0 (KEDA)' };
    }
    if (input.inactiveForMs >= input.cooldownMs) {
      return {
        replicas: 0,
        ratio: Number.NaN,
        reason: 'scale-to-zero',
        formula: `inactive ${fmt(input.inactiveForMs / 1000)} s >= cooldown ${fmt(input.cooldownMs / 1000)} s -> 0 (KEDA)`,
      };
    }
    // Inside the cooldown the HPA keeps running on the last values: fall through.
  } else if (current === 0) {
    return {
      replicas: Math.max(1, minReplicas),
      ratio: Number.NaN,
      reason: 'activate',
      formula: `active at 0 replicas -> ${Math.max(1, minReplicas)} (KEDA)`,
    };
  }

  const ratio = input.metricType === 'Value' ? value / target : value / (target * current);
  const shownRatio = `ratio ${fmt(ratio)}`;
  if (Math.abs(ratio - 1) <= tolerance) {
    return {
      replicas: current,
      ratio,
      reason: 'within-tolerance',
      formula: `|${shownRatio} - 1| <= ${fmt(tolerance)} -> stay at ${current}`,
    };
  }
  const exact = input.metricType === 'Value' ? (current * value) / target : value / target;
  // Guard against 2.0000000001 becoming 3 through float noise.
  const raw = Math.ceil(exact - 1e-9);
  const expression =
    input.metricType === 'Value'
      ? `ceil(${current} x ${fmt(value)}${unit} / ${fmt(target)}${unit})`
      : `ceil(${fmt(value)}${unit} / ${fmt(target)}${unit})`;
  let replicas = raw;
  let reason: HpaReason = 'formula';
  let clampNote = '';
  if (replicas < minReplicas) {
    replicas = minReplicas;
    reason = 'clamped-min';
    clampNote = ` -> min ${minReplicas}`;
  } else if (replicas > maxReplicas) {
    replicas = maxReplicas;
    reason = 'clamped-max';
    clampNote = ` -> max ${maxReplicas}`;
  }
  return { replicas, ratio, reason, formula: `${expression} = ceil(${fmt(exact)}) = ${raw}${clampNote}` };
}
