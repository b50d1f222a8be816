import type { z } from 'zod';
import type { targetDeltaSchema } from './schema.js';

/**
 * What an authenticated collector may plausibly claim for one target in one report. The
 * schema bounds each number on its own (a count fits, an index is a bucket); these bounds
 * tie them to the report's interval, so one node cannot claim a billion requests in a
 * second and wake or scale every workload on its own.
 */
export interface PlausibilityLimits {
  /** Most requests (and accepted connections, demand attempts) per second one collector may report for one target. */
  readonly maxRatePerSecond: number;
  /** Most requests in flight one collector may report for one target. */
  readonly maxInFlight: number;
}

/** 1M req/s on one node for one workload is far beyond what a node's TCP stack serves; more is a lie or a bug. */
export const DEFAULT_MAX_RATE_PER_SECOND = 1_000_000;
/** In-flight requests are bounded by open connections; a node rarely holds 100k for one workload. */
export const DEFAULT_MAX_IN_FLIGHT = 100_000;

export const DEFAULT_PLAUSIBILITY: PlausibilityLimits = { maxRatePerSecond: DEFAULT_MAX_RATE_PER_SECOND, maxInFlight: DEFAULT_MAX_IN_FLIGHT };

type Delta = z.output<typeof targetDeltaSchema>;

/** A count over the ceiling, as implausibility() reports it; undefined otherwise (no allocation: checked 50,000 times a second at scale). */
function rateOver(field: string, value: number, ceiling: number, intervalMs: number, limits: PlausibilityLimits): [string, string] | undefined {
  return value > ceiling ? ['implausible-rate', `${field} ${value} in ${intervalMs} ms exceeds the ceiling of ${limits.maxRatePerSecond}/s (--ingest-max-rate)`] : undefined;
}

/** Undefined when plausible; otherwise [counter reason, one-sentence problem]. */
export function implausibility(d: Delta, intervalMs: number, limits: PlausibilityLimits): [string, string] | undefined {
  // A tick may run late; allow the ceiling over at least one second.
  const ceiling = Math.ceil((limits.maxRatePerSecond * Math.max(intervalMs, 1000)) / 1000);
  let bucketed = 0;
  for (const c of d.bucket_count) bucketed += c;
  const rate =
    rateOver('requests', d.requests, ceiling, intervalMs, limits) ??
    rateOver('bucket_count', bucketed, ceiling, intervalMs, limits) ??
    rateOver('accepted_connections', d.accepted_connections, ceiling, intervalMs, limits) ??
    rateOver('demand_attempts', d.demand_attempts, ceiling, intervalMs, limits);
  if (rate !== undefined) return rate;
  if (d.in_flight > limits.maxInFlight) {
    return ['implausible-in-flight', `in_flight ${d.in_flight} exceeds ${limits.maxInFlight} (--ingest-max-in-flight)`];
  }
  return undefined;
}
