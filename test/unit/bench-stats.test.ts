import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bootstrapMedianCi, median } from '../../bench/lib/stats.js';

test('bootstrap interval of the median: contains the median, narrows with more samples, is repeatable', () => {
  const noisy = (n: number): number[] => Array.from({ length: n }, (_, i) => 0.98 + 0.02 * Math.sin(i * 12.9898));
  const small = bootstrapMedianCi(noisy(8));
  const large = bootstrapMedianCi(noisy(200));
  for (const [values, ci] of [[noisy(8), small], [noisy(200), large]] as const) {
    assert.ok(ci.low <= median(values) && median(values) <= ci.high, `${ci.low} <= ${median(values)} <= ${ci.high}`);
  }
  assert.ok(large.high - large.low < small.high - small.low, 'more pairs, narrower interval');
  assert.deepEqual(bootstrapMedianCi(noisy(30)), bootstrapMedianCi(noisy(30)));
  const constant = bootstrapMedianCi([1, 1, 1, 1]);
  assert.deepEqual(constant, { low: 1, high: 1 });
});
