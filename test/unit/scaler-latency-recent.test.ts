import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Histogram } from '../../src/histogram/histogram.js';
import { RECENT_LATENCY_MS, evaluate } from '../../src/scaler/evaluate.js';
import { parseTriggerMetadata } from '../../src/scaler/metadata.js';
import { WindowStore, type WindowDelta } from '../../src/scaler/window-store.js';

/** The latency metric's recent part (evaluate.ts latencyMs), driven with plain `now` values. */

const T0 = Date.UTC(2026, 0, 1);

function delta(count: number, latencyUs: number): WindowDelta {
  const h = new Histogram();
  h.record(latencyUs, count);
  return { requests: count, latencySumUs: count * latencyUs, acceptedConnections: 0, demandAttempts: 0, demandRefused: 0, buckets: h.toSparse() };
}

const p95over30s = parseTriggerMetadata({ port: '80', targetValue: '1', metric: 'latency', quantile: '0.95', window: '30s' });

/** 30 s at `rate` req/s of 5 ms, reported every 250 ms. */
function steadyFast(store: WindowStore, rate: number): number {
  store.admit('t', T0);
  store.ensureHistory('t', 30_000);
  let at = T0;
  for (let i = 0; i < 120; i++) {
    at += 250;
    store.record('t', delta(rate / 4, 5000), at, at, 250);
  }
  return at;
}

describe('latency: the newest seconds count at once on the way up', () => {
  it('a step from 5 ms to 50 ms shows within 0.5 s at 1000 req/s, not after 5 % of the window', () => {
    const store = new WindowStore();
    let at = steadyFast(store, 1000);
    assert.ok(Math.abs(evaluate(store, 't', p95over30s, at).value - 5) < 0.5);
    // 0.5 s of 50 ms requests: 500 of ~5000 in the newest 5 s (10 %), 500 of 30,000 in the window (1.7 %)
    for (let i = 0; i < 2; i++) {
      at += 250;
      store.record('t', delta(250, 50_000), at, at, 250);
    }
    const value = evaluate(store, 't', p95over30s, at).value;
    assert.ok(value > 45 && value < 55, `p95 moved to ${value} ms`);
    const windowOnly = store.query('t', at, 30_000, true)!.histogram!.quantileUs(0.95) / 1000;
    assert.ok(windowOnly < 10, `the whole window alone still says ${windowOnly} ms`);
  });

  it('after the slow seconds leave the recent part, the value is the window quantile again (smooth on the way down)', () => {
    const store = new WindowStore();
    let at = steadyFast(store, 1000);
    for (let i = 0; i < 2; i++) {
      at += 250;
      store.record('t', delta(250, 50_000), at, at, 250);
    }
    for (let i = 0; i < (RECENT_LATENCY_MS / 250) + 8; i++) {
      at += 250;
      store.record('t', delta(250, 5000), at, at, 250);
    }
    const value = evaluate(store, 't', p95over30s, at).value;
    const windowOnly = store.query('t', at, 30_000, true)!.histogram!.quantileUs(0.95) / 1000;
    assert.equal(value, windowOnly);
    assert.ok(value < 10);
  });

  it('a quiet target (too few samples for a recent p95) is judged on the whole window only', () => {
    const store = new WindowStore();
    let at = steadyFast(store, 12);
    // 5 slow requests among the newest 5 s's ~65: 8 % of them, but barely 3 samples lie beyond a p95 there
    at += 250;
    store.record('t', delta(5, 50_000), at, at, 250);
    const recent = store.query('t', at, RECENT_LATENCY_MS, true)!.histogram!;
    assert.ok(recent.total * 0.05 < 5, `${recent.total} recent samples`);
    const value = evaluate(store, 't', p95over30s, at).value;
    const windowOnly = store.query('t', at, 30_000, true)!.histogram!.quantileUs(0.95) / 1000;
    assert.equal(value, windowOnly);
  });
});
