import { BUCKET_COUNT } from '../histogram/layout.js';
import { TARGET_STATS } from '../bpf/abi.js';
import type { TargetDelta } from './types.js';

/**
 * Cumulative kernel counters -> per-tick deltas. Counters are u64 in the kernel, read as
 * doubles (exact to 2^53: centuries at a million requests per second, so u64 wrap is not
 * handled beyond that). A counter that went backwards means the slot was zeroed for reuse:
 * its new value is the delta. The kernel keeps the response path to two atomic adds, so
 * completed requests are the histogram's total and in-flight = started - completed - aborted.
 */

const at = TARGET_STATS.offsets;
const WORD = {
  requestsStarted: at.requests_started / 8,
  acceptedConnections: at.accepted_connections / 8,
  demandAttempts: at.demand_attempts / 8,
  demandRefused: at.demand_refused / 8,
  abortedRequests: at.aborted_requests / 8,
  latencySumUs: at.latency_sum_us / 8,
  buckets: at.latency_buckets / 8,
} as const;
export const STATS_WORDS = TARGET_STATS.bytes / 8;

/** One slot's counters as doubles (little-endian u64 words). */
export function decodeStats(raw: Uint8Array, offset: number, out: Float64Array): void {
  const view = new DataView(raw.buffer, raw.byteOffset + offset, TARGET_STATS.bytes);
  for (let w = 0; w < STATS_WORDS; w++) out[w] = view.getUint32(w * 8 + 4, true) * 4294967296 + view.getUint32(w * 8, true);
}

function delta(current: number, previous: number): number {
  return current >= previous ? current - previous : current;
}

/**
 * Requests in flight now, from one decoded snapshot (started - completed - aborted): a
 * gauge, never negative (a request can end in the instant between two reads).
 */
export function inFlightOf(current: Float64Array): number {
  return loadOf(current).inFlight;
}

/** In flight now and the cumulative completions and latency sum, from one decoded snapshot. */
export function loadOf(current: Float64Array): { inFlight: number; completed: number; latencySumUs: number } {
  let completed = 0;
  for (let i = 0; i < BUCKET_COUNT; i++) completed += current[WORD.buckets + i]!;
  const inFlight = Math.max(0, current[WORD.requestsStarted]! - completed - current[WORD.abortedRequests]!);
  return { inFlight, completed, latencySumUs: current[WORD.latencySumUs]! };
}

/** The delta between two decoded snapshots of one slot. */
export function statsDelta(targetId: string, current: Float64Array, previous: Float64Array): TargetDelta {
  const indices: number[] = [];
  const counts: number[] = [];
  let requests = 0;
  for (let i = 0; i < BUCKET_COUNT; i++) {
    const w = WORD.buckets + i;
    const d = delta(current[w]!, previous[w]!);
    if (d > 0) {
      indices.push(i);
      counts.push(d);
      requests += d;
    }
  }
  return {
    targetId,
    requests,
    latencySumUs: delta(current[WORD.latencySumUs]!, previous[WORD.latencySumUs]!),
    inFlight: inFlightOf(current),
    acceptedConnections: delta(current[WORD.acceptedConnections]!, previous[WORD.acceptedConnections]!),
    abortedRequests: delta(current[WORD.abortedRequests]!, previous[WORD.abortedRequests]!),
    demandAttempts: delta(current[WORD.demandAttempts]!, previous[WORD.demandAttempts]!),
    demandRefused: delta(current[WORD.demandRefused]!, previous[WORD.demandRefused]!),
    buckets: { indices, counts },
  };
}
