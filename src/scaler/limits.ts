/**
 * Every bound of the scaler in one place, each with its reason.
 */

/** Seconds of history kept per target: the longest `window`/`activationWindow` accepted (10 min). */
export const MAX_HISTORY_SECONDS = 600;

/** Shortest window: slots are one second wide, so nothing finer can be answered. */
export const MIN_WINDOW_MS = 1000;

/** Longest window: the ring buffer holds MAX_HISTORY_SECONDS slots. */
export const MAX_WINDOW_MS = MAX_HISTORY_SECONDS * 1000;

/** Default max targets per scaler process; each costs at most a few hundred KB of slots. */
export const DEFAULT_MAX_TARGETS = 1000;

/** Default time a target nobody asked about (no RPC, no open stream) is kept. */
export const DEFAULT_TARGET_IDLE_EXPIRY_MS = 15 * 60_000;

/** Ports / demand addresses per trigger: a Service rarely has more, and the BPF watch maps are small. */
export const MAX_PORTS_PER_TRIGGER = 64;
export const MAX_DEMAND_ADDRESSES_PER_TRIGGER = 64;

/** KEDA's minimum target value (it rejects smaller ones). */
export const MIN_TARGET_VALUE = 0.001;

/** A report interval longer than this is not a tick but a bug (or a clock jump). */
export const MAX_REPORT_INTERVAL_MS = 3_600_000;

/** Per-interval counter ceiling: 1e9 requests in one report is garbage, not load. */
export const MAX_COUNT_PER_REPORT = 1e9;

/** An in-flight gauge older than this no longer counts (its collector went silent). */
export const IN_FLIGHT_STALE_MS = 5000;

/** Collector ids remembered for Welcome.last_sequence (LRU); a node restart adds one. */
export const MAX_REMEMBERED_COLLECTORS = 4096;

/** Ids kept in the "recently refused/expired" lists of the stats object. */
export const RECENT_IDS_KEPT = 32;

/**
 * holdAtZero bounds. Below a second nothing is gained (the client's first SYN retry comes
 * after 1 s); above 2 minutes the client's TCP has given up by itself (tcp_syn_retries 6:
 * about 127 s with the classic schedule), so a longer hold would only hide refusals.
 */
export const MIN_HOLD_AT_ZERO_MS = 1000;
export const MAX_HOLD_AT_ZERO_MS = 120_000;
