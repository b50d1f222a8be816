import type { ClientWindowStats } from './load-generator.js';

/**
 * The demo's seam: where the figures the scaler would hand KEDA come from. The real demo
 * implements it with the scaler's IsActive/GetMetrics for the target described by
 * DemoTarget; tests implement it from the load generator's own figures.
 */
export interface MetricsSample {
  /** KEDA IsActive for the target. */
  readonly active: boolean;
  /** `rps` metric: completed requests/s over the window plus refused demand. */
  readonly rps: number;
  /** `latency` metric at quantiles 0.5 / 0.95 / 0.99, in milliseconds. */
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  /** `concurrency` metric: sum of latencies / window. */
  readonly concurrency: number;
}

export type DemoMetricName = 'latency' | 'rps' | 'concurrency';

/** What the demo observes, handed to the metrics source before any traffic. */
export interface DemoTarget {
  readonly host: string;
  /** The sample server's port (also the demand address: the demo's clients dial it). */
  readonly port: number;
  /** `host:port`, for the `demandAddress` metadata key. */
  readonly demandAddress: string;
  /** Aggregation window the demo was planned around (metadata `window`). */
  readonly windowMs: number;
  /** Metadata `activationWindow`: inactivity needed before IsActive turns false. */
  readonly activationWindowMs: number;
  /**
   * Trigger metadata a ScaledObject would carry, one map per query the demo needs
   * (the three latency quantiles are three triggers differing only in `quantile`).
   */
  readonly triggerMetadata: Readonly<Record<'latencyP50' | 'latencyP95' | 'latencyP99' | 'rps' | 'concurrency', Readonly<Record<string, string>>>>;
  /** The load generator's own figures over a window (for comparison or test doubles). */
  readonly clientStats: (nowMs: number, windowMs: number) => ClientWindowStats;
  /** The clock every timestamp in the demo uses (ms). */
  readonly clock: () => number;
}

/**
 * Wiring with the real scaler (standalone mode): in prepare(), keep `target`; in sample(),
 * call IsActive with `triggerMetadata.rps` and GetMetrics once per map (metric names
 * `latency` x3 quantiles, `rps`, `concurrency`), and return the five values. Sampling is
 * every 500 ms (100 ms while waiting for activation); a sample slower than 2 s counts as a
 * failure and is shown as such. A StreamIsActive subscription opened in prepare() may
 * answer `active` instead of IsActive, for a sharper activation time.
 */
export interface MetricsSource {
  /** Called once with the target before any traffic (register it with the scaler here). */
  prepare?(target: DemoTarget): Promise<void>;
  sample(nowMs: number): Promise<MetricsSample>;
  close?(): Promise<void>;
}
