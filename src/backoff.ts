/**
 * Retry delays for everything that reconnects (collector -> scaler streams, Kubernetes list
 * and watch): an exponential ceiling, then jitter. Pure functions plus a tiny attempt
 * counter; the timers live with the callers.
 */
export interface BackoffOptions {
  /** Ceiling of the first retry delay. */
  readonly initialMs: number;
  /** The ceiling never exceeds this. */
  readonly maxMs: number;
  /** Growth of the ceiling per attempt. Default 2. */
  readonly multiplier?: number;
  /**
   * "full" (the default): uniform in [0, ceiling], which spreads many clients that lost the
   * same server. A number j in 0..1: the ceiling times a factor in [1 - j, 1 + j].
   */
  readonly jitter?: 'full' | number;
}

/** Upper bound of the delay before retry number `attempt` (0-based). */
export function backoffCeilingMs(attempt: number, options: BackoffOptions): number {
  const exponent = Math.max(0, Math.floor(attempt));
  // Capping the exponent keeps multiplier ** exponent finite for absurd attempt counts.
  const grown = options.initialMs * (options.multiplier ?? 2) ** Math.min(exponent, 64);
  return Math.min(options.maxMs, grown);
}

/** The jittered delay before retry number `attempt`. `random` returns [0, 1) like Math.random. */
export function jitteredDelayMs(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const ceiling = backoffCeilingMs(attempt, options);
  const r = Math.min(Math.max(random(), 0), 1);
  const jitter = options.jitter ?? 'full';
  if (jitter === 'full') return Math.round(r * ceiling);
  return Math.max(0, Math.round(ceiling * (1 + jitter * (2 * r - 1))));
}

/** Counts consecutive failures; `reset()` after a connection proved stable. */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly options: BackoffOptions,
    private readonly random: () => number = Math.random,
  ) {}

  /** Delay before the next attempt; advances the attempt counter. */
  nextDelayMs(): number {
    const delay = jitteredDelayMs(this.attempt, this.options, this.random);
    this.attempt++;
    return delay;
  }

  get attempts(): number {
    return this.attempt;
  }

  reset(): void {
    this.attempt = 0;
  }
}
