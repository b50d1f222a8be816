import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff, backoffCeilingMs, jitteredDelayMs } from '../../src/backoff.js';
import { DEFAULT_BACKOFF } from '../../src/stream/backoff.js';

test('backoff ceiling doubles from 100 ms and caps at the maximum', () => {
  const ceilings = Array.from({ length: 8 }, (_, attempt) => backoffCeilingMs(attempt, DEFAULT_BACKOFF));
  assert.deepEqual(ceilings, [100, 200, 400, 800, 1600, 2000, 2000, 2000]);
  assert.equal(backoffCeilingMs(10_000, DEFAULT_BACKOFF), DEFAULT_BACKOFF.maxMs);
  assert.equal(backoffCeilingMs(3, { initialMs: 100, maxMs: 5000, multiplier: 2 }), 800);
  assert.equal(backoffCeilingMs(9, { initialMs: 100, maxMs: 5000, multiplier: 2 }), 5000);
});

test('full jitter stays within [0, ceiling] and reaches both ends', () => {
  for (let attempt = 0; attempt < 12; attempt++) {
    const ceiling = backoffCeilingMs(attempt, DEFAULT_BACKOFF);
    assert.equal(jitteredDelayMs(attempt, DEFAULT_BACKOFF, () => 0), 0);
    assert.equal(jitteredDelayMs(attempt, DEFAULT_BACKOFF, () => 0.999999), ceiling);
    for (let i = 0; i < 200; i++) {
      const d = jitteredDelayMs(attempt, DEFAULT_BACKOFF);
      assert.ok(d >= 0 && d <= ceiling, `attempt ${attempt}: ${d} outside [0, ${ceiling}]`);
    }
  }
  // A random source out of contract is clamped rather than producing negative or huge delays.
  assert.equal(jitteredDelayMs(2, DEFAULT_BACKOFF, () => -3), 0);
  assert.equal(jitteredDelayMs(2, DEFAULT_BACKOFF, () => 7), 400);
});

test('full jitter spreads delays: the mean is about half the ceiling', () => {
  const n = 5000;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += jitteredDelayMs(6, DEFAULT_BACKOFF);
  const mean = sum / n;
  assert.ok(mean > 900 && mean < 1100, `mean ${mean} should be near 1000`);
});

test('Backoff counts attempts and restarts from the first step after reset', () => {
  const backoff = new Backoff(DEFAULT_BACKOFF, () => 0.5);
  assert.deepEqual([backoff.nextDelayMs(), backoff.nextDelayMs(), backoff.nextDelayMs()], [50, 100, 200]);
  assert.equal(backoff.attempts, 3);
  backoff.reset();
  assert.equal(backoff.nextDelayMs(), 50);
});
