import type { z } from 'zod';
import { BUCKET_COUNT, MAX_TRACKED_US } from '../histogram/layout.js';
import { MAX_COUNT_PER_REPORT } from '../scaler/limits.js';
import type { targetDeltaSchema } from './schema.js';

/**
 * The hot-path check of a collector's target delta: the same rules as targetDeltaSchema
 * (schema.ts stays the source of truth for the shape and the type), hand-written because
 * ingest checks every delta of every report of every node (zod took a quarter of ingest
 * CPU). test/unit/ingest-delta-check.test.ts keeps the two equal: every case of a corpus
 * built from the schema's own fields must be accepted or rejected by both, naming the
 * same field first.
 */

export type TargetDelta = z.output<typeof targetDeltaSchema>;

export type DeltaCheck =
  | { readonly ok: true; readonly delta: TargetDelta }
  | { readonly ok: false; /** The first offending field (the reject counter's reason). */ readonly field: string; readonly problem: string };

// zod's .int() accepts safe integers only (|v| <= 2^53 - 1).
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

function count(v: unknown, max = MAX_COUNT_PER_REPORT): string | undefined {
  if (!isInt(v)) return 'expected an integer';
  if (v < 0) return 'must be >= 0';
  if (v > max) return `must be <= ${max}`;
  return undefined;
}

function fail(field: string, problem: string): DeltaCheck {
  return { ok: false, field, problem: `${field}: ${problem}` };
}

/** Fields in the schema's order, each with its rule (the first failing one is reported). */
const FIELD_RULES: readonly (readonly [string, (v: unknown) => string | undefined])[] = [
  ['target_id', (v) => (typeof v !== 'string' ? 'expected a string' : v.length < 1 ? 'must not be empty' : v.length > 64 ? 'must be at most 64 characters' : undefined)],
  ['requests', (v) => count(v)],
  ['latency_sum_us', (v) => count(v, MAX_COUNT_PER_REPORT * MAX_TRACKED_US)],
  ['in_flight', (v) => count(v)],
  ['accepted_connections', (v) => count(v)],
  ['demand_attempts', (v) => count(v)],
  ['demand_refused', (v) => count(v)],
  ['bucket_index', (v) => array(v, (i) => (!isInt(i) || i < 0 ? 'expected an integer >= 0' : i > BUCKET_COUNT - 1 ? `bucket index must be < ${BUCKET_COUNT}` : undefined))],
  ['bucket_count', (v) => array(v, (c) => count(c))],
];

/** Optional counters newer collectors send (absent from older ones), after the fields above. */
const OPTIONAL_COUNTS: readonly string[] = [
  'listeners',
  'held_connections',
  'released_connections',
  'timed_out_connections',
  'listen_syn_drops',
  'listen_ack_drops',
  'listen_syns',
  'accept_queue_sum',
  'accept_backlog',
  'h2c_connections',
  'tls_connections',
  'tls_h2_connections',
  'h2_streams_over_limit',
  'framing_lost',
  'interim_responses',
];

function array(v: unknown, element: (e: unknown) => string | undefined): string | undefined {
  if (!Array.isArray(v)) return 'expected an array';
  if (v.length > BUCKET_COUNT) return `must have at most ${BUCKET_COUNT} entries`;
  for (const e of v as unknown[]) {
    const problem = element(e);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

export function checkTargetDelta(raw: unknown): DeltaCheck {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return fail('delta', 'expected an object');
  const d = raw as Record<string, unknown>;
  for (const [field, rule] of FIELD_RULES) {
    const problem = rule(d[field]);
    if (problem !== undefined) return fail(field, problem);
  }
  for (const field of OPTIONAL_COUNTS) {
    const problem = d[field] === undefined ? undefined : count(d[field]);
    if (problem !== undefined) return fail(field, problem);
  }
  const index = d['bucket_index'] as readonly number[];
  const counts = d['bucket_count'] as readonly number[];
  if (index.length !== counts.length) return fail('bucket_count', `bucket_index has ${index.length} entries, bucket_count ${counts.length}`);
  for (let i = 1; i < index.length; i++) if (index[i]! <= index[i - 1]!) return fail('bucket_index', 'bucket indices must be strictly ascending');
  if ((d['demand_refused'] as number) > (d['demand_attempts'] as number)) return fail('demand_refused', 'more refused attempts than attempts');
  // Every rule of targetDeltaSchema holds: the object has its output shape.
  return { ok: true, delta: raw as TargetDelta };
}
