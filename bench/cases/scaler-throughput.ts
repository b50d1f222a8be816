import { Histogram } from '../../src/histogram/histogram.js';
import { KedaClient } from '../../src/keda/client.js';
import { ProcessMeter } from '../lib/proc-stat.js';
import { REPO, freePort, spawnCli } from '../lib/procs.js';
import { round, sleep } from '../lib/stats.js';
import type { CaseContext, CaseNotes } from '../lib/types.js';
import { kedaTargetRef } from '../workers/keda-targets.js';
import { runWorker } from '../lib/workers.js';

/**
 * Case 6: KEDA-shaped load on one `scaler` process: 1,000 targets, CLIENTS client processes
 * (one gRPC connection each) running CONCURRENCY poll loops each (GetMetricSpec +
 * GetMetrics + IsActive per poll). RPC/s = completed RPCs / wall time; p99 over every RPC.
 * All on 2 cores: the scaler (one event loop) and the client processes share them.
 */

const TARGETS = 1000;

export async function scalerThroughput(ctx: CaseContext): Promise<{ scaler: { rps: number; p99Ms: number }; notes: CaseNotes }> {
  // Tuned on this machine: fewer client processes with more loops each cost less CPU per RPC
  // (HTTP/2 frames batch), which leaves more of the 2 cores to the scaler.
  const clients = Number(process.env.BENCH_SCALER_CLIENTS ?? 2);
  const concurrency = Number(process.env.BENCH_SCALER_LOOPS ?? 16);
  const seconds = ctx.quick ? 5 : 15;
  const port = await freePort();
  const scaler = spawnCli('scaler', ['--listen', `127.0.0.1:${port}`, '--ingest-listen', '127.0.0.1:0', '--ingest-auth', 'none', '--max-targets', String(TARGETS * 2), '--log-level', 'warn']);
  const setup = new KedaClient(`127.0.0.1:${port}`);
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        await setup.isActive(kedaTargetRef(0), 1000);
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await sleep(200);
      }
    }
    // Register every target first (KEDA's first GetMetricSpec does it): the run measures steady state.
    for (let i = 0; i < TARGETS; i += 50) await Promise.all(Array.from({ length: Math.min(50, TARGETS - i) }, (_, k) => setup.metricName(kedaTargetRef(i + k))));
    const startMs = Date.now() + 1500;
    const endMs = startMs + seconds * 1000;
    const per = TARGETS / clients;
    const meter = new ProcessMeter(scaler.pid);
    const clientMeters: ProcessMeter[] = [];
    const runs = Array.from({ length: clients }, (_, c) =>
      runWorker(
        `${REPO}/bench/workers/keda-load.ts`,
        [`127.0.0.1:${port}`, String(Math.round(c * per)), String(Math.round((c + 1) * per)), String(concurrency), String(startMs), String(endMs)],
        (seconds + 30) * 1000,
        (pid) => clientMeters.push(new ProcessMeter(pid)),
      ),
    );
    await sleep(Math.max(0, startMs - Date.now()));
    meter.start();
    for (const m of clientMeters) m.start();
    await sleep(seconds * 1000 - 300);
    const clientCpu = clientMeters.reduce((sum, m) => sum + m.stop().cpuShare, 0);
    const outputs = await Promise.all(runs);
    const usage = meter.stop();
    const hist = new Histogram();
    let calls = 0;
    let errors = 0;
    let wallMs = 0;
    for (const out of outputs) {
      const r = JSON.parse(out) as { calls: number; errors: number; wallMs: number; buckets: { indices: number[]; counts: number[] } };
      calls += r.calls;
      errors += r.errors;
      wallMs = Math.max(wallMs, r.wallMs);
      hist.addSparse(r.buckets);
    }
    const rps = calls / (wallMs / 1000);
    const p99Ms = hist.quantileUs(0.99) / 1000;
    ctx.log(
      `scaler: ${rps.toFixed(0)} RPC/s, p50 ${(hist.quantileUs(0.5) / 1000).toFixed(2)} ms, p99 ${p99Ms.toFixed(2)} ms, ${errors} errors, ` +
        `scaler CPU ${usage.cpuShare.toFixed(2)} cores, clients ${clientCpu.toFixed(2)} cores (${clients} x ${concurrency} loops)`,
    );
    return {
      scaler: { rps: round(rps, 0), p99Ms: round(p99Ms, 3) },
      notes: {
        targets: TARGETS,
        clientProcesses: clients,
        pollLoopsPerClient: concurrency,
        seconds,
        calls,
        errors,
        p50Ms: round(hist.quantileUs(0.5) / 1000, 3),
        p90Ms: round(hist.quantileUs(0.9) / 1000, 3),
        scalerCpuCores: round(usage.cpuShare, 3),
        clientCpuCores: round(clientCpu, 3),
        rpcPerScalerCpuSecond: round(rps / usage.cpuShare, 0),
        scalerPeakRssMb: round(usage.peakRssMb, 1),
        note: 'scaler and client processes share the 2 cores, unpinned (the grpc-js clients need more CPU per RPC than the scaler)',
      },
    };
  } finally {
    setup.close();
    await scaler.stop();
  }
}
