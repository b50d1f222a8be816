import { KedaClient, type KedaRef } from '../../src/keda/client.js';
import { createNetns } from '../../test/helpers/netns.js';
import { startNginx } from '../lib/nginx.js';
import { freePort, spawnCli } from '../lib/procs.js';
import { median, round, sleep } from '../lib/stats.js';
import type { CaseContext, CaseNotes } from '../lib/types.js';
import { runWrk } from '../lib/wrk.js';

/**
 * Case 5: a step change of server latency (nginx echo_sleep 5 ms -> 50 ms) -> time until
 * GetMetrics shows >= 90% of the new value (45 ms). The offered load stays constant across
 * the step (wrk with 10x the connections after it), otherwise a closed-loop client would
 * slow down with the server and starve the window of new samples. Each trial first fills
 * the whole 30 s window with fast requests, so the quantile must really move.
 * Two views of one target, polled every 20 ms: the default trigger (p95 over 30 s, the
 * headline figure) and a short window (p95 over 5 s).
 */

const FAST_S = 0.005;
const SLOW_S = 0.05;
const THRESHOLD_MS = Math.round(0.9 * SLOW_S * 1000 * 1000) / 1000;
const FAST_CONNECTIONS = 8;
const SLOW_CONNECTIONS = 80;
const POLL_MS = 20;
const OBSERVE_S = 8;

export async function freshness(ctx: CaseContext): Promise<{ freshnessS: number; notes: CaseNotes }> {
  const trials = ctx.quick ? 1 : 5;
  const ns = createNetns('bench-fresh');
  const nginxPort = 8092;
  const port = await freePort();
  const standalone = spawnCli('standalone', ['--listen', `127.0.0.1:${port}`, '--tick', '1s', '--log-level', 'warn']);
  const client = new KedaClient(`127.0.0.1:${port}`);
  let nginx: Awaited<ReturnType<typeof startNginx>> | undefined;
  try {
    nginx = await startNginx(ns, { port: nginxPort, cpus: '0' });
    // warn level: wait for the gRPC port instead of a log line.
    const base = { port: String(nginxPort), netns: ns.path, metric: 'latency', quantile: '0.95', targetValue: '10' };
    const views = [
      { name: 'p95/30s', ref: { name: 'fresh-30s', namespace: 'bench', metadata: { ...base, window: '30s' } } },
      { name: 'p95/5s', ref: { name: 'fresh-5s', namespace: 'bench', metadata: { ...base, window: '5s' } } },
    ] satisfies { name: string; ref: KedaRef }[];
    const metricNames: string[] = [];
    const deadline = Date.now() + 30_000;
    for (const view of views) {
      for (;;) {
        try {
          metricNames.push(await client.metricName(view.ref));
          break;
        } catch (err) {
          if (Date.now() > deadline) throw err;
          await sleep(200);
        }
      }
    }
    const results: Record<string, number[]> = Object.fromEntries(views.map((v) => [v.name, []]));
    const fastUrl = `http://127.0.0.1:${nginxPort}/sleep?t=${FAST_S}`;
    const slowUrl = `http://127.0.0.1:${nginxPort}/sleep?t=${SLOW_S}`;
    let fastRps = 0;
    let slowRps = 0;
    for (let trial = 0; trial < trials; trial++) {
      const fast = await runWrk(ns, { url: fastUrl, seconds: 31, connections: FAST_CONNECTIONS, cpus: '1' });
      fastRps = fast.rps;
      // Where the step falls within the collector's 1 s tick decides up to a second of the
      // figure; trials are otherwise evenly spaced and would all land on the same phase.
      await sleep(Math.random() * 1000);
      const before = await Promise.all(views.map((v, i) => client.metricValue(v.ref, metricNames[i]!)));
      const step = performance.now();
      const slow = runWrk(ns, { url: slowUrl, seconds: OBSERVE_S, connections: SLOW_CONNECTIONS, cpus: '1' });
      const reached: (number | undefined)[] = views.map(() => undefined);
      while (performance.now() - step < OBSERVE_S * 1000 && reached.some((r) => r === undefined)) {
        const values = await Promise.all(views.map((v, i) => client.metricValue(v.ref, metricNames[i]!)));
        const at = (performance.now() - step) / 1000;
        values.forEach((value, i) => {
          if (reached[i] === undefined && value >= THRESHOLD_MS) reached[i] = at;
        });
        await sleep(POLL_MS);
      }
      slowRps = (await slow).rps;
      views.forEach((v, i) => {
        if (reached[i] !== undefined) results[v.name]!.push(reached[i]);
      });
      ctx.log(
        `freshness trial ${trial + 1}: before ${before.map((b) => b.toFixed(2)).join('/')} ms; reached ${THRESHOLD_MS} ms after ` +
          views.map((v, i) => `${v.name} ${reached[i]?.toFixed(2) ?? `>${OBSERVE_S}`} s`).join(', ') +
          ` (fast ${fast.rps.toFixed(0)} req/s, slow ${slowRps.toFixed(0)} req/s)`,
      );
    }
    const main = results['p95/30s']!;
    return {
      freshnessS: round(median(main), 3),
      notes: {
        trials,
        headline: 'default trigger: latency p95 over a 30 s window, filled with 31 s of 5 ms requests before each step',
        p95Window30sS: main.map((v) => round(v, 2)).join(', ') || 'never',
        p95Window5sS: results['p95/5s']!.map((v) => round(v, 2)).join(', ') || 'never',
        p95Window5sMedianS: round(median(results['p95/5s']!), 3),
        step: `echo_sleep ${FAST_S * 1000} ms -> ${SLOW_S * 1000} ms, threshold ${THRESHOLD_MS} ms, poll every ${POLL_MS} ms, collector tick 1 s`,
        offeredLoad: `fast ${fastRps.toFixed(0)} req/s (${FAST_CONNECTIONS} conns), slow ${slowRps.toFixed(0)} req/s (${SLOW_CONNECTIONS} conns)`,
      },
    };
  } finally {
    client.close();
    await standalone.stop();
    await nginx?.stop();
    await sleep(200);
    ns.dispose();
  }
}
