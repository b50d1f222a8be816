import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BUCKET_COUNT } from '../../src/histogram/layout.js';
import { evaluate } from '../../src/scaler/evaluate.js';
import { COARSE_SLOT_SECONDS, MAX_FINE_SLOTS, SLOT_BYTES } from '../../src/scaler/limits.js';
import { parseTriggerMetadata } from '../../src/scaler/metadata.js';
import { ENTRY_BYTES, SPARSE_OVERHEAD_BYTES } from '../../src/scaler/sparse-counts.js';
import { WindowStore, type WindowDelta } from '../../src/scaler/window-store.js';

/**
 * Attack 4 (issue 10): window=10m targets with every one-second slot full (all 384 buckets)
 * cost ~9 MB each (20 targets: 198 MB of heap). Now the store's own accounting must stay
 * under the documented formula (docs/security.md), the slot counts under their caps, and
 * the histogram budget must hold however much data comes. RSS is measured in the bench
 * (bench/cases/starvation.ts); here the figures are the store's deterministic accounting.
 */

const T0 = Date.UTC(2026, 0, 1);
const allBuckets = { indices: [...Array(BUCKET_COUNT).keys()], counts: new Array<number>(BUCKET_COUNT).fill(3) };
const full: WindowDelta = { requests: 3 * BUCKET_COUNT, latencySumUs: 1e6, acceptedConnections: 0, demandAttempts: 0, demandRefused: 0, buckets: allBuckets };

/** The formula of docs/security.md for one target: (fine + coarse slots) x (slot + full histogram). */
const coarseSlotsFor = (windowSec: number): number => Math.ceil((windowSec + 2) / COARSE_SLOT_SECONDS) + 2;
const perSlotMax = SLOT_BYTES + SPARSE_OVERHEAD_BYTES + BUCKET_COUNT * ENTRY_BYTES;

describe('memory formula (attack 4)', () => {
  it('20 targets with window=10m and full slots stay under the formula (was ~9 MB each)', () => {
    const store = new WindowStore();
    const trigger = parseTriggerMetadata({ port: '80', targetValue: '1', window: '10m', activationWindow: '10m' });
    const targets = 20;
    for (let i = 0; i < targets; i++) {
      store.admit(`t${i}`, T0);
      store.ensureHistory(`t${i}`, trigger.windowMs);
    }
    for (let s = 0; s < 900; s++) {
      const now = T0 + s * 1000 + 500;
      for (let i = 0; i < targets; i++) store.record(`t${i}`, full, now, now);
      if (s % 30 === 0) store.sweep(now);
    }
    const stats = store.stats();
    const slotsPerTarget = MAX_FINE_SLOTS + coarseSlotsFor(600);
    const bound = targets * slotsPerTarget * perSlotMax;
    console.log(
      `20 targets, window=10m, full slots: ${stats.fineSlots} fine + ${stats.coarseSlots} coarse slots, ${stats.bucketEntries} buckets, ` +
        `${(stats.estimatedBytes / 1e6).toFixed(2)} MB by the store's accounting (formula bound ${(bound / 1e6).toFixed(2)} MB; ` +
        `the old store: ${targets} x 600 slots x 384 Map entries)`,
    );
    assert.ok(stats.fineSlots <= targets * MAX_FINE_SLOTS, `fine slots ${stats.fineSlots}`);
    assert.ok(stats.coarseSlots <= targets * coarseSlotsFor(600), `coarse slots ${stats.coarseSlots}`);
    assert.ok(stats.estimatedBytes <= bound, `${stats.estimatedBytes} > ${bound}`);
    // Per target, about half a megabyte at worst instead of ~9 MB.
    assert.ok(stats.estimatedBytes / targets < 600_000, `${stats.estimatedBytes / targets} bytes per target`);
    // The answers still span the whole 10 minutes: 600 s x 1152 requests per second.
    const e = evaluate(store, 't0', parseTriggerMetadata({ port: '80', targetValue: '1', window: '10m', metric: 'rps' }), T0 + 899_600);
    assert.ok(Math.abs(e.value - 3 * BUCKET_COUNT) < 1e-6, `rps ${e.value}`);
  });

  it('short-window targets keep only their one-second slots', () => {
    const store = new WindowStore();
    store.admit('t', T0);
    for (let s = 0; s < 300; s++) store.record('t', full, T0 + s * 1000, T0 + s * 1000);
    store.sweep(T0 + 300_000);
    const stats = store.stats();
    assert.equal(stats.coarseSlots, 0);
    assert.ok(stats.fineSlots <= MAX_FINE_SLOTS);
  });

  it('the histogram budget holds: past it buckets are dropped and counted, counters go on', () => {
    const budget = 2 * 1024 * 1024;
    const store = new WindowStore({ maxHistogramBytes: budget });
    for (let i = 0; i < 50; i++) store.admit(`t${i}`, T0);
    for (let s = 0; s < 70; s++) {
      const now = T0 + s * 1000;
      for (let i = 0; i < 50; i++) store.record(`t${i}`, full, now, now);
    }
    const stats = store.stats();
    assert.ok(stats.histogramDropsOverBudget > 0, 'some deltas lost their buckets');
    // One delta may grow past the line before the next is refused: at most one full histogram per target.
    assert.ok(stats.histogramBytes <= budget + 50 * (SPARSE_OVERHEAD_BYTES + BUCKET_COUNT * ENTRY_BYTES), `${stats.histogramBytes}`);
    const rps = evaluate(store, 't49', parseTriggerMetadata({ port: '80', targetValue: '1', metric: 'rps', window: '10s' }), T0 + 69_500).value;
    assert.ok(rps > 0, 'rates still answer');
  });

  it('byte accounting returns to zero when targets go', () => {
    const store = new WindowStore({ idleExpiryMs: 1000 });
    store.admit('a', T0);
    store.ensureHistory('a', 600_000);
    for (let s = 0; s < 100; s++) store.record('a', full, T0 + s * 1000, T0 + s * 1000);
    assert.ok(store.stats().histogramBytes > 0);
    store.sweep(T0 + 200_000);
    assert.equal(store.stats().targets, 0);
    assert.equal(store.stats().histogramBytes, 0);
  });

  it('a long window mixes coarse and one-second slots: exact rates, latency from every slot', () => {
    const store = new WindowStore();
    store.admit('t', T0);
    store.ensureHistory('t', 300_000);
    // 1 request per second at 2 ms for 400 s, then 10 per second at 50 ms for the last 30 s.
    for (let s = 0; s < 430; s++) {
      const slow = s >= 400;
      const count = slow ? 10 : 1;
      const h = { indices: [slow ? 250 : 150], counts: [count] };
      store.record('t', { requests: count, latencySumUs: count * (slow ? 50_000 : 2000), acceptedConnections: 0, demandAttempts: 0, demandRefused: 0, buckets: h }, T0 + s * 1000 + 999, T0 + s * 1000 + 999);
    }
    const now = T0 + 429_999;
    const sums = store.query('t', now, 300_000, true)!;
    // The coarse edge may reach up to 9 s further back; divided by what the slots span, the rate is exact.
    assert.ok(sums.coveredSeconds >= 300 && sums.coveredSeconds < 310, `covered ${sums.coveredSeconds}`);
    assert.equal(sums.requests, Math.round(sums.coveredSeconds) - 30 + 300);
    assert.equal(sums.histogram!.total, sums.requests);
    const activity = store.activity('t', now, 120_000);
    assert.ok(activity.length > 0 && activity.every((a) => a.untilMs > now));
  });
});
