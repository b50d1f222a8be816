import assert from 'node:assert/strict';
import { test } from 'node:test';
import { reportHeaderSurelyValid } from '../../src/ingest/report-header-check.js';
import { reportSchema } from '../../src/ingest/schema.js';

/**
 * The header pre-check may only let through what reportSchema accepts (zod stays the
 * source of truth); over this corpus it must agree with zod both ways, so it also spares
 * zod every valid report. Built from the schema's own fields: a field added there is
 * mutated here too.
 */
const MAX_TARGETS = 3;
const schema = reportSchema(MAX_TARGETS);

function valid(): Record<string, unknown> {
  return { sequence: 7, interval_ms: 1000, end_unix_ms: 1_700_000_000_000, targets: [{}, {}], wakeup: false, end_monotonic_ms: 12_345 };
}

const BAD_VALUES: readonly unknown[] = [undefined, null, -1, 0, 1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, 1e30, 60_001, 3_600_001, '7', '', true, false, {}, [], [{}, {}, {}], [{}, {}, {}, {}]];

test('the report header pre-check passes exactly what reportSchema accepts', () => {
  const cases: unknown[] = [valid(), null, [], 'report', 5];
  for (const field of Object.keys(schema.shape)) {
    for (const bad of BAD_VALUES) cases.push({ ...valid(), [field]: bad });
    const without = valid();
    delete without[field];
    cases.push(without);
  }
  cases.push({ ...valid(), extra: 'ignored' });
  let accepted = 0;
  for (const c of cases) {
    const zod = schema.safeParse(c).success;
    const fast = reportHeaderSurelyValid(c, MAX_TARGETS);
    if (fast) assert.ok(zod, `pre-check passed what zod rejects: ${JSON.stringify(c)}`);
    assert.equal(fast, zod, `same verdict: ${JSON.stringify(c)}`);
    if (zod) accepted++;
  }
  assert.ok(accepted > 10 && accepted < cases.length - 50, `both verdicts exercised (${accepted} of ${cases.length} accepted)`);
});
