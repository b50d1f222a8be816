import { z } from 'zod';
import { assertLoopback } from './load-generator.js';
import type { DemoTarget } from './types.js';

/**
 * Everything about the demo a user or a test may change, with its default. The CLI maps
 * its flags onto this; tests shrink time with `timeScale`.
 */
export const DemoOptions = z
  .object({
    /** Loopback address the sample server binds and the load generator dials. */
    host: z
      .string()
      .default('127.0.0.1')
      .refine(
        (h) => {
          try {
            assertLoopback(h);
            return true;
          } catch {
            return false;
          }
        },
        { message: 'must be a loopback IP literal (127.0.0.0/8 or ::1)' },
      ),
    /** Sample server port; 0 = pick a free one before the demo starts. */
    serverPort: z.number().int().min(0).max(65535).default(0),
    /** CI variant: the whole demo in under a minute. */
    short: z.boolean().default(false),
    /**
     * Start the sample server only when the target turns active (KEDA's 0 -> 1), so the
     * first request finds nothing listening and is counted as demand (refused connection),
     * and stop it again when the target scales back to zero.
     */
    lazyServer: z.boolean().default(true),
    /**
     * Trigger metadata `holdAtZero` (0 = off): the first request, sent while the target is at
     * zero, is held in the kernel and answered once the lazily started server listens (after
     * the client's SYN retry) instead of being refused.
     */
    holdAtZeroMs: z.number().int().min(0).max(120_000).default(0),
    workers: z.number().int().min(1).max(256).default(4),
    serviceTimeMs: z.number().min(1).max(1_000).default(10),
    latencyQuantile: z.enum(['p50', 'p95', 'p99']).default('p95'),
    latencyTargetMs: z.number().min(0.001).default(50),
    rpsTarget: z.number().min(0.001).default(100),
    concurrencyTarget: z.number().min(0.001).default(4),
    minReplicas: z.number().int().min(1).default(1),
    maxReplicas: z.number().int().min(1).default(10),
    tolerance: z.number().min(0).max(1).default(0.1),
    /** KEDA cooldownPeriod; 0 so the demo shows scale-to-zero without a five-minute wait. */
    cooldownMs: z.number().min(0).default(0),
    sampleIntervalMs: z.number().int().min(10).max(10_000).default(500),
    /** Faster sampling while waiting for activation, for a finer activation timing. */
    activationSampleIntervalMs: z.number().int().min(10).max(10_000).default(100),
    /** Metric window (metadata `window`); default 5 s short, 10 s normal. */
    windowMs: z.number().int().min(100).optional(),
    /** Metadata `activationWindow`; default equal to the window. */
    activationWindowMs: z.number().int().min(100).optional(),
    /** Keep sampling this long after the return to inactive, then end. */
    lingerMs: z.number().int().min(0).default(1_000),
    /** Plain mode: one line per this many ms. */
    plainLineEveryMs: z.number().int().min(10).default(1_000),
    /** Shrinks every phase and the default windows (tests); rates are unchanged. */
    timeScale: z.number().min(0.01).max(1).default(1),
    maxSockets: z.number().int().min(1).max(1_024).default(64),
    maxOutstanding: z.number().int().min(1).max(100_000).default(256),
  })
  .superRefine((o, ctx) => {
    if (o.minReplicas > o.maxReplicas) {
      ctx.addIssue({ code: 'custom', path: ['maxReplicas'], message: 'must be >= minReplicas' });
    }
  });

export type DemoOptionsInput = z.input<typeof DemoOptions>;
export type DemoOptionsParsed = z.infer<typeof DemoOptions>;

export function windowsOf(o: DemoOptionsParsed): { windowMs: number; activationWindowMs: number } {
  const windowMs = o.windowMs ?? Math.round((o.short ? 5_000 : 10_000) * o.timeScale);
  return { windowMs, activationWindowMs: o.activationWindowMs ?? windowMs };
}

function duration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${Math.max(1, Math.round(ms / 1000))}s`;
}

const QUANTILES = { p50: '0.5', p95: '0.95', p99: '0.99' } as const;

/** Standalone-mode trigger metadata for the demo's target, one map per query. */
export function demoTriggerMetadata(
  o: DemoOptionsParsed,
  port: number,
): DemoTarget['triggerMetadata'] {
  const { windowMs, activationWindowMs } = windowsOf(o);
  const common = {
    port: String(port),
    demandAddress: `${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}`,
    window: duration(windowMs),
    activationWindow: duration(activationWindowMs),
    activationRequests: '1',
    ...(o.holdAtZeroMs > 0 ? { holdAtZero: `${o.holdAtZeroMs}ms` } : {}),
  };
  const latency = (q: keyof typeof QUANTILES): Record<string, string> => ({
    ...common,
    metric: 'latency',
    quantile: QUANTILES[q],
    targetValue: String(o.latencyTargetMs),
  });
  return {
    latencyP50: latency('p50'),
    latencyP95: latency('p95'),
    latencyP99: latency('p99'),
    rps: { ...common, metric: 'rps', targetValue: String(o.rpsTarget) },
    concurrency: { ...common, metric: 'concurrency', targetValue: String(o.concurrencyTarget) },
  };
}
