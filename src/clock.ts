/**
 * The scaler's time base: unix-ms-like numbers from a monotonic source. Anchored to the wall
 * clock once at process start, then advanced by the monotonic clock only, so a wall clock
 * stepped by NTP or an operator (+-minutes) moves nothing inside the scaler: windows keep
 * their slots, reports are not "late", activity does not age out early.
 */
export const monotonicClock = (): number => performance.timeOrigin + performance.now();

/** Milliseconds on this process's monotonic clock since it started (what collectors send as offsets). */
export const monotonicMs = (): number => Math.round(performance.now());
