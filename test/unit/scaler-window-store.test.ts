import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Histogram } from '../../src/histogram/histogram.js';
import { evaluate } from '../../src/scaler/evaluate.js';
import { parseTriggerMetadata } from '../../src/scaler/metadata.js';
import { WindowStore, type WindowDelta } from '../../src/scaler/window-store.js';

/** The pure store and evaluation, driven with plain `now` values. */

const T0 = Date.UTC(2026, 0, 1); // a whole second

function delta(latenciesUs: number[], extra: Partial<WindowDelta> = {}): WindowDelta {
  const h = new Histogram();
  for (const v of latenciesUs) h.record(v);
  return {
    requests: latenciesUs.length,
    latencySumUs: latenciesUs.reduce((a, b) => a + b, 0),
    acceptedConnections: 0,
    demandAttempts: 0,
    demandRefused: 0,
    buckets: h.toSparse(),
    ...extra,
  };
}

const trigger = (m: Record<string, string>) => parseTriggerMetadata({ port: '80', targetValue: '1', ...m });

describe('window store and evaluation', () => {
  it('rps and concurrency are exact over a full window, and slide second by second', () => {
    const store = new WindowStore();
    store.admit('t', T0);
    for (let s = 0; s < 30; s++) store.record('t', delta(new Array(s + 1).fill(10_000)), T0 + s * 1000 + 500, T0 + s * 1000 + 500);
    const now = T0 + 29_999;
    const total = (30 * 31) / 2; // 465 requests of 10 ms
    assert.equal(evaluate(store, 't', trigger({ metric: 'rps' }), now).value, total / 30);
    assert.equal(evaluate(store, 't', trigger({ metric: 'concurrency' }), now).value, (total * 0.01) / 30);
    // Second 0 left the window; the remaining reports span 29 s (0.5 .. 29.5): no new report
    // has come in since, so the rate is over the time the data covers, not a fixed 30 s.
    assert.equal(evaluate(store, 't', trigger({ metric: 'rps' }), now + 1).value, (total - 1) / 29, 'second 0 left the window');
    assert.equal(evaluate(store, 't', trigger({ metric: 'rps', window: '10s' }), now).value, (21 + 30) * 5 / 10);
  });

  it('divides by the time the reports span when shorter than the window (right after start)', () => {
    const store = new WindowStore();
    store.admit('t', T0);
    store.record('t', delta(new Array(40).fill(1000)), T0 + 100, T0 + 100);
    assert.equal(evaluate(store, 't', trigger({ metric: 'rps' }), T0 + 200).value, 40, '1 s of history');
    for (const at of [1100, 2100, 3100]) store.record('t', delta([]), T0 + at, T0 + at);
    assert.equal(evaluate(store, 't', trigger({ metric: 'rps' }), T0 + 3500).value, 10, '4 s of history');
  });

  it('reads the full rate while the current second is still filling (not low by up to 1/window)', () => {
    const store = new WindowStore();
    store.admit('t', T0);
    // 20 req/s reported every 250 ms at 5 per report; window 2 s. (The first second is
    // divided by at least 1 s, so a first short report cannot inflate a rate.)
    for (let at = 250; at <= 10_000; at += 250) {
      store.record('t', delta(new Array(5).fill(1000)), T0 + at, T0 + at, 250);
      if (at >= 1000) assert.equal(evaluate(store, 't', trigger({ metric: 'rps', window: '2s' }), T0 + at + 1).value, 20, `at +${at} ms`);
    }
  });

  it('resent reports from before the target was admitted (scaler restart) raise no spike', () => {
    const store = new WindowStore();
    store.admit('t', T0 + 5000);
    // The collector's backlog: 40 req/s since T0, all resent at T0 + 5.2 s.
    for (let s = 1; s <= 5; s++) store.record('t', delta(new Array(40).fill(1000)), T0 + s * 1000, T0 + 5200);
    assert.equal(evaluate(store, 't', trigger({ metric: 'rps', window: '10s' }), T0 + 5300).value, 40);
  });

  it('rps counts refused demand; activity counts requests and demand attempts', () => {
    const store = new WindowStore();
    store.admit('t', T0);
    store.record('t', delta([], { demandAttempts: 3, demandRefused: 3 }), T0, T0);
    const e = evaluate(store, 't', trigger({ metric: 'rps', activationRequests: '3' }), T0 + 10);
    assert.equal(e.value, 3);
    assert.equal(e.active, true);
    assert.equal(e.activity, 3);
    assert.equal(evaluate(store, 't', trigger({ activationRequests: '4' }), T0 + 10).active, false);
  });

  it('activity ages out of activationWindow at a predicted moment', () => {
    const store = new WindowStore();
    store.admit('t', T0);
    store.record('t', delta([500]), T0 + 1200, T0 + 1200);
    store.record('t', delta([500]), T0 + 3700, T0 + 3700);
    const tr = trigger({ activationWindow: '5s', activationRequests: '2' });
    const e = evaluate(store, 't', tr, T0 + 4000);
    assert.equal(e.active, true);
    // The request reported at 1.2 s counts until 6.2 s (a full 5 s): then 1 < 2 remain.
    assert.equal(e.nextChangeMs, T0 + 6200);
    assert.equal(evaluate(store, 't', tr, T0 + 6199).active, true);
    assert.equal(evaluate(store, 't', tr, T0 + 6200).active, false);
  });

  it('in-flight gauges make a target active until they go stale', () => {
    const store = new WindowStore();
    store.admit('t', T0);
    store.setInFlight('t', 'collector-a', 3, T0);
    const e = evaluate(store, 't', trigger({}), T0 + 100);
    assert.equal(e.active, true);
    assert.equal(e.inFlight, 3);
    assert.equal(e.nextChangeMs, T0 + 5000);
    assert.equal(evaluate(store, 't', trigger({}), T0 + 5000).active, false);
    store.setInFlight('t', 'collector-a', 1, T0 + 6000);
    store.forgetSource('collector-a');
    assert.equal(evaluate(store, 't', trigger({}), T0 + 6001).active, false, 'a restarted collector\'s gauge is forgotten');
  });

  it('latency: quantile in ms, 0 when empty; never NaN, negative or infinite', () => {
    const store = new WindowStore();
    store.admit('t', T0);
    assert.equal(evaluate(store, 't', trigger({}), T0).value, 0);
    assert.equal(evaluate(store, 'unknown', trigger({}), T0).value, 0, 'unknown target: 0, inactive');
    store.record('t', delta(new Array(100).fill(0).map((_, i) => (i + 1) * 1000)), T0, T0);
    const p95 = evaluate(store, 't', trigger({ quantile: '0.95' }), T0).value;
    assert.ok(Math.abs(p95 - 95) / 95 <= 1 / 16, `p95 ${p95}`);
  });

  it('a restarted collector shows a gap, not a spike: deltas are added, never treated as cumulative', () => {
    const store = new WindowStore();
    store.admit('t', T0);
    for (let s = 0; s < 5; s++) store.record('t', delta(new Array(10).fill(1000)), T0 + s * 1000, T0 + s * 1000);
    // Collector restarts: seconds 5-7 have no report, then its first report is a normal delta.
    store.record('t', delta(new Array(10).fill(1000)), T0 + 8000, T0 + 8000);
    const perSecond = [...Array(9).keys()].map((s) => store.query('t', T0 + s * 1000, 1000, false)!.requests);
    assert.deepEqual(perSecond, [10, 10, 10, 10, 10, 0, 0, 0, 10]);
  });

  it('keeps as much history as the longest window asked for a target, and no more', () => {
    const store = new WindowStore({ historySeconds: 600 });
    store.admit('t', T0);
    const fill = (from: number, to: number) => {
      for (let s = from; s < to; s++) store.record('t', delta([1000]), T0 + s * 1000 + 500, T0 + s * 1000 + 500);
    };
    fill(0, 300);
    const at = T0 + 299_600;
    assert.equal(store.query('t', at, 300_000, false)!.requests, 62, 'default ring: 62 s kept');
    store.ensureHistory('t', 300_000);
    assert.equal(store.query('t', at, 300_000, false)!.requests, 62, 'growing keeps what was there');
    fill(300, 600);
    assert.equal(store.query('t', T0 + 599_600, 300_000, false)!.requests, 300, 'then 5 minutes are kept');
    // 62 one-second slots plus ceil(302 / 10) + 2 coarse ones (10 s each), not 302 slots.
    assert.equal(store.stats().fineSlots, 62);
    assert.equal(store.stats().coarseSlots, 33);
  });

  it('clamps collector clocks running ahead to now; drops deltas older than the history', () => {
    const store = new WindowStore({ historySeconds: 60 });
    store.admit('t', T0);
    assert.equal(store.record('t', delta([1000]), T0 + 10_000, T0), true);
    assert.equal(store.query('t', T0, 1000, false)!.requests, 1);
    assert.equal(store.record('t', delta([1000]), T0 - 61_000, T0), false);
    assert.equal(store.stats().droppedLateDeltas, 1);
  });
});
