import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BUCKET_COUNT } from '../../src/histogram/layout.js';
import { MAX_AGGREGATES_PER_TARGET } from '../../src/scaler/limits.js';
import { SparseCounts } from '../../src/scaler/sparse-counts.js';
import { WindowAggregate } from '../../src/scaler/window-aggregate.js';
import { WindowStore, type WindowDelta } from '../../src/scaler/window-store.js';

/**
 * The running window histograms (window-aggregate.ts) against the full merge of every slot
 * (WindowStore.mergedHistogram, what query() did before): on random data, random clocks and
 * random windows, both must be exactly equal (same buckets, same total, same quantiles).
 */

/** A small deterministic PRNG (mulberry32), so a failure can be replayed from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomDelta(r: () => number): WindowDelta {
  const n = Math.floor(r() * 12);
  const used = new Set<number>();
  const indices: number[] = [];
  const counts: number[] = [];
  for (let i = 0; i < n; i++) {
    // Mostly a cluster of nearby buckets (real latencies), sometimes anywhere.
    const index = r() < 0.8 ? 150 + Math.floor(r() * 20) : Math.floor(r() * BUCKET_COUNT);
    if (used.has(index)) continue;
    used.add(index);
    indices.push(index);
    counts.push(r() < 0.05 ? 0 : 1 + Math.floor(r() * (r() < 0.1 ? 1e6 : 50)));
  }
  const requests = counts.reduce((a, b) => a + b, 0);
  return { requests, latencySumUs: requests * 1000, acceptedConnections: 0, demandAttempts: 0, demandRefused: 0, buckets: { indices, counts } };
}

const QUANTILES = [0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999];

function assertSame(store: WindowStore, id: string, now: number, windowMs: number, context: string): void {
  const running = store.query(id, now, windowMs, true)?.histogram;
  const merged = store.mergedHistogram(id, now, windowMs);
  assert.ok(running && merged, context);
  assert.ok(running instanceof WindowAggregate, context);
  assert.equal(running.total, merged.total, `${context}: total`);
  const sparse = merged.toSparse();
  const got = { indices: [] as number[], counts: [] as number[] };
  for (let i = 0; i < running.buckets.size; i++) {
    got.indices.push(running.buckets.indexAt(i));
    got.counts.push(running.buckets.countAt(i));
  }
  assert.deepEqual(got, sparse, `${context}: buckets`);
  for (const q of QUANTILES) assert.ok(Object.is(running.quantileUs(q), merged.quantileUs(q)), `${context}: q${q} ${running.quantileUs(q)} vs ${merged.quantileUs(q)}`);
}

describe('running window histograms equal the full merge', () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`random reports, clocks and windows (seed ${seed})`, () => {
      const r = rng(seed);
      // A small budget in some runs, so deltas also lose their buckets over budget.
      const store = new WindowStore({ maxHistogramBytes: seed % 3 === 0 ? 40_000 : 128 * 1024 * 1024, idleExpiryMs: 3_600_000 });
      const ids = ['a', 'b', 'c'];
      let now = Date.UTC(2026, 0, 1) + Math.floor(r() * 1000);
      for (const id of ids) store.admit(id, now);
      store.ensureHistory('b', 120_000);
      const windows = [1000, 2000, 5000, 10_000, 30_000, 60_000, 61_000, 62_000, 90_000, 120_000, 300_000, 600_000];
      for (let step = 0; step < 1500; step++) {
        // Time moves on by 0-1.5 s, sometimes by a lot (an idle minute, a restart's gap).
        const jump = r();
        now += jump < 0.9 ? Math.floor(r() * 1500) : jump < 0.98 ? Math.floor(r() * 20_000) : Math.floor(r() * 700_000);
        for (let k = Math.floor(r() * 4); k > 0; k--) {
          const id = ids[Math.floor(r() * ids.length)]!;
          // Reports arrive late, very late (older than the fine ring), or (clamped) early.
          const lagMs = r() < 0.8 ? Math.floor(r() * 3000) : r() < 0.7 ? Math.floor(r() * 200_000) : -Math.floor(r() * 2000);
          store.record(id, randomDelta(r), now - lagMs, now, 250 + Math.floor(r() * 2000));
        }
        if (r() < 0.01) store.ensureHistory(ids[Math.floor(r() * ids.length)]!, windows[Math.floor(r() * windows.length)]!);
        for (const id of ids) store.touch(id, now);
        if (r() < 0.05) store.sweep(now);
        for (let q = Math.floor(r() * 3); q > 0; q--) {
          const id = ids[Math.floor(r() * ids.length)]!;
          const windowMs = windows[Math.floor(r() * windows.length)]!;
          assertSame(store, id, now, windowMs, `seed ${seed} step ${step} ${id} window ${windowMs}`);
        }
      }
    });
  }

  it('more windows than kept per target still answer exactly (the least recently read is rebuilt)', () => {
    const r = rng(99);
    const store = new WindowStore();
    let now = Date.UTC(2026, 0, 1);
    store.admit('t', now);
    store.ensureHistory('t', 600_000);
    const windows = Array.from({ length: MAX_AGGREGATES_PER_TARGET + 3 }, (_, i) => (i + 1) * 7000);
    for (let step = 0; step < 300; step++) {
      now += 700;
      store.record('t', randomDelta(r), now, now, 700);
      const windowMs = windows[step % windows.length]!;
      assertSame(store, 't', now, windowMs, `step ${step} window ${windowMs}`);
    }
    assert.ok(store.stats().aggregates <= MAX_AGGREGATES_PER_TARGET);
  });

  it('a running sum nobody reads is dropped at the sweep, and its bytes are counted until then', () => {
    const store = new WindowStore();
    const now = Date.UTC(2026, 0, 1);
    store.admit('t', now);
    store.record('t', randomDelta(rng(5)), now, now);
    store.query('t', now, 30_000, true);
    assert.equal(store.stats().aggregates, 1);
    assert.ok(store.stats().aggregateBytes > 0);
    store.sweep(now + 60_000);
    assert.equal(store.stats().aggregates, 1, 'read a minute ago: kept');
    store.sweep(now + 121_000);
    assert.equal(store.stats().aggregates, 0, 'unread for over 2 minutes: dropped');
  });

  it('a clock that goes back is answered from the slots afresh', () => {
    const r = rng(7);
    const store = new WindowStore();
    let now = Date.UTC(2026, 0, 1);
    store.admit('t', now);
    for (let i = 0; i < 40; i++) {
      now += 1000;
      store.record('t', randomDelta(r), now, now);
    }
    assertSame(store, 't', now, 10_000, 'now');
    assertSame(store, 't', now - 5000, 10_000, '5 s earlier');
    assertSame(store, 't', now, 10_000, 'now again');
  });
});

describe('SparseCounts.subtract', () => {
  it('removes a bucket that reaches zero and refuses to go below zero', () => {
    const s = new SparseCounts();
    s.add(5, 3);
    s.add(9, 1);
    assert.equal(s.subtract(5, 3), true);
    assert.equal(s.size, 1);
    assert.equal(s.indexAt(0), 9);
    assert.equal(s.subtract(9, 2), false, 'more than it holds');
    assert.equal(s.subtract(4, 1), false, 'a bucket it does not hold');
    assert.equal(s.countAt(0), 1, 'unchanged by refused subtractions');
  });
});
