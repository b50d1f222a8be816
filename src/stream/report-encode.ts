import { monotonicMs } from '../clock.js';
import type { CollectorTick } from '../collector/types.js';

/** One target of a wire Report, every field set (the generated type makes them optional). */
export interface EncodedTargetDelta {
  target_id: string;
  requests: number;
  latency_sum_us: number;
  in_flight: number;
  accepted_connections: number;
  demand_attempts: number;
  demand_refused: number;
  bucket_index: number[];
  bucket_count: number[];
  listeners: number;
  held_connections: number;
  released_connections: number;
  timed_out_connections: number;
  listen_syn_drops: number;
  listen_ack_drops: number;
  listen_syns: number;
  accept_queue_sum: number;
  accept_backlog: number;
  h2c_connections: number;
  tls_connections: number;
  tls_h2_connections: number;
  h2_streams_over_limit: number;
  framing_lost: number;
  interim_responses: number;
}

/** A wire Report (kedaebpf.collector.v1.Report) with every field set. */
export interface EncodedReport {
  sequence: number;
  interval_ms: number;
  end_unix_ms: number;
  targets: EncodedTargetDelta[];
  wakeup: boolean;
  end_monotonic_ms: number;
}

/** A collector tick as the wire Report with the given sequence (sparse buckets -> parallel arrays). */
/**
 * A per-interval counter for a uint32 wire field (listen-queue and protocol counters are
 * uint32: decoding a zero uint64 allocates a Long per field and report, which cost the scaler
 * ~0.1 core at 50k deltas/s). A tick never comes near 2^32; saturate rather than wrap if one did.
 */
function u32(n: number | undefined): number {
  return Math.min(n ?? 0, 0xffff_ffff);
}

export function tickToReport(tick: CollectorTick, sequence: number): EncodedReport {
  const targets = tick.targets.map(
    (t): EncodedTargetDelta => ({
      target_id: t.targetId,
      requests: t.requests,
      latency_sum_us: t.latencySumUs,
      in_flight: t.inFlight,
      accepted_connections: t.acceptedConnections,
      demand_attempts: t.demandAttempts,
      demand_refused: t.demandRefused,
      bucket_index: [...t.buckets.indices],
      bucket_count: [...t.buckets.counts],
      listeners: t.listeners ?? 0,
      held_connections: t.heldConnections ?? 0,
      released_connections: t.releasedConnections ?? 0,
      timed_out_connections: t.timedOutConnections ?? 0,
      listen_syn_drops: u32(t.listenSynDrops),
      listen_ack_drops: u32(t.listenAckDrops),
      listen_syns: u32(t.listenSyns),
      accept_queue_sum: u32(t.acceptQueueSum),
      accept_backlog: u32(t.acceptBacklog),
      h2c_connections: u32(t.protocol?.h2cConnections),
      tls_connections: u32(t.protocol?.tlsConnections),
      tls_h2_connections: u32(t.protocol?.tlsH2Connections),
      h2_streams_over_limit: u32(t.protocol?.h2StreamsOverLimit),
      framing_lost: u32(t.protocol?.framingLost),
      interim_responses: u32(t.protocol?.interimResponses),
    }),
  );
  return {
    sequence,
    // A wake-up right after a tick can make a sub-millisecond interval; the protocol wants >= 1.
    interval_ms: Math.max(1, Math.round(tick.intervalMs)),
    end_unix_ms: Math.round(tick.endUnixMs),
    targets,
    wakeup: tick.wakeup,
    // Encoded right after the kernel read: the interval's end on this process's monotonic
    // clock, which the scaler places relative to this stream's Hello (wall clocks may step).
    end_monotonic_ms: Math.max(1, monotonicMs()),
  };
}
