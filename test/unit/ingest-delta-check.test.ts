import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkTargetDelta } from '../../src/ingest/delta-check.js';
import { targetDeltaSchema } from '../../src/ingest/schema.js';

/**
 * The hand-written hot-path check against the zod schema it mirrors: a corpus built from the
 * schema's own field list (so a field added to the schema is mutated here too) must get the
 * same verdict from both, and rejections must name the same field first.
 */

function valid(): Record<string, unknown> {
  return {
    target_id: 'abc123',
    requests: 5,
    latency_sum_us: 5000,
    in_flight: 1,
    accepted_connections: 2,
    demand_attempts: 3,
    demand_refused: 1,
    bucket_index: [10, 20, 30],
    bucket_count: [1, 2, 2],
  };
}

const BAD_VALUES: readonly unknown[] = [undefined, null, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 1e30, '7', '', 'x'.repeat(65), true, {}, [], [-1], [1.5], [384], [2, 1], [1, 1], Array.from({ length: 385 }, (_, i) => i)];

function corpus(): Record<string, unknown>[] {
  const cases: Record<string, unknown>[] = [valid()];
  const fields = Object.keys(targetDeltaSchema.shape);
  for (const field of fields) {
    for (const bad of BAD_VALUES) cases.push({ ...valid(), [field]: bad });
    const without = valid();
    delete without[field];
    cases.push(without);
  }
  // cross-field rules and edges
  cases.push({ ...valid(), bucket_index: [1, 2], bucket_count: [1] });
  cases.push({ ...valid(), demand_refused: 4, demand_attempts: 3 });
  cases.push({ ...valid(), bucket_index: [], bucket_count: [] });
  cases.push({ ...valid(), bucket_index: [0, 383], bucket_count: [1e9, 0] });
  cases.push({ ...valid(), requests: 1e9, in_flight: 1e9 + 1 });
  cases.push({ ...valid(), latency_sum_us: 1e9 * (2 ** 27 - 1) });
  cases.push({ ...valid(), extra_field: 'ignored' });
  // a deterministic spray of random deltas
  let seed = 7;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let i = 0; i < 500; i++) {
    const c = valid();
    for (const field of fields) if (rnd() < 0.1) c[field] = BAD_VALUES[Math.floor(rnd() * BAD_VALUES.length)];
    cases.push(c);
  }
  return cases;
}

test('checkTargetDelta and targetDeltaSchema agree on every case of the corpus', () => {
  let accepted = 0;
  let rejected = 0;
  for (const c of [...corpus(), null, 'x', 42, [valid()]]) {
    const zod = targetDeltaSchema.safeParse(c);
    const hand = checkTargetDelta(c);
    assert.equal(hand.ok, zod.success, `verdicts differ for ${JSON.stringify(c)}: hand ${JSON.stringify(hand)}`);
    if (!zod.success && !hand.ok) {
      const zodField = String(zod.error.issues[0]?.path[0] ?? 'delta');
      assert.equal(hand.field, zodField, `first field differs for ${JSON.stringify(c)}`);
      rejected++;
    } else accepted++;
  }
  assert.ok(accepted > 10 && rejected > 200, `${accepted} accepted, ${rejected} rejected`);
});
