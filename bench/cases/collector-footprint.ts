import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KedaClient } from '../../src/keda/client.js';
import { createNetns } from '../../test/helpers/netns.js';
import { startNginx } from '../lib/nginx.js';
import { ProcessMeter } from '../lib/proc-stat.js';
import { freePort, spawnCli, type CliProcess } from '../lib/procs.js';
import { shippedCollectorNodeFlags } from '../lib/shipped-node-options.js';
import { round, sleep } from '../lib/stats.js';
import type { CaseContext, CaseNotes } from '../lib/types.js';
import { runWrk } from '../lib/wrk.js';

/**
 * Case 8: the `collector` process (its own process, streaming to a `scaler` process) while
 * the node serves ~20k req/s: nginx `return 200` in a netns (CPU 0) driven by wrk (CPU 1)
 * paced by a Lua delay (each connection waits 1 ms between requests). CPU share of the
 * collector process from /proc over the loaded interval, normalised per 10k req/s, and its
 * peak RSS. The collector's user space only reads maps once per tick, so its CPU is mostly
 * the tick, not per request; the per-request kernel cost is case 2.
 */

const NGINX_PORT = 8093;
const PACED_SCRIPT = 'delay = function() return 1 end\n';
const CONNECTIONS = 32;

export async function collectorFootprint(ctx: CaseContext): Promise<{ collector: { cpuSharePer10k: number; rssMb: number }; notes: CaseNotes }> {
  const seconds = ctx.quick ? 12 : 30;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kes-bench-col-'));
  const script = path.join(dir, 'paced.lua');
  fs.writeFileSync(script, PACED_SCRIPT);
  const ns = createNetns('bench-col');
  const port = await freePort();
  let scaler: CliProcess | undefined;
  let collector: CliProcess | undefined;
  let nginx: Awaited<ReturnType<typeof startNginx>> | undefined;
  const client = new KedaClient(`127.0.0.1:${port}`);
  const collectorNodeFlags = shippedCollectorNodeFlags();
  try {
    nginx = await startNginx(ns, { port: NGINX_PORT, cpus: '0' });
    const ingestPort = await freePort();
    scaler = spawnCli('scaler', ['--listen', `127.0.0.1:${port}`, '--ingest-listen', `127.0.0.1:${ingestPort}`, '--ingest-auth', 'none', '--log-level', 'info']);
    await scaler.waitForLog(/scaler listening/, 30_000);
    collector = spawnCli('collector', ['--scaler', `127.0.0.1:${ingestPort}`, '--node', 'bench-node', '--tick', '1s', '--log-level', 'info'], { nodeFlags: collectorNodeFlags });
    await collector.waitForLog(/collector running/, 30_000);
    const ref = { name: 'footprint', namespace: 'bench', metadata: { port: String(NGINX_PORT), netns: ns.path, metric: 'rps', targetValue: '1000', window: '10s' } };
    const metricName = await client.metricName(ref);
    await collector.waitForLog(/watch set changed/, 20_000);
    await sleep(1500);
    const idle = new ProcessMeter(collector.pid);
    idle.start();
    await sleep(3000);
    const idleUsage = idle.stop();

    const load = runWrk(ns, { url: `http://127.0.0.1:${NGINX_PORT}/`, seconds, connections: CONNECTIONS, cpus: '1', script });
    await sleep(1500);
    const meter = new ProcessMeter(collector.pid);
    const scalerMeter = new ProcessMeter(scaler.pid);
    meter.start();
    scalerMeter.start();
    await sleep((seconds - 3) * 1000);
    const usage = meter.stop();
    const scalerUsage = scalerMeter.stop();
    const scalerRps = await client.metricValue(ref, metricName);
    const wrk = await load;
    const per10k = usage.cpuShare / (wrk.rps / 10_000);
    ctx.log(
      `collector: ${wrk.rps.toFixed(0)} req/s, CPU ${(usage.cpuShare * 100).toFixed(2)}% of a core (${(per10k * 100).toFixed(2)}% per 10k req/s), peak RSS ${usage.peakRssMb.toFixed(1)} MB; idle ${(idleUsage.cpuShare * 100).toFixed(2)}%; scaler sees ${scalerRps.toFixed(0)} req/s`,
    );
    return {
      collector: { cpuSharePer10k: round(per10k, 4), rssMb: round(usage.peakRssMb, 1) },
      notes: {
        loadRps: round(wrk.rps, 0),
        collectorCpuPct: round(usage.cpuShare * 100, 2),
        idleCollectorCpuPct: round(idleUsage.cpuShare * 100, 2),
        idleRssMb: round(idleUsage.peakRssMb, 1),
        scalerCpuPct: round(scalerUsage.cpuShare * 100, 2),
        scalerRpsMetric: round(scalerRps, 0),
        measuredSeconds: round(usage.wallMs / 1000, 1),
        collectorNodeFlags: collectorNodeFlags.join(' '),
        setup: `nginx return 200 (1 worker, CPU 0), wrk -t1 -c${CONNECTIONS} with a 1 ms Lua delay per request (CPU 1), collector --tick 1s -> scaler, both unpinned`,
      },
    };
  } finally {
    client.close();
    await collector?.stop();
    await scaler?.stop();
    await nginx?.stop();
    await sleep(200);
    ns.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
