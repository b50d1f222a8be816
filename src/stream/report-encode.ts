import type { CollectorTick } from '../collector/types.js';
import type { Report } from '../proto/generated/kedaebpf/collector/v1/Report.js';
import type { TargetDelta } from '../proto/generated/kedaebpf/collector/v1/TargetDelta.js';

/** A collector tick as the wire Report with the given sequence (sparse buckets -> parallel arrays). */
export function tickToReport(tick: CollectorTick, sequence: number): Report {
  const targets: TargetDelta[] = tick.targets.map((t) => ({
    target_id: t.targetId,
    requests: t.requests,
    latency_sum_us: t.latencySumUs,
    in_flight: t.inFlight,
    accepted_connections: t.acceptedConnections,
    demand_attempts: t.demandAttempts,
    demand_refused: t.demandRefused,
    bucket_index: [...t.buckets.indices],
    bucket_count: [...t.buckets.counts],
  }));
  return {
    sequence,
    interval_ms: Math.max(0, Math.round(tick.intervalMs)),
    end_unix_ms: Math.round(tick.endUnixMs),
    targets,
    wakeup: tick.wakeup,
  };
}
