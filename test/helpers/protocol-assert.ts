import assert from 'node:assert/strict';
import { Histogram } from '../../src/histogram/histogram.js';
import type { TargetDelta } from '../../src/collector/types.js';
import { errorPercent, exactQuantile, type RecordedRequests } from './protocol-workloads.js';

/** Issue 11's acceptance 1: the kernel's p50/p90 within 5 % of the client's, its request count within 2 %. */
const QUANTILE_TOLERANCE_PERCENT = 5;
const COUNT_TOLERANCE_PERCENT = 2;

/** Compares the kernel's tick with what the client recorded; prints the figures. */
export function assertMatches(label: string, delta: TargetDelta, truth: RecordedRequests): void {
  const kernel = Histogram.fromSparse(delta.buckets);
  const count = truth.latenciesUs.length;
  const countError = errorPercent(delta.requests, count);
  console.log(`${label}: kernel ${delta.requests} requests, client ${count} (${countError.toFixed(2)} %), in flight ${delta.inFlight}, failures ${truth.failures}, protocol ${JSON.stringify(delta.protocol)}`);
  console.log(`${label} p5: kernel ${(kernel.quantileUs(0.05) / 1000).toFixed(3)} ms, client ${(exactQuantile(truth.latenciesUs, 0.05) / 1000).toFixed(3)} ms`);
  for (const q of [0.5, 0.9]) {
    const k = kernel.quantileUs(q);
    const client = exactQuantile(truth.latenciesUs, q);
    const service = exactQuantile(truth.serviceUs, q);
    console.log(
      `${label} p${q * 100}: kernel ${(k / 1000).toFixed(3)} ms, client ${(client / 1000).toFixed(3)} ms (${errorPercent(k, client).toFixed(2)} %), ` +
        `drawn service ${(service / 1000).toFixed(3)} ms (${errorPercent(k, service).toFixed(2)} %)`,
    );
    assert.ok(Math.abs(errorPercent(k, client)) <= QUANTILE_TOLERANCE_PERCENT, `${label} p${q * 100}: kernel ${k} us vs client ${client} us`);
  }
  assert.equal(truth.failures, 0, 'every client request succeeded');
  assert.ok(Math.abs(countError) <= COUNT_TOLERANCE_PERCENT, `${label}: kernel counted ${delta.requests} requests, the client completed ${count}`);
  assert.equal(delta.inFlight, 0, 'nothing left in flight');
}

/** nginx's own $request_time beside the kernel's (msec resolution: printed, not asserted). */
export function printNginx(label: string, delta: TargetDelta, requestTimesUs: number[]): void {
  const kernel = Histogram.fromSparse(delta.buckets);
  for (const q of [0.5, 0.9]) {
    const n = exactQuantile(requestTimesUs, q);
    console.log(`${label} p${q * 100}: nginx $request_time ${(n / 1000).toFixed(3)} ms over ${requestTimesUs.length} requests, kernel ${(kernel.quantileUs(q) / 1000).toFixed(3)} ms (${errorPercent(kernel.quantileUs(q), n).toFixed(2)} %)`);
  }
}
