import os from 'node:os';
import { Histogram } from '../../src/histogram/histogram.js';
import type { SparseBuckets } from '../../src/histogram/histogram.js';
import { KedaClient } from '../../src/keda/client.js';
import { ProcessMeter, rssMb } from '../lib/proc-stat.js';
import { REPO, freePort, spawnNode, type CliProcess } from '../lib/procs.js';
import { shippedScalerNodeFlags } from '../lib/shipped-node-options.js';
import { round, sleep } from '../lib/stats.js';
import type { CaseContext, CaseNotes } from '../lib/types.js';
import { kedaTargetRef } from '../workers/keda-targets.js';

/**
 * Case 7: 500 simulated nodes x 100 target deltas, one report per node per second, into one
 * scaler (bench/workers/ingest-scaler.ts: createScalerServer + a lag-measuring store) over
 * real gRPC streams (one Connect stream per node; SIM_PROCESSES processes, each multiplexing
 * its nodes' streams on one HTTP/2 connection). 1,000 targets registered through
 * GetMetricSpec, so each target is reported by 50 nodes. Scaler CPU share and peak RSS from
 * /proc, report lag (merge time - report end time) p99 from the scaler.
 * With `--minutes N` it runs N minutes and reports the RSS plateau: RSS every 10 s, the
 * largest RSS of the first and of the last minute, and the slope over the second half.
 */

const NODES = 500;
const TARGETS_PER_NODE = 100;
const TARGETS = 1000;
const SIM_PROCESSES = 4;
const WARMUP_S = 3;

interface StatsLine {
  atMs: number;
  deltasAccepted: number;
  deltasUnknownTarget: number;
  reportsAccepted: number;
  reportsRejected: number;
  collectorsConnected: number;
  lag: SparseBuckets;
  eventLoopDelayP99Ms: number;
  eventLoopDelayMaxMs: number;
}

