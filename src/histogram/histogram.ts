import { BUCKET_COUNT, bucketIndex, bucketLowerUs, bucketWidthUs, isValidBucketIndex } from './layout.js';

/** Non-zero buckets only: how histograms travel between collector and scaler. */
export interface SparseBuckets {
  readonly indices: readonly number[];
  readonly counts: readonly number[];
}

/**
 * A dense log-linear histogram of microsecond values (see layout.ts). Counts are doubles,
 * exact up to 2^53, so merging never overflows in practice.
 */
export class Histogram {
  readonly counts = new Float64Array(BUCKET_COUNT);
  private totalCount = 0;

  get total(): number {
    return this.totalCount;
  }

  record(valueUs: number, count = 1): void {
    this.counts[bucketIndex(valueUs)]! += count;
    this.totalCount += count;
  }

  /** Adds sparse bucket deltas; the caller has validated indices and counts. */
  addSparse(sparse: SparseBuckets): void {
    const n = Math.min(sparse.indices.length, sparse.counts.length);
    for (let i = 0; i < n; i++) {
      const count = sparse.counts[i]!;
      this.counts[sparse.indices[i]!]! += count;
      this.totalCount += count;
    }
  }

  /** Adds the first n entries of parallel index/count arrays (typed arrays welcome). */
  addArrays(indices: ArrayLike<number>, counts: ArrayLike<number>, n: number): void {
    for (let i = 0; i < n; i++) {
      const count = counts[i]!;
      this.counts[indices[i]!]! += count;
      this.totalCount += count;
    }
  }

  merge(other: Histogram): void {
    for (let i = 0; i < BUCKET_COUNT; i++) this.counts[i]! += other.counts[i]!;
    this.totalCount += other.totalCount;
  }

  clear(): void {
    this.counts.fill(0);
    this.totalCount = 0;
  }

  toSparse(): SparseBuckets {
    const indices: number[] = [];
    const counts: number[] = [];
    for (let i = 0; i < BUCKET_COUNT; i++) {
      const c = this.counts[i]!;
      if (c !== 0) {
        indices.push(i);
        counts.push(c);
      }
    }
    return { indices, counts };
  }

  static fromSparse(sparse: SparseBuckets): Histogram {
    const h = new Histogram();
    h.addSparse(sparse);
    return h;
  }

  /**
   * The q-quantile (0 < q < 1) in microseconds, interpolated linearly inside the bucket
   * that holds it (values assumed spread evenly across the bucket). NaN when empty.
   */
  quantileUs(q: number): number {
    if (this.totalCount <= 0) return Number.NaN;
    const rank = q * this.totalCount;
    let seen = 0;
    for (let i = 0; i < BUCKET_COUNT; i++) {
      const c = this.counts[i]!;
      if (c <= 0) continue;
      if (seen + c >= rank) {
        const fraction = Math.min(1, Math.max(0, (rank - seen) / c));
        return bucketLowerUs(i) + fraction * bucketWidthUs(i);
      }
      seen += c;
    }
    const last = BUCKET_COUNT - 1;
    return bucketLowerUs(last) + bucketWidthUs(last);
  }
}

/** Why a sparse histogram is unacceptable, or undefined when it is fine. */
export function sparseBucketsProblem(sparse: SparseBuckets): string | undefined {
  if (sparse.indices.length !== sparse.counts.length) {
    return `bucket_index has ${sparse.indices.length} entries but bucket_count has ${sparse.counts.length}`;
  }
  if (sparse.indices.length > BUCKET_COUNT) return `more than ${BUCKET_COUNT} buckets`;
  for (let i = 0; i < sparse.indices.length; i++) {
    const index = sparse.indices[i]!;
    const count = sparse.counts[i]!;
    if (!isValidBucketIndex(index)) return `bucket index ${index} outside 0..${BUCKET_COUNT - 1}`;
    if (!Number.isSafeInteger(count) || count < 0) return `bucket ${index} has count ${count}, expected a non-negative integer`;
  }
  return undefined;
}
