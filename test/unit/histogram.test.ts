import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Histogram, sparseBucketsProblem } from '../../src/histogram/histogram.js';
import { BUCKET_COUNT, MAX_TRACKED_US, SUB_BUCKETS, bucketIndex, bucketLowerUs, bucketWidthUs, isValidBucketIndex } from '../../src/histogram/layout.js';

describe('histogram layout', () => {
  it('has 384 buckets covering 1 us to beyond 60 s', () => {
    assert.equal(BUCKET_COUNT, 384);
    assert.ok(MAX_TRACKED_US >= 60_000_000);
    assert.equal(bucketIndex(MAX_TRACKED_US), BUCKET_COUNT - 1);
    assert.equal(bucketIndex(10 * MAX_TRACKED_US), BUCKET_COUNT - 1, 'larger values clamp into the last bucket');
    assert.equal(bucketIndex(0), 0);
    assert.equal(bucketIndex(-5), 0);
    assert.equal(bucketIndex(Number.NaN), 0);
  });

  it('buckets tile the range: contiguous, every value inside its bucket, width <= 1/16 of the lower bound', () => {
    for (let i = 0; i < BUCKET_COUNT - 1; i++) {
      assert.equal(bucketLowerUs(i) + bucketWidthUs(i), bucketLowerUs(i + 1), `bucket ${i} ends where ${i + 1} starts`);
      if (i >= 2 * SUB_BUCKETS) assert.ok(bucketWidthUs(i) / bucketLowerUs(i) <= 1 / SUB_BUCKETS, `relative width of ${i}`);
    }
    for (let v = 1; v < MAX_TRACKED_US; v = Math.ceil(v * 1.013) + 1) {
      const i = bucketIndex(v);
      assert.ok(bucketLowerUs(i) <= v && v < bucketLowerUs(i) + bucketWidthUs(i), `${v} in bucket ${i}`);
    }
  });

  it('index is monotonic in the value', () => {
    let last = 0;
    for (let v = 0; v < 5_000_000; v += 37) {
      const i = bucketIndex(v);
      assert.ok(i >= last);
      last = i;
    }
  });

  it('validates indices', () => {
    assert.ok(isValidBucketIndex(0) && isValidBucketIndex(383));
    assert.ok(!isValidBucketIndex(384) && !isValidBucketIndex(-1) && !isValidBucketIndex(1.5));
  });
});

describe('Histogram', () => {
  it('sparse round trip and merge add counts', () => {
    const a = new Histogram();
    const b = new Histogram();
    for (const v of [5, 100, 100, 20_000]) a.record(v);
    b.record(100, 3);
    const sparse = a.toSparse();
    assert.deepEqual(sparse.indices, [bucketIndex(5), bucketIndex(100), bucketIndex(20_000)]);
    assert.deepEqual(sparse.counts, [1, 2, 1]);
    const c = Histogram.fromSparse(sparse);
    c.merge(b);
    assert.equal(c.total, 7);
    assert.equal(c.counts[bucketIndex(100)], 5);
  });

  it('quantile interpolates inside the bucket and stays within the bucket resolution', () => {
    const h = new Histogram();
    assert.ok(Number.isNaN(h.quantileUs(0.5)), 'empty -> NaN (the scaler reports 0)');
    for (let v = 1000; v < 2000; v++) h.record(v);
    for (const q of [0.1, 0.5, 0.9, 0.99]) {
      const exact = 1000 + q * 1000;
      assert.ok(Math.abs(h.quantileUs(q) - exact) / exact <= 1 / SUB_BUCKETS, `q${q}: ${h.quantileUs(q)} vs ${exact}`);
    }
    const single = new Histogram();
    single.record(50_000);
    const q = single.quantileUs(0.5);
    assert.ok(q >= bucketLowerUs(bucketIndex(50_000)) && q < bucketLowerUs(bucketIndex(50_000)) + bucketWidthUs(bucketIndex(50_000)));
  });

  it('sparseBucketsProblem names what is wrong', () => {
    assert.equal(sparseBucketsProblem({ indices: [1, 2], counts: [1, 1] }), undefined);
    assert.match(sparseBucketsProblem({ indices: [1], counts: [] }) ?? '', /entries/);
    assert.match(sparseBucketsProblem({ indices: [400], counts: [1] }) ?? '', /outside/);
    assert.match(sparseBucketsProblem({ indices: [1], counts: [-1] }) ?? '', /non-negative integer/);
  });
});
