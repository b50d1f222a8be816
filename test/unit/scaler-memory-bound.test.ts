import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BUCKET_COUNT } from '../../src/histogram/layout.js';
import { evaluate } from '../../src/scaler/evaluate.js';
import { parseTriggerMetadata } from '../../src/scaler/metadata.js';
import { WindowStore } from '../../src/scaler/window-store.js';

/**
 * More targets than the limit and hours of simulated time through the pure store: it stays
 * within its bound and says which targets it refused and which it expired.
 */
describe('window store memory bound', () => {
  it('stays bounded over 3 simulated hours with 3x more targets than allowed', () => {
    const maxTargets = 50;
    const historySeconds = 600;
    // No eviction of idle targets here (scaler-admission.test.ts covers it): this is about expiry.
    const store = new WindowStore({ maxTargets, idleExpiryMs: 10 * 60_000, historySeconds, minIdleBeforeEvictionMs: Infinity });
    const T0 = Date.UTC(2026, 0, 1);
    const hours = 3;
    const ids = [...Array(maxTargets * 3).keys()].map((i) => `target${i}`);
    const trigger = parseTriggerMetadata({ port: '80', targetValue: '1', metric: 'latency' });
    let refusedSeen = 0;
    let expiredSeen = 0;
    let maxSlots = 0;
    let maxBuckets = 0;
    let maxTargetsSeen = 0;
    for (let sec = 0; sec < hours * 3600; sec++) {
      const now = T0 + sec * 1000;
      // Every minute KEDA asks about a rotating third of all ids: some get admitted, some refused.
      if (sec % 60 === 0) {
        const phase = Math.floor(sec / 1200) % 3;
        for (const id of ids.slice(phase * maxTargets, phase * maxTargets + maxTargets + 5)) {
          if (store.admit(id, now) === 'refused') refusedSeen++;
        }
      }
      // Each second, every stored target gets a report spread over many buckets.
      for (const id of store.ids()) {
        store.record(id, { requests: 20, latencySumUs: 20 * 3000, acceptedConnections: 1, demandAttempts: 0, demandRefused: 0, buckets: { indices: [100 + (sec % 40), 200, 300], counts: [10, 5, 5] } }, now, now);
      }
      if (sec % 30 === 0) {
        expiredSeen += store.sweep(now).length;
        const stats = store.stats();
        maxSlots = Math.max(maxSlots, stats.slots);
        maxBuckets = Math.max(maxBuckets, stats.bucketEntries);
        maxTargetsSeen = Math.max(maxTargetsSeen, stats.targets);
        assert.ok(stats.targets <= maxTargets);
        assert.ok(stats.slots <= stats.targets * historySeconds);
        assert.ok(stats.bucketEntries <= stats.slots * BUCKET_COUNT);
      }
      if (sec % 600 === 0) evaluate(store, store.ids()[0] ?? 'none', trigger, now);
    }
    const stats = store.stats();
    console.log(
      `memory bound: ${hours} h simulated, ${ids.length} ids for ${maxTargets} slots of targets; peak targets ${maxTargetsSeen}, ` +
        `peak slots ${maxSlots} (bound ${maxTargets * historySeconds}), peak bucket entries ${maxBuckets}; ` +
        `refused ${stats.refusedTotal}, expired ${stats.expiredTotal}; recently refused ${stats.recentRefused.slice(-3).join(',')}; ` +
        `recently expired ${stats.recentExpired.slice(-3).join(',')}; heap ${(process.memoryUsage().heapUsed / 1e6).toFixed(1)} MB`,
    );
    assert.equal(maxTargetsSeen, maxTargets);
    assert.ok(maxSlots <= maxTargets * historySeconds);
    // No trigger asked for more than the default windows: each target keeps 62 slots, not 600.
    assert.ok(maxSlots <= maxTargets * 62, `peak slots ${maxSlots}`);
    assert.ok(stats.refusedTotal > 0 && stats.refusedTotal === refusedSeen);
    assert.ok(stats.expiredTotal > 0 && stats.expiredTotal === expiredSeen);
    assert.ok(stats.recentRefused.length > 0 && stats.recentRefused.every((id) => ids.includes(id)));
    assert.ok(stats.recentExpired.length > 0 && stats.recentExpired.every((id) => ids.includes(id)));
  });

  it('pinned targets (open streams) never expire; unpinned ones do after the idle expiry', () => {
    const store = new WindowStore({ idleExpiryMs: 60_000 });
    const T0 = Date.UTC(2026, 0, 1);
    store.admit('a', T0);
    store.admit('b', T0);
    store.pin('a');
    assert.deepEqual(store.sweep(T0 + 3_600_000), ['b']);
    store.unpin('a', T0 + 3_600_000);
    assert.deepEqual(store.sweep(T0 + 3_600_000 + 59_999), []);
    assert.deepEqual(store.sweep(T0 + 3_600_000 + 60_000), ['a']);
  });
});
