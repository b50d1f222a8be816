/**
 * The log-linear (HDR-style) latency histogram layout shared by the kernel programs
 * (bpf/scaler_abi.h), the collector protocol and the scaler's window store.
 *
 * Values are microseconds. Values below 2 * SUB_BUCKETS get one bucket each (width 1 us);
 * above that every power of two [2^e, 2^(e+1)) is split into SUB_BUCKETS equal parts, so a
 * bucket is never wider than 1/SUB_BUCKETS of its lower bound. The kernel computes the
 * same index with shifts only (no loops, no floating point): keep the two in step, a test
 * (test/bpf/abi.test.ts) checks them against each other.
 */

/** Linear sub-buckets per power of two: relative bucket width <= 1/16 (6.25 %). */
export const SUB_BUCKET_BITS = 4;
export const SUB_BUCKETS = 1 << SUB_BUCKET_BITS;

/**
 * Highest exponent tracked: 2^27 us ~ 134 s, comfortably above the 60 s a request may
 * take before nobody cares about its exact duration. Larger values land in the last bucket.
 */
export const MAX_EXPONENT = 26;

/** Number of buckets: indices 0 .. BUCKET_COUNT - 1. */
export const BUCKET_COUNT = (MAX_EXPONENT - SUB_BUCKET_BITS + 2) * SUB_BUCKETS; // 384

/** Largest value (us) with a bucket of its own; anything above is clamped into the last one. */
export const MAX_TRACKED_US = 2 ** (MAX_EXPONENT + 1) - 1;

/** Bucket index for a value in microseconds (non-integers are floored, negatives are 0). */
export function bucketIndex(valueUs: number): number {
  if (!(valueUs > 0)) return 0;
  const v = Math.min(Math.floor(valueUs), MAX_TRACKED_US);
  if (v < 2 * SUB_BUCKETS) return v;
  const exponent = 31 - Math.clz32(v);
  const shift = exponent - SUB_BUCKET_BITS;
  return (shift + 1) * SUB_BUCKETS + ((v >>> shift) & (SUB_BUCKETS - 1));
}

/** Inclusive lower bound (us) of a bucket. */
export function bucketLowerUs(index: number): number {
  if (index < 2 * SUB_BUCKETS) return index;
  const shift = Math.floor(index / SUB_BUCKETS) - 1;
  return (SUB_BUCKETS + (index % SUB_BUCKETS)) * 2 ** shift;
}

/** Width (us) of a bucket: its values are [lower, lower + width). */
export function bucketWidthUs(index: number): number {
  if (index < 2 * SUB_BUCKETS) return 1;
  return 2 ** (Math.floor(index / SUB_BUCKETS) - 1);
}

export function isValidBucketIndex(index: number): boolean {
  return Number.isInteger(index) && index >= 0 && index < BUCKET_COUNT;
}
