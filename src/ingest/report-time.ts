/**
 * Where on the scaler's clock a report's interval ended. Collectors send the end on their own
 * monotonic clock (Report.end_monotonic_ms) and, in Hello, that clock's reading when they
 * connected (Hello.monotonic_ms); the scaler anchors the two at Hello, so report times are
 * offsets within the stream and neither side's wall clock matters: a collector whose wall
 * clock is minutes off, or a scaler whose wall clock steps, loses nothing.
 *
 * A collector that sends no monotonic times (older builds) is placed by its wall clock when
 * that agrees with ours within SKEW_TOLERANCE_MS; otherwise at arrival, and counted and
 * logged as skewed (corrected loudly, never dropped silently).
 */

/** Wall-clock disagreement tolerated for collectors without monotonic times. */
export const SKEW_TOLERANCE_MS = 5000;

export interface ReportTimeInput {
  readonly end_unix_ms: number;
  readonly end_monotonic_ms?: number;
}

export type Placement = { readonly atMs: number; readonly skewMs?: number };

export class StreamClock {
  /** Scaler time minus collector monotonic time, fixed at Hello. */
  private readonly offset: number | undefined;

  /**
   * @param helloMonotonicMs the collector's Hello.monotonic_ms (0: absent)
   * @param nowAtHello the scaler's clock when Hello arrived
   */
  constructor(helloMonotonicMs: number, nowAtHello: number) {
    this.offset = helloMonotonicMs > 0 ? nowAtHello - helloMonotonicMs : undefined;
  }

  /**
   * @param now the scaler's (monotonic) clock
   * @param wallNow the scaler's wall clock, only for collectors without monotonic times
   */
  place(report: ReportTimeInput, now: number, wallNow: number): Placement {
    const mono = report.end_monotonic_ms ?? 0;
    if (this.offset !== undefined && mono > 0) return { atMs: Math.min(now, this.offset + mono) };
    if (report.end_unix_ms <= 0) return { atMs: now };
    const skew = report.end_unix_ms - wallNow;
    if (Math.abs(skew) <= SKEW_TOLERANCE_MS) return { atMs: Math.min(now, now + skew) };
    return { atMs: now, skewMs: skew };
  }
}
