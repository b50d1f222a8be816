/** Small statistics helpers for benchmark figures (raw samples, no histogram). */

/** Nearest-rank quantile of raw values; NaN for an empty list. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Rounds to `digits` decimals (figures in JSON stay readable). */
export function round(value: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Percentile-bootstrap confidence interval of the median: resamples the values with
 * replacement `resamples` times (a fixed-seed generator, so a run's figures can be
 * recomputed) and takes the (1-confidence)/2 tails of the resampled medians. Robust to
 * the odd round another process disturbed, unlike a t-interval on the mean.
 */
export function bootstrapMedianCi(values: readonly number[], confidence = 0.95, resamples = 10_000, seed = 1): { low: number; high: number } {
  if (values.length === 0) return { low: Number.NaN, high: Number.NaN };
  let state = seed >>> 0 || 1;
  const next = (): number => {
    // xorshift32: enough randomness for resampling indices
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 2 ** 32;
  };
  const medians = new Float64Array(resamples);
  const sample = new Array<number>(values.length);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < values.length; i++) sample[i] = values[Math.floor(next() * values.length)]!;
    medians[r] = median(sample);
  }
  medians.sort();
  const tail = (1 - confidence) / 2;
  return { low: medians[Math.floor(tail * resamples)]!, high: medians[Math.min(resamples - 1, Math.ceil((1 - tail) * resamples) - 1)]! };
}
