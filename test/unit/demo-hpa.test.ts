import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hpaDesiredReplicas, type HpaInput, type HpaReason } from '../../src/demo/hpa.js';

const base: HpaInput = {
  metricType: 'Value',
  currentReplicas: 1,
  metricValue: 0,
  target: 50,
  minReplicas: 1,
  maxReplicas: 10,
  active: true,
  inactiveForMs: 0,
  cooldownMs: 0,
};

interface Row {
  readonly name: string;
  readonly input: Partial<HpaInput>;
  readonly replicas: number;
  readonly reason: HpaReason;
  readonly formula?: string;
}

const rows: readonly Row[] = [
  { name: 'Value: 1 x 162/50 -> 4', input: { metricValue: 162, unit: 'ms' }, replicas: 4, reason: 'formula', formula: 'ceil(1 x 162 ms / 50 ms) = ceil(3.24) = 4' },
  { name: 'Value: proportional to current replicas', input: { currentReplicas: 3, metricValue: 75 }, replicas: 5, reason: 'formula' },
  { name: 'Value: exact multiple is not rounded up', input: { currentReplicas: 2, metricValue: 100 }, replicas: 4, reason: 'formula' },
  { name: 'Value: within 10 % tolerance keeps replicas', input: { currentReplicas: 2, metricValue: 54 }, replicas: 2, reason: 'within-tolerance' },
  { name: 'Value: just outside tolerance scales', input: { currentReplicas: 2, metricValue: 56 }, replicas: 3, reason: 'formula' },
  { name: 'Value: low value scales down to min', input: { currentReplicas: 3, metricValue: 5 }, replicas: 1, reason: 'formula' },
  { name: 'Value: zero clamps to min', input: { currentReplicas: 3, metricValue: 0, minReplicas: 2 }, replicas: 2, reason: 'clamped-min' },
  { name: 'AverageValue: total/target -> 5', input: { metricType: 'AverageValue', metricValue: 453, target: 100, unit: 'rps' }, replicas: 5, reason: 'formula', formula: 'ceil(453 rps / 100 rps) = ceil(4.53) = 5' },
  { name: 'AverageValue: independent of current replicas', input: { metricType: 'AverageValue', currentReplicas: 7, metricValue: 453, target: 100 }, replicas: 5, reason: 'formula' },
  { name: 'AverageValue: tolerance uses target x current', input: { metricType: 'AverageValue', currentReplicas: 3, metricValue: 310, target: 100 }, replicas: 3, reason: 'within-tolerance' },
  { name: 'AverageValue: scale down', input: { metricType: 'AverageValue', currentReplicas: 5, metricValue: 120, target: 100 }, replicas: 2, reason: 'formula' },
  { name: 'AverageValue: clamps to max', input: { metricType: 'AverageValue', metricValue: 5000, target: 100 }, replicas: 10, reason: 'clamped-max' },
  { name: 'AverageValue: concurrency 16 / 4 -> 4', input: { metricType: 'AverageValue', metricValue: 16, target: 4 }, replicas: 4, reason: 'formula' },
  { name: 'KEDA: active at zero -> 1', input: { currentReplicas: 0, metricValue: 500 }, replicas: 1, reason: 'activate' },
  { name: 'KEDA: inactive at zero stays 0', input: { currentReplicas: 0, active: false }, replicas: 0, reason: 'stay-at-zero' },
  { name: 'KEDA: inactive past cooldown -> 0', input: { currentReplicas: 4, active: false, inactiveForMs: 300_000, cooldownMs: 300_000 }, replicas: 0, reason: 'scale-to-zero' },
  { name: 'KEDA: inactive inside cooldown -> HPA keeps min', input: { currentReplicas: 4, active: false, inactiveForMs: 1_000, cooldownMs: 300_000 }, replicas: 1, reason: 'clamped-min' },
  { name: 'NaN value counts as 0', input: { currentReplicas: 2, metricValue: Number.NaN }, replicas: 1, reason: 'clamped-min' },
];

for (const row of rows) {
  test(`hpa: ${row.name}`, () => {
    const d = hpaDesiredReplicas({ ...base, ...row.input });
    assert.equal(d.replicas, row.replicas, d.formula);
    assert.equal(d.reason, row.reason, d.formula);
    if (row.formula) assert.equal(d.formula, row.formula);
    assert.ok(d.formula.length > 0);
  });
}

test('hpa: a non-positive target is rejected', () => {
  assert.throws(() => hpaDesiredReplicas({ ...base, target: 0 }), RangeError);
});
