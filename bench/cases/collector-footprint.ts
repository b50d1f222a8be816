import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KedaClient } from '../../src/keda/client.js';
import { StandInApiServer } from '../../test/helpers/kube-apiserver.js';
import { pod } from '../../test/helpers/kube-fixtures.js';
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
 * the node serves ~25k req/s: nginx `return 200` in a netns (CPU 0) driven by wrk (CPU 1)
 * paced by a Lua delay (each connection waits 1 ms between requests). CPU share of the
 * collector process from /proc over the loaded interval, normalised per 10k req/s, and its
 * peak RSS, idle seconds after start included. The collector's user space only reads maps
 * once per tick, so its CPU is mostly the tick, not per request; the per-request kernel cost
 * is case 2.
 *
 * Measured twice, one collector at a time, with the node flags the DaemonSet ships: in
 * Kubernetes mode as the DaemonSet runs it (watching this node's pods on a stand-in API
 * server, test/helpers/kube-apiserver.ts, since no real one runs here; the Kubernetes
 * client's modules are most of the difference), which is the goal's figure, and without
 * Kubernetes (`--kubernetes off`, as outside a cluster).
 */

const NGINX_PORT = 8093;
const PACED_SCRIPT = 'delay = function() return 1 end\n';
const CONNECTIONS = 32;
const NODE_NAME = 'bench-node';
/** Pods the stand-in API server lists on this node (a busy node runs 30-110) and on another. */
const PODS_HERE = 60;
const PODS_ELSEWHERE = 40;

interface CollectorMeasure {
  readonly rps: number;
  readonly cpuShare: number;
  readonly per10k: number;
  readonly rssMb: number;
  readonly idleCpuShare: number;
  readonly idleRssMb: number;
  readonly scalerCpuShare: number;
  readonly scalerRps: number;
  readonly seconds: number;
}

async function standInApi(): Promise<StandInApiServer> {
  const api = new StandInApiServer();
  await api.start();
  for (let i = 0; i < PODS_HERE + PODS_ELSEWHERE; i++) {
    api.apply(
      pod({
        namespace: `team-${i % 7}`,
        name: `app-${i}`,
        uid: randomUUID(),
        nodeName: i < PODS_HERE ? NODE_NAME : 'other-node',
        labels: { app: `app-${i % 13}`, tier: i % 2 ? 'web' : 'worker' },
        ports: [{ name: 'http', containerPort: 8080 }],
        containerIds: [randomBytes(32).toString('hex')],
      }),
    );
  }
  return api;
}

export async function collectorFootprint(
  ctx: CaseContext,
): Promise<{ collector: { cpuSharePer10k: number; rssMb: number; rssMbWithoutKubernetes: number }; notes: CaseNotes }> {
  const seconds = ctx.quick ? 12 : 30;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kes-bench-col-'));
  const script = path.join(dir, 'paced.lua');
  fs.writeFileSync(script, PACED_SCRIPT);
  const ns = createNetns('bench-col');
  const port = await freePort();
  let scaler: CliProcess | undefined;
  let nginx: Awaited<ReturnType<typeof startNginx>> | undefined;
  let api: StandInApiServer | undefined;
  const client = new KedaClient(`127.0.0.1:${port}`);
  const collectorNodeFlags = shippedCollectorNodeFlags();
  try {
    nginx = await startNginx(ns, { port: NGINX_PORT, cpus: '0' });
    const ingestPort = await freePort();
    scaler = spawnCli('scaler', ['--listen', `127.0.0.1:${port}`, '--ingest-listen', `127.0.0.1:${ingestPort}`, '--ingest-auth', 'none', '--log-level', 'info']);
    await scaler.waitForLog(/scaler listening/, 30_000);
    const ref = { name: 'footprint', namespace: 'bench', metadata: { port: String(NGINX_PORT), netns: ns.path, metric: 'rps', targetValue: '1000', window: '10s' } };
    const metricName = await client.metricName(ref);
    api = await standInApi();
    const kubeconfig = api.writeKubeconfig(dir);

    const measure = async (label: string, modeArgs: readonly string[]): Promise<CollectorMeasure> => {
      const collector = spawnCli('collector', ['--scaler', `127.0.0.1:${ingestPort}`, '--node', NODE_NAME, '--tick', '1s', '--log-level', 'info', ...modeArgs], {
        nodeFlags: collectorNodeFlags,
      });
      try {
        await collector.waitForLog(/collector running/, 30_000);
        await collector.waitForLog(/watch set changed/, 20_000);
        await sleep(1500);
        const idle = new ProcessMeter(collector.pid);
        idle.start();
        await sleep(3000);
        const idleUsage = idle.stop();

        const load = runWrk(ns, { url: `http://127.0.0.1:${NGINX_PORT}/`, seconds, connections: CONNECTIONS, cpus: '1', script });
        await sleep(1500);
        const meter = new ProcessMeter(collector.pid);
        const scalerMeter = new ProcessMeter(scaler!.pid);
        meter.start();
        scalerMeter.start();
        await sleep((seconds - 3) * 1000);
        const usage = meter.stop();
        const scalerUsage = scalerMeter.stop();
        const scalerRps = await client.metricValue(ref, metricName);
        const wrk = await load;
        const per10k = usage.cpuShare / (wrk.rps / 10_000);
        ctx.log(
          `collector (${label}): ${wrk.rps.toFixed(0)} req/s, CPU ${(usage.cpuShare * 100).toFixed(2)}% of a core (${(per10k * 100).toFixed(2)}% per 10k req/s), peak RSS ${usage.peakRssMb.toFixed(1)} MB; idle ${(idleUsage.cpuShare * 100).toFixed(2)}%, ${idleUsage.peakRssMb.toFixed(1)} MB; scaler sees ${scalerRps.toFixed(0)} req/s`,
        );
        return {
          rps: wrk.rps,
          cpuShare: usage.cpuShare,
          per10k,
          // Its first seconds may be its peak (Kubernetes mode: the pod list, compiling): the
          // figure to size a memory request by is the larger of the two.
          rssMb: Math.max(usage.peakRssMb, idleUsage.peakRssMb),
          idleCpuShare: idleUsage.cpuShare,
          idleRssMb: idleUsage.peakRssMb,
          scalerCpuShare: scalerUsage.cpuShare,
          scalerRps,
          seconds: usage.wallMs / 1000,
        };
      } finally {
        await collector.stop();
      }
    };

    const kube = await measure('Kubernetes mode, as the DaemonSet runs it', ['--kubernetes', 'on', '--kubeconfig', kubeconfig]);
    await sleep(500);
    const plain = await measure('without Kubernetes', ['--kubernetes', 'off']);
    const notesOf = (m: CollectorMeasure): CaseNotes => ({
      loadRps: round(m.rps, 0),
      collectorCpuPct: round(m.cpuShare * 100, 2),
      cpuPctPer10k: round(m.per10k * 100, 3),
      rssMb: round(m.rssMb, 1),
      idleCollectorCpuPct: round(m.idleCpuShare * 100, 2),
      idleRssMb: round(m.idleRssMb, 1),
      scalerCpuPct: round(m.scalerCpuShare * 100, 2),
      scalerRpsMetric: round(m.scalerRps, 0),
      measuredSeconds: round(m.seconds, 1),
    });
    return {
      collector: { cpuSharePer10k: round(kube.per10k, 4), rssMb: round(kube.rssMb, 1), rssMbWithoutKubernetes: round(plain.rssMb, 1) },
      notes: {
        ...Object.fromEntries(Object.entries(notesOf(kube)).map(([k, v]) => [`kubernetesMode.${k}`, v])),
        ...Object.fromEntries(Object.entries(notesOf(plain)).map(([k, v]) => [`withoutKubernetes.${k}`, v])),
        collectorNodeFlags: collectorNodeFlags.join(' '),
        setup: `nginx return 200 (1 worker, CPU 0), wrk -t1 -c${CONNECTIONS} with a 1 ms Lua delay per request (CPU 1), collector --tick 1s -> scaler, both unpinned; Kubernetes mode against a stand-in API server listing ${PODS_HERE} pods on this node and ${PODS_ELSEWHERE} elsewhere`,
      },
    };
  } finally {
    client.close();
    await scaler?.stop();
    await api?.stop();
    await nginx?.stop();
    await sleep(200);
    ns.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
