import { z } from 'zod';
import { BUCKET_COUNT, MAX_TRACKED_US } from '../histogram/layout.js';
import { MAX_COUNT_PER_REPORT, MAX_REPORT_INTERVAL_MS } from '../scaler/limits.js';

/**
 * What a collector may send, after protobuf decoding (64-bit ints arrive as JS numbers).
 * The protobuf types say little (uint64 can be 2^64-1, repeated fields any length); these
 * schemas say what is plausible. A bad report-level field rejects the report; a bad target
 * delta rejects that delta only.
 */

export const SUPPORTED_PROTOCOL_VERSION = 1;

export const helloSchema = z.object({
  protocol_version: z.number().int(),
  node_name: z.string().max(253),
  collector_id: z.string().min(1, 'collector_id must not be empty').max(128),
  version: z.string().max(128),
  hook_rung: z.string().max(32),
  capabilities: z.array(z.string().max(64)).max(64),
  monotonic_ms: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
});

export type HelloInput = z.input<typeof helloSchema>;

const count = z.number().int().min(0).max(MAX_COUNT_PER_REPORT);

export const targetDeltaSchema = z
  .object({
    target_id: z.string().min(1).max(64),
    requests: count,
    latency_sum_us: z.number().int().min(0).max(MAX_COUNT_PER_REPORT * MAX_TRACKED_US),
    in_flight: z.number().int().min(0).max(MAX_COUNT_PER_REPORT),
    accepted_connections: count,
    demand_attempts: count,
    demand_refused: count,
    bucket_index: z.array(z.number().int().min(0).max(BUCKET_COUNT - 1, `bucket index must be < ${BUCKET_COUNT}`)).max(BUCKET_COUNT),
    bucket_count: z.array(count).max(BUCKET_COUNT),
    // holdAtZero (absent from collectors that predate it)
    listeners: z.number().int().min(0).max(MAX_COUNT_PER_REPORT).optional(),
    held_connections: count.optional(),
    released_connections: count.optional(),
    timed_out_connections: count.optional(),
    // listen-queue overflow (absent from collectors that predate it)
    listen_syn_drops: count.optional(),
    listen_ack_drops: count.optional(),
    listen_syns: count.optional(),
    accept_queue_sum: count.optional(),
    accept_backlog: count.optional(),
    // protocol framing (absent from collectors that predate it)
    h2c_connections: count.optional(),
    tls_connections: count.optional(),
    tls_h2_connections: count.optional(),
    h2_streams_over_limit: count.optional(),
    framing_lost: count.optional(),
    interim_responses: count.optional(),
  })
  .superRefine((d, ctx) => {
    if (d.bucket_index.length !== d.bucket_count.length) {
      ctx.addIssue({ code: 'custom', path: ['bucket_count'], message: `bucket_index has ${d.bucket_index.length} entries, bucket_count ${d.bucket_count.length}` });
    }
    for (let i = 1; i < d.bucket_index.length; i++) {
      if (d.bucket_index[i]! <= d.bucket_index[i - 1]!) {
        ctx.addIssue({ code: 'custom', path: ['bucket_index'], message: 'bucket indices must be strictly ascending' });
        break;
      }
    }
    if (d.demand_refused > d.demand_attempts) {
      ctx.addIssue({ code: 'custom', path: ['demand_refused'], message: 'more refused attempts than attempts' });
    }
  });

export type TargetDeltaInput = z.input<typeof targetDeltaSchema>;

/** Report-level fields; the deltas are checked one by one so one bad target spoils only itself. */
export function reportSchema(maxTargetsPerReport: number) {
  return z.object({
    sequence: z.number().int().min(1, 'sequence starts at 1').max(Number.MAX_SAFE_INTEGER),
    interval_ms: z.number().int().min(1, 'interval_ms must be > 0').max(MAX_REPORT_INTERVAL_MS, `interval_ms must be <= ${MAX_REPORT_INTERVAL_MS}`),
    end_unix_ms: z.number().int().min(0),
    targets: z.array(z.unknown()).max(maxTargetsPerReport, `more than ${maxTargetsPerReport} targets in one report`),
    wakeup: z.boolean(),
    end_monotonic_ms: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  });
}

export interface ReportInput {
  readonly sequence: number;
  readonly interval_ms: number;
  readonly end_unix_ms: number;
  readonly targets: readonly TargetDeltaInput[];
  readonly wakeup: boolean;
  /** The interval's end on the collector's monotonic clock (see Hello.monotonic_ms); 0/absent: none. */
  readonly end_monotonic_ms?: number;
}

/** "field: message" for the first issue, for one log line and the counter's reason. */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid';
  const path = issue.path.map(String).join('.');
  return path ? `${path}: ${issue.message}` : issue.message;
}
