import { BUCKET_COUNT, bucketLowerUs, bucketWidthUs } from '../histogram/layout.js';
import type { Histogram } from '../histogram/histogram.js';

/**
 * A histogram's non-zero buckets, sorted by index, in two typed arrays that grow by doubling
 * up to BUCKET_COUNT entries. Memory follows the data: a slot that saw three latencies costs
 * three entries (plus the arrays' headers), a slot that saw every bucket costs
 * BUCKET_COUNT x ENTRY_BYTES. A Map<number, number> costs ~5x more per entry.
 */

/** Bytes per stored bucket: a Uint16 index and a Float64 count. */
export const ENTRY_BYTES = 2 + 8;

/** Fixed cost of one SparseCounts (the object, two typed arrays and their buffers), measured with --expose-gc (~400-450 B). */
export const SPARSE_OVERHEAD_BYTES = 480;

const INITIAL_CAPACITY = 8;

export class SparseCounts {
  private indices = new Uint16Array(INITIAL_CAPACITY);
  private counts = new Float64Array(INITIAL_CAPACITY);
  private length = 0;

  get size(): number {
    return this.length;
  }

  /** What this object costs, for the store's byte accounting. */
  get bytes(): number {
    return SPARSE_OVERHEAD_BYTES + this.indices.length * ENTRY_BYTES;
  }

  /** Where bucket `index` is or would be inserted (binary search over the sorted indices). */
  private position(index: number): number {
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.indices[mid]! < index) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Adds `count` to bucket `index` (a valid bucket index). */
  add(index: number, count: number): void {
    const lo = this.position(index);
    if (lo < this.length && this.indices[lo] === index) {
      this.counts[lo]! += count;
      return;
    }
    if (this.length === this.indices.length) this.grow();
    this.indices.copyWithin(lo + 1, lo, this.length);
    this.counts.copyWithin(lo + 1, lo, this.length);
    this.indices[lo] = index;
    this.counts[lo] = count;
    this.length++;
  }

  /**
   * Takes `count` off bucket `index`; a bucket that reaches zero is removed, so a running
   * sum stays as sparse as the slots it sums. Counts are whole numbers below 2^53, so adding
   * and taking off again is exact. Returns false (and changes nothing) when the bucket holds
   * less than `count`: the caller's bookkeeping is wrong.
   */
  subtract(index: number, count: number): boolean {
    const lo = this.position(index);
    if (lo >= this.length || this.indices[lo] !== index || this.counts[lo]! < count) return count === 0;
    const left = this.counts[lo]! - count;
    if (left !== 0) {
      this.counts[lo] = left;
      return true;
    }
    this.indices.copyWithin(lo, lo + 1, this.length);
    this.counts.copyWithin(lo, lo + 1, this.length);
    this.length--;
    return true;
  }

  /** Adds every bucket of another (merging a fine slot into a coarse one). */
  addAll(other: SparseCounts): void {
    for (let i = 0; i < other.length; i++) this.add(other.indices[i]!, other.counts[i]!);
  }

  /** Takes every bucket of another off (a slot leaving a running window sum); false if one did not fit. */
  subtractAll(other: SparseCounts): boolean {
    let ok = true;
    for (let i = 0; i < other.length; i++) ok = this.subtract(other.indices[i]!, other.counts[i]!) && ok;
    return ok;
  }

  /** Removes every bucket (capacity kept). */
  clear(): void {
    this.length = 0;
  }

  /** Bucket i (0 <= i < size) in index order: its index and count. */
  indexAt(i: number): number {
    return this.indices[i]!;
  }

  countAt(i: number): number {
    return this.counts[i]!;
  }

  /**
   * The q-quantile in microseconds of these counts, given their `total`: the same walk and
   * the same arithmetic as Histogram.quantileUs over the dense equivalent (buckets in index
   * order, empty ones skipped), so both give the identical number.
   */
  quantileUs(q: number, total: number): number {
    if (total <= 0) return Number.NaN;
    const rank = q * total;
    let seen = 0;
    for (let i = 0; i < this.length; i++) {
      const c = this.counts[i]!;
      if (c <= 0) continue;
      if (seen + c >= rank) {
        const fraction = Math.min(1, Math.max(0, (rank - seen) / c));
        const index = this.indices[i]!;
        return bucketLowerUs(index) + fraction * bucketWidthUs(index);
      }
      seen += c;
    }
    const last = BUCKET_COUNT - 1;
    return bucketLowerUs(last) + bucketWidthUs(last);
  }

  /** Adds these counts into a dense histogram (window queries). */
  addTo(histogram: Histogram): void {
    histogram.addArrays(this.indices, this.counts, this.length);
  }

  private grow(): void {
    const capacity = Math.min(BUCKET_COUNT, this.indices.length * 2);
    const indices = new Uint16Array(capacity);
    const counts = new Float64Array(capacity);
    indices.set(this.indices.subarray(0, this.length));
    counts.set(this.counts.subarray(0, this.length));
    this.indices = indices;
    this.counts = counts;
  }
}