export async function ingest(ctx: CaseContext): Promise<{ ingest: { cpuShare: number; rssMb: number; lagMs: number }; notes: CaseNotes }> {
  const seconds = ctx.minutes !== undefined ? Math.round(ctx.minutes * 60) : ctx.quick ? 10 : 30;
  const port = await freePort();
  const ingestPort = await freePort();
  // Under the shipped heap limit (the manifests' NODE_OPTIONS): without one, V8 sizes its heap
  // from this machine's 24 GB and RSS says more about garbage than about the scaler.
  const nodeFlags = shippedScalerNodeFlags();
  const scaler = spawnNode(`${REPO}/bench/workers/ingest-scaler.ts`, [String(port), String(TARGETS * 2), String(ingestPort)], { nodeFlags });
  const stats: StatsLine[] = [];
  scaler.onLine((line) => {
    if (line.msg === 'ingest-stats') stats.push(line as unknown as StatsLine);
  });
  const sims: CliProcess[] = [];
  const client = new KedaClient(`127.0.0.1:${port}`);
  try {
    await scaler.waitForLog(/^listening$/, 30_000);
    for (let i = 0; i < TARGETS; i += 50) await Promise.all(Array.from({ length: Math.min(50, TARGETS - i) }, (_, k) => client.metricName(kedaTargetRef(i + k))));
    const per = NODES / SIM_PROCESSES;
    for (let p = 0; p < SIM_PROCESSES; p++) {
      sims.push(spawnNode(`${REPO}/bench/workers/collector-sim.ts`, [`127.0.0.1:${ingestPort}`, String(p * per), String(per), String(TARGETS_PER_NODE), String(TARGETS), String((seconds + WARMUP_S) * 1000)]));
    }
    const setupStart = performance.now();
    await Promise.all(sims.map((s) => s.waitForLog(/^ready$/, 120_000)));
    const setupS = (performance.now() - setupStart) / 1000;
    ctx.log(`ingest: ${NODES} simulated collectors connected in ${setupS.toFixed(1)} s`);
    for (const s of sims) s.child.kill('SIGUSR2');
    await sleep(WARMUP_S * 1000);
    const meter = new ProcessMeter(scaler.pid);
    const simMeters = sims.map((s) => new ProcessMeter(s.pid));
    const firstStat = stats.length;
    const rssAtStart = rssMb(scaler.pid);
    meter.start();
    for (const m of simMeters) m.start();
    const rssSeries: { s: number; mb: number }[] = [];
    const t0 = Date.now();
    const sampler = setInterval(() => rssSeries.push({ s: Math.round((Date.now() - t0) / 1000), mb: round(rssMb(scaler.pid), 1) }), 10_000);
    const minuteLog = setInterval(() => ctx.log(`ingest: ${Math.round((Date.now() - t0) / 60_000)} min, RSS ${rssMb(scaler.pid).toFixed(1)} MB, load ${os.loadavg()[0]?.toFixed(2)}`), 60_000);
    await sleep(seconds * 1000 - 500);
    clearInterval(sampler);
    clearInterval(minuteLog);
    const rssAtEnd = rssMb(scaler.pid);
    const usage = meter.stop();
    const simCpu = simMeters.reduce((sum, m) => sum + m.stop().cpuShare, 0);
    const window = stats.slice(firstStat);
    const lag = new Histogram();
    for (const s of window) lag.addSparse(s.lag);
    const firstLine = window[0];
    const lastLine = window.at(-1);
    const deltasPerS = firstLine && lastLine && lastLine.atMs > firstLine.atMs ? ((lastLine.deltasAccepted - firstLine.deltasAccepted) * 1000) / (lastLine.atMs - firstLine.atMs) : 0;
    const reportsPerS = firstLine && lastLine && lastLine.atMs > firstLine.atMs ? ((lastLine.reportsAccepted - firstLine.reportsAccepted) * 1000) / (lastLine.atMs - firstLine.atMs) : 0;
    const lagP99 = lag.quantileUs(0.99) / 1000;
    const maxMb = (xs: { mb: number }[]): number => (xs.length > 0 ? Math.max(...xs.map((x) => x.mb)) : 0);
    const secondHalf = rssSeries.filter((r) => r.s >= seconds / 2);
    const slope = secondHalf.length > 1 ? ((secondHalf.at(-1)!.mb - secondHalf[0]!.mb) / (secondHalf.at(-1)!.s - secondHalf[0]!.s)) * 60 : 0;
    const plateau: CaseNotes =
      ctx.minutes !== undefined
        ? {
            rssMaxFirstMinuteMb: maxMb(rssSeries.filter((r) => r.s <= 60)),
            rssMaxLastMinuteMb: maxMb(rssSeries.filter((r) => r.s >= seconds - 60)),
            rssSecondHalfSlopeMbPerMin: round(slope, 2),
            rssSeries: rssSeries.map((r) => `${r.s}s:${r.mb}`).join(' '),
          }
        : {};
    if (ctx.minutes !== undefined) ctx.log(`ingest: RSS plateau ${JSON.stringify(plateau)}`);
    ctx.log(
      `ingest: scaler CPU ${usage.cpuShare.toFixed(3)} cores, peak RSS ${usage.peakRssMb.toFixed(1)} MB, ${reportsPerS.toFixed(0)} reports/s, ${deltasPerS.toFixed(0)} deltas/s, ` +
        `lag p50 ${(lag.quantileUs(0.5) / 1000).toFixed(1)} ms p99 ${lagP99.toFixed(1)} ms; simulators ${simCpu.toFixed(2)} cores`,
    );
    await Promise.all(sims.map((s) => s.waitForLog(/^done$/, 30_000).catch(() => undefined)));
    return {
      ingest: { cpuShare: round(usage.cpuShare, 3), rssMb: round(usage.peakRssMb, 1), lagMs: round(lagP99, 1) },
      notes: {
        // The window store keeps MAX_HISTORY_SECONDS (600) one-second slots per target, so RSS
        // grows during a run until the history is full; the growth rate projects the steady state.
        rssGrowthMbPerS: round((rssAtEnd - rssAtStart) / ((seconds * 1000 - 500) / 1000), 2),
        rssAtMeasureStartMb: round(rssAtStart, 1),
        nodes: NODES,
        targetsPerNode: TARGETS_PER_NODE,
        registeredTargets: TARGETS,
        simulatorProcesses: SIM_PROCESSES,
        measuredSeconds: seconds,
        connectSetupS: round(setupS, 1),
        reportsPerS: round(reportsPerS, 0),
        deltasPerS: round(deltasPerS, 0),
        expectedDeltasPerS: NODES * TARGETS_PER_NODE,
        lagP50Ms: round(lag.quantileUs(0.5) / 1000, 1),
        lagMaxBucketMs: round(lag.quantileUs(1) / 1000, 1),
        unknownTargetDeltas: lastLine?.deltasUnknownTarget ?? 0,
        rejectedReports: lastLine?.reportsRejected ?? 0,
        collectorsConnected: lastLine?.collectorsConnected ?? 0,
        simulatorCpuCores: round(simCpu, 2),
        scalerEventLoopDelayP99MsWorstSecond: round(Math.max(...window.map((s) => s.eventLoopDelayP99Ms)), 1),
        scalerEventLoopDelayMaxMs: round(Math.max(...window.map((s) => s.eventLoopDelayMaxMs)), 1),
        ...plateau,
        scalerNodeFlags: nodeFlags.join(' '),
        loadAverage1mAtEnd: round(os.loadavg()[0] ?? 0, 2),
        lagDefinition: 'scaler merge time - report end_unix_ms (set when the simulator sent it); includes encode, HTTP/2, decode and the scaler event-loop queue',
      },
    };
  } finally {
    client.close();
    for (const s of sims) s.child.kill('SIGKILL');
    await scaler.stop();
  }
}
