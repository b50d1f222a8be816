/**
 * What wrk 4.1.0 does to its latency samples after a run, so the accuracy bench can show
 * why wrk's percentiles are not ground truth for variable delays. After the run wrk takes
 * the expected interval between two requests of one connection (run time divided by
 * requests per connection) and, for every recorded latency of at least twice that
 * interval, adds synthetic samples at the latency minus one interval, minus two, ...
 * (its coordinated-omission correction, `stats_correct` in src/stats.c). With service
 * times that vary by design, the slow requests are not omissions, so the added samples
 * shift every quantile up. Re-implemented here from that description (latencies in us).
 */
export function wrkStatsCorrect(latenciesUs: readonly number[], runtimeUs: number, connections: number): number[] {
  const out = latenciesUs.map((v) => Math.round(v));
  const perConnection = Math.floor(latenciesUs.length / connections);
  if (perConnection <= 0) return out;
  const expected = Math.floor(runtimeUs / perConnection);
  if (expected <= 0) return out;
  for (const value of latenciesUs.map((v) => Math.round(v))) {
    if (value < 2 * expected) continue;
    for (let m = value - expected; m > expected; m -= expected) out.push(m);
  }
  return out;
}
