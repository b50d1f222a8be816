import { MAX_REPORT_INTERVAL_MS } from '../scaler/limits.js';

/**
 * The hot-path pre-check of a report's header (every field but the deltas, which
 * delta-check.ts checks one by one): true only when reportSchema (schema.ts, the source of
 * truth) accepts the report too, so a passing report skips zod (whose array check copied
 * every report's 100 targets). On false the caller runs zod, for its verdict and its
 * message. test/unit/ingest-report-header-check.test.ts holds it to that over a corpus.
 */
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

export function reportHeaderSurelyValid(report: unknown, maxTargetsPerReport: number): boolean {
  if (typeof report !== 'object' || report === null || Array.isArray(report)) return false;
  const r = report as Record<string, unknown>;
  const sequence = r['sequence'];
  const interval = r['interval_ms'];
  const end = r['end_unix_ms'];
  const targets = r['targets'];
  const monotonic = r['end_monotonic_ms'];
  return (
    isInt(sequence) &&
    sequence >= 1 &&
    isInt(interval) &&
    interval >= 1 &&
    interval <= MAX_REPORT_INTERVAL_MS &&
    isInt(end) &&
    end >= 0 &&
    Array.isArray(targets) &&
    targets.length <= maxTargetsPerReport &&
    typeof r['wakeup'] === 'boolean' &&
    (monotonic === undefined || (isInt(monotonic) && monotonic >= 0))
  );
}
