/**
 * Reconnect delays: exponential growth with "full jitter" (a uniform draw between 0 and the
 * exponential ceiling), so a scaler restart is not met by every collector of the cluster
 * reconnecting in the same millisecond. Pure functions plus a tiny attempt counter; the
 * timer lives in the connection.
 */
export interface BackoffOptions {
  /** Ceiling of the first retry delay. */
  readonly initialMs: number;
  /** Ceiling never exceeds this. */
  readonly maxMs: number;
  readonly multiplier: number;
}

/**
 * 100 ms first, capped at 2 s: a restarted scaler is usually back within a second or two,
 * and the end-to-end promise is "metrics resume within 5 s of the scaler being back", so
 * the worst-case wait after it is up must stay well below that. A few hundred collectors
 * reconnecting at <= 1 attempt/s each is no load for a gRPC server.
 */
export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 100, maxMs: 2000, multiplier: 2 };

/** Upper bound of the delay before retry number `attempt` (0-based). */
export function backoffCeilingMs(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF): number {
  const exponent = Math.max(0, Math.floor(attempt));
  // Capping the exponent keeps multiplier ** exponent finite for absurd attempt counts.
  const grown = options.initialMs * options.multiplier ** Math.min(exponent, 64);
  return Math.min(options.maxMs, grown);
}

/** Full jitter: uniform in [0, ceiling]. `random` returns [0, 1) like Math.random. */
export function jitteredDelayMs(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.round(r * backoffCeilingMs(attempt, options));
}

/** Counts consecutive failures; `reset()` after a connection proved stable. */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly options: BackoffOptions = DEFAULT_BACKOFF,
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
