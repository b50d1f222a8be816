import { setNewest } from './bounded-map.js';

/**
 * At most one log line per key per interval; the lines in between are counted and the count
 * rides on the next line that goes out. A flood of refusals (attack 8: 1000 calls in one
 * second) writes a handful of lines, not a thousand.
 */
export class LogThrottle {
  private readonly last = new Map<string, { atMs: number; suppressed: number }>();
  private suppressedCount = 0;

  constructor(
    private readonly intervalMs: number,
    /** Keys remembered at most (oldest forgotten first), so the throttle itself stays bounded. */
    private readonly maxKeys = 256,
  ) {}

  /** Lines suppressed so far, over all keys. */
  get suppressedTotal(): number {
    return this.suppressedCount;
  }

  /**
   * Whether a line for `key` may go out at `now`; when it may, `suppressed` says how many
   * were held back since the previous one.
   */
  allow(key: string, now: number): { readonly emit: boolean; readonly suppressed: number } {
    const entry = this.last.get(key);
    if (entry && now - entry.atMs < this.intervalMs) {
      entry.suppressed++;
      this.suppressedCount++;
      return { emit: false, suppressed: 0 };
    }
    const suppressed = entry?.suppressed ?? 0;
    setNewest(this.last, key, { atMs: now, suppressed: 0 }, this.maxKeys);
    return { emit: true, suppressed };
  }
}
