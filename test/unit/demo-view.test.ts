import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hpaDesiredReplicas } from '../../src/demo/hpa.js';
import { ANSI, redraw, renderFrame, renderLine, type ViewState } from '../../src/demo/view.js';
import { evaluateChecks, renderSummary, summarizePhases, type DemoTimeline, type SampleRecord } from '../../src/demo/summary.js';
import type { PhaseName } from '../../src/demo/load-plan.js';

const common = { minReplicas: 1, maxReplicas: 10, active: true, inactiveForMs: 0, cooldownMs: 0 };

const state: ViewState = {
  elapsedMs: 23_456,
  phase: 'ramp-up',
  phaseElapsedMs: 4_200,
  offeredRps: 480,
  target: '127.0.0.1:18080',
  serverUp: true,
  currentReplicas: 1,
  scaler: { active: true, rps: 401.3, p50Ms: 61.7, p95Ms: 152.4, p99Ms: 171.9, concurrency: 15.83 },
  client: { windowMs: 5_000, rps: 399.8, refusedRps: 0, attempts: 2_100, p50Ms: 63.1, p95Ms: 160.2, p99Ms: 190.5, concurrency: 16.02 },
  counters: { sent: 4_321, completed: 4_250, refused: 1, errors: 2, dropped: 3, outstanding: 65 },
  decisions: {
    latency: hpaDesiredReplicas({ ...common, metricType: 'Value', currentReplicas: 1, metricValue: 152.4, target: 50, unit: 'ms' }),
    rps: hpaDesiredReplicas({ ...common, metricType: 'AverageValue', currentReplicas: 1, metricValue: 401.3, target: 100, unit: 'rps' }),
    concurrency: hpaDesiredReplicas({ ...common, metricType: 'AverageValue', currentReplicas: 1, metricValue: 15.83, target: 4 }),
  },
  targets: { latencyMs: 50, latencyQuantile: 'p95', rpsPerReplica: 100, concurrencyPerReplica: 4, tolerance: 0.1, minReplicas: 1, maxReplicas: 10, cooldownMs: 0 },
  windowMs: 5_000,
};

test('view: plain line carries every figure, client beside scaler, formulas included', () => {
  const line = renderLine(state);
  assert.doesNotMatch(line, /\n/);
  assert.doesNotMatch(line, /\x1b/, 'no escape codes in plain mode');
  for (const want of [
    't=23.5s', 'phase=ramp-up', 'offered=480', 'active=yes', 'rps=401.3', 'p50=61.7', 'p95=152.4', 'p99=171.9', 'conc=15.83',
    'client rps=399.8', 'p50=63.1', 'p95=160.2', 'p99=190.5', 'conc=16.02', 'sent=4321', 'refused=1', 'errors=2',
    'latency(p95)=4', 'rps=5', 'concurrency=4', 'ceil(1 x 152 ms / 50 ms) = ceil(3.05) = 4', 'ceil(401 rps / 100 rps) = ceil(4.01) = 5',
  ]) {
    assert.ok(line.includes(want), `plain line lacks "${want}": ${line}`);
  }
});

test('view: frame shows every field in text, no colour codes', () => {
  const frame = renderFrame(state);
  assert.doesNotMatch(frame, /\x1b/);
  for (const want of [
    'elapsed 23.5 s', 'phase: ramp-up', 'offered load: 480 req/s', 'active: YES', '127.0.0.1:18080', 'server up',
    'rps (req/s)', '401.3', '399.8', 'p50 latency (ms)', '61.7', '63.1', 'p95 latency (ms)', '152.4', '160.2',
    'p99 latency (ms)', '171.9', '190.5', 'concurrency', '15.83', '16.02', 'scaler (kernel)', 'client',
    'latency p95 (Value, target 50 ms)', 'rps (AverageValue, target 100/replica)', 'concurrency (AverageValue, target 4/replica)',
    'ceil(15.8 / 4) = ceil(3.96) = 4', 'tolerance 10 %',
  ]) {
    assert.ok(frame.includes(want), `frame lacks "${want}"\n${frame}`);
  }
  const inactive = renderFrame({ ...state, scaler: { ...state.scaler!, active: false } });
  assert.ok(inactive.includes('active: no'));
  const none = renderLine({ ...state, scaler: undefined, scalerError: 'connect ECONNREFUSED' });
  assert.ok(none.includes('active=? (no sample: connect ECONNREFUSED)'));
});

