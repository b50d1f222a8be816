/** Exponential backoff with jitter for re-listing and re-watching the API server. */
export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  /** Relative jitter, 0..1: each delay is multiplied by a factor in [1 - jitter, 1 + jitter]. */
  readonly jitter: number;
}

// Client-go's reflector uses 800 ms .. 30 s; start a little lower so a restarted API
// server is picked up quickly, and cap at 30 s so an RBAC fix is noticed within a minute.
export const defaultBackoff: BackoffOptions = { initialMs: 250, maxMs: 30_000, jitter: 0.2 };

export class Backoff {
  private attempt = 0;
  constructor(
    private readonly options: BackoffOptions = defaultBackoff,
    private readonly random: () => number = Math.random,
  ) {}

  /** The delay before the next attempt; each call doubles it up to maxMs. */
  next(): number {
    const base = Math.min(this.options.maxMs, this.options.initialMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    const factor = 1 + this.options.jitter * (2 * this.random() - 1);
    return Math.max(0, Math.round(base * factor));
  }

  reset(): void {
    this.attempt = 0;
  }
}

/** A sleep that stop() cuts short (so closing a watcher never waits out a backoff). */
export class InterruptibleSleep {
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.wake = undefined;
        resolve();
      }, ms);
      // A backoff alone must not keep the process alive.
      this.timer.unref();
    });
  }

  interrupt(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
