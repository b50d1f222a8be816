/**
 * Every bound of the scaler in one place, each with its reason.
 */

/** Seconds of history kept per target: the longest `window`/`activationWindow` accepted (10 min). */
export const MAX_HISTORY_SECONDS = 600;

/** Shortest window: slots are one second wide, so nothing finer can be answered. */
export const MIN_WINDOW_MS = 1000;

/** Longest window: the ring buffer holds MAX_HISTORY_SECONDS slots. */
export const MAX_WINDOW_MS = MAX_HISTORY_SECONDS * 1000;

/**
 * Default max targets per scaler process. What each costs is bounded by the slot formula
 * below (docs/security.md, "Memory and limits"), and all of them together by
 * DEFAULT_MAX_HISTOGRAM_BYTES.
 */
export const DEFAULT_MAX_TARGETS = 1000;

/** Default time a target nobody asked about (no RPC, no open stream) is kept. */
export const DEFAULT_TARGET_IDLE_EXPIRY_MS = 15 * 60_000;

/** Ports / demand addresses per trigger: a Service rarely has more, and the BPF watch maps are small. */
export const MAX_PORTS_PER_TRIGGER = 64;
export const MAX_DEMAND_ADDRESSES_PER_TRIGGER = 64;

/** KEDA's minimum target value (it rejects smaller ones). */
export const MIN_TARGET_VALUE = 0.001;

/**
 * Largest target value: a billion ms, req/s or concurrent requests per replica is already no
 * target; larger ones only overflow KEDA's int64 targetSize (1e308 became 9.2e18).
 */
export const MAX_TARGET_VALUE = 1e9;

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
 * How far below a collector's last sequence a report may be and still count as a resend
 * (duplicate); further below, the numbering restarted. Collectors keep ~120 reports for
 * resending, so 10k is generous, and it keeps one corrupt sequence (2^53-1) from wedging.
 */
export const MAX_SEQUENCE_STEP = 10_000;

/**
 * One-second slots kept per target at most: the default activationWindow (60 s) plus the
 * second being filled and one of slack. Longer windows read coarse slots for the part older
 * than this, so a 10-minute window costs 62 + 62 slots instead of 600.
 */
export const MAX_FINE_SLOTS = 62;

/**
 * Running window histograms (window-aggregate.ts) kept per target: one per distinct window a
 * latency query reads (a latency trigger reads two: its window and the newest 5 s). More
 * distinct windows on one target than this still answer right, by rebuilding the least
 * recently read sum. Each holds at most BUCKET_COUNT buckets (~4.3 KB).
 */
export const MAX_AGGREGATES_PER_TARGET = 4;

/** A running window histogram nobody read for this long is dropped at the next sweep. */
export const AGGREGATE_IDLE_MS = 120_000;

/** Width of the coarse slots that hold history older than MAX_FINE_SLOTS seconds. */
export const COARSE_SLOT_SECONDS = 10;

/**
 * Default budget for histogram buckets over all targets and slots (--max-histogram-memory).
 * The worst case of 1000 targets x 62 slots x 384 full buckets is ~240 MB, more than the
 * scaler's 256 MiB container limit leaves: past this budget, new buckets are dropped (and
 * counted) while counters keep working. Real traffic fills a few dozen buckets per second.
 */
export const DEFAULT_MAX_HISTOGRAM_BYTES = 128 * 1024 * 1024;

/** Fixed cost of one slot object (counters, times; doubles are boxed), without its histogram. */
export const SLOT_BYTES = 200;

/**
 * Default targets one ScaledObject (namespace/name) may hold (--max-targets-per-scaledobject):
 * far above the triggers a ScaledObject has, low enough that one cannot fill the table.
 */
export const DEFAULT_MAX_TARGETS_PER_SCALEDOBJECT = 32;

/**
 * When the table is full, a target nobody asked about for this long may give its place to a
 * new one: four KEDA polling intervals at the default 30 s, far below the idle expiry.
 */
export const MIN_IDLE_BEFORE_EVICTION_MS = 120_000;

/**
 * Default largest collector message the scaler decodes (--max-report-bytes). Decoding costs
 * ~50-200 ms per MB on one core, all of it blocking KEDA's calls: 256 KiB keeps one decode
 * under ~50 ms. Collectors split reports into parts of REPORT_PART_BYTES, so real reports
 * never come near it (a 1M-entry bucket array, attack 9, is refused before decoding).
 */
export const DEFAULT_MAX_REPORT_BYTES = 256 * 1024;

/**
 * holdAtZero bounds. Below a second nothing is gained (the client's first SYN retry comes
 * after 1 s); above 2 minutes the client's TCP has given up by itself (tcp_syn_retries 6:
 * about 127 s with the classic schedule), so a longer hold would only hide refusals.
 */
export const MIN_HOLD_AT_ZERO_MS = 1000;
export const MAX_HOLD_AT_ZERO_MS = 120_000;