test('view: redraw homes the cursor, clears each line and the rest of the screen', () => {
  const bytes = redraw('a\nb');
  assert.equal(bytes, `${ANSI.cursorHome}a${ANSI.clearLineEnd}\nb${ANSI.clearLineEnd}\n${ANSI.clearToEnd}`);
});

function record(atMs: number, phase: PhaseName, active: boolean, rps: number, replicas: number): SampleRecord {
  return {
    atMs,
    phase,
    scaler: { active, rps, p50Ms: 10, p95Ms: 20, p99Ms: 30, concurrency: rps / 100 },
    client: { windowMs: 1_000, rps, refusedRps: 0, attempts: 0, p50Ms: 10, p95Ms: 20, p99Ms: 30, concurrency: 0 },
    currentReplicas: active ? 1 : 0,
    replicas: { latency: 1, rps: replicas, concurrency: 1 },
  };
}

const phaseStarts = [
  { name: 'idle' as const, atMs: 0, endMs: 1_000 },
  { name: 'first-request' as const, atMs: 1_000, endMs: 2_000 },
  { name: 'ramp-up' as const, atMs: 2_000, endMs: 3_000 },
  { name: 'ramp-down' as const, atMs: 3_000, endMs: 4_000 },
  { name: 'final-idle' as const, atMs: 4_000, endMs: 5_000 },
];

test('summary: a good timeline passes all four checks with timings', () => {
  const t: DemoTimeline = {
    phaseStarts,
    firstRequestAtMs: 1_000,
    lastRequestAtMs: 3_900,
    samples: [
      record(500, 'idle', false, 0, 0),
      record(1_100, 'first-request', false, 0, 0),
      record(1_200, 'first-request', true, 1, 1),
      record(2_500, 'ramp-up', true, 450, 5),
      record(3_500, 'ramp-down', true, 120, 2),
      record(4_500, 'final-idle', false, 0, 0),
    ],
  };
  const checks = evaluateChecks(t);
  assert.equal(checks.activationFromZero.ok, true);
  assert.equal(checks.activationFromZero.delayMs, 200);
  assert.equal(checks.scaleUp.ok, true);
  assert.deepEqual(checks.scaleUp.metrics, ['rps']);
  assert.equal(checks.scaleDown.ok, true);
  assert.equal(checks.scaleDown.fromReplicas, 5);
  assert.equal(checks.scaleDown.toReplicas, 2);
  assert.equal(checks.returnToInactive.ok, true);
  assert.equal(checks.returnToInactive.afterLastRequestMs, 600);
  const phases = summarizePhases(t);
  assert.equal(phases.length, 5);
  assert.equal(phases[1]!.active, 'mixed');
  assert.equal(phases[2]!.rps.max, 450);
  const text = renderSummary(phases, checks);
  assert.equal(text.match(/\[PASS\]/g)?.length, 4);
  assert.ok(text.includes('All four checks passed.'));
  for (const p of ['idle', 'first-request', 'ramp-up', 'ramp-down', 'final-idle']) assert.ok(text.includes(p));
});

test('summary: each check fails on the timeline that lacks its event', () => {
  const t: DemoTimeline = {
    phaseStarts,
    firstRequestAtMs: 1_000,
    lastRequestAtMs: 3_900,
    samples: [
      record(500, 'idle', true, 0, 1), // already active: not "from zero"
      record(2_500, 'ramp-up', true, 90, 1), // never above 1 replica
      record(3_500, 'ramp-down', true, 90, 1),
      record(4_500, 'final-idle', true, 0, 1), // never inactive again
    ],
  };
  const checks = evaluateChecks(t);
  assert.equal(checks.activationFromZero.ok, false);
  assert.equal(checks.scaleUp.ok, false);
  assert.equal(checks.scaleDown.ok, false);
  assert.equal(checks.returnToInactive.ok, false);
  const text = renderSummary(summarizePhases(t), checks);
  assert.equal(text.match(/\[FAIL\]/g)?.length, 4);
});

test('summary: a dip during the ramp up is not a scale-down', () => {
  const t: DemoTimeline = {
    phaseStarts,
    firstRequestAtMs: 1_000,
    lastRequestAtMs: 3_900,
    samples: [
      record(500, 'idle', false, 0, 0),
      record(1_200, 'first-request', true, 1, 1),
      record(2_200, 'ramp-up', true, 300, 3),
      record(2_600, 'ramp-up', true, 200, 2),
      record(3_500, 'ramp-down', true, 300, 3),
      record(4_500, 'final-idle', false, 0, 0),
    ],
  };
  assert.equal(evaluateChecks(t).scaleDown.ok, false);
});
