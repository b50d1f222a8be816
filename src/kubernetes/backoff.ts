import type { BackoffOptions } from '../backoff.js';

// Client-go's reflector uses 800 ms .. 30 s; start a little lower so a restarted API
// server is picked up quickly, and cap at 30 s so an RBAC fix is noticed within a minute.
export const defaultBackoff: BackoffOptions = { initialMs: 250, maxMs: 30_000, jitter: 0.2 };

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
