import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Histogram } from '../../src/histogram/histogram.js';
import { KedaClient, toRef } from '../../src/keda/client.js';
import { loadExternalScaler } from '../../src/proto/load.js';
import { runH2load, type H2loadRun } from '../lib/h2load.js';
import { ProcessMeter } from '../lib/proc-stat.js';
import { freePort, spawnCli } from '../lib/procs.js';
import { shippedScalerNodeFlags } from '../lib/shipped-node-options.js';
import { round, sleep } from '../lib/stats.js';
import type { CaseContext, CaseNotes } from '../lib/types.js';
import { kedaTargetRef } from '../workers/keda-targets.js';

/**
 * Case 6: KEDA-shaped load on one `scaler` process with 1,000 registered targets. The load
 * comes from h2load (C, nghttp2), not from grpc-js clients that cost more CPU per RPC than
 * the scaler itself: per hot ScaledObject, one h2load process alternates GetMetricSpec and
 * IsActive and another calls GetMetrics, each message pre-encoded once, as KEDA resends the
 * same ScaledObjectRef on every poll. RPC/s = completed RPCs / wall time; p50/p99 over every
 * RPC from h2load's per-request log; the scaler's CPU-seconds per 10k RPC are reported
 * beside RPC/s so client cost cannot hide the server's.
 */

const TARGETS = 1000;

interface Point {
  readonly streams: number;
  readonly rps: number;
  readonly hist: Histogram;
  readonly p99Ms: number;
  readonly calls: number;
  readonly failed: number;
  readonly clientCores: number;
  readonly usage: { cpuMs: number; cpuShare: number; peakRssMb: number };
  readonly cpuSPer10k: number;
}

/** The sweep a full run adds to its main point (BENCH_SCALER_SWEEP overrides; a quick run sweeps only when asked). */
const FULL_RUN_SWEEP = '2,4,16';

export interface ScalerFigures {
  readonly rps: number;
  readonly p99Ms: number;
  /** Every concurrency measured (streams per h2load process) at which both goals hold; [] when none. */
  readonly goalsHoldAt: readonly { readonly streams: number; readonly rps: number; readonly p99Ms: number }[];
}

export async function scalerThroughput(ctx: CaseContext): Promise<{ scaler: ScalerFigures; notes: CaseNotes }> {
  const hot = Number(process.env.BENCH_SCALER_HOT_TARGETS ?? 2);
  const streams = Number(process.env.BENCH_SCALER_STREAMS ?? 8);
  const seconds = ctx.quick ? 5 : 15;
  const port = await freePort();
  // As shipped: the manifests' NODE_OPTIONS (heap limit).
  const nodeFlags = shippedScalerNodeFlags();
  const scaler = spawnCli('scaler', ['--listen', `127.0.0.1:${port}`, '--ingest-listen', '127.0.0.1:0', '--ingest-auth', 'none', '--max-targets', String(TARGETS * 2), '--log-level', 'warn'], { nodeFlags });
  const setup = new KedaClient(`127.0.0.1:${port}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kes-bench-h2load-'));
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
    const names: string[] = [];
    for (let i = 0; i < TARGETS; i += 50) {
      const batch = await Promise.all(Array.from({ length: Math.min(50, TARGETS - i) }, (_, k) => setup.metricName(kedaTargetRef(i + k))));
      names.push(...batch);
    }
    const service = loadExternalScaler().externalscaler.ExternalScaler.service;
    const base = `http://127.0.0.1:${port}/externalscaler.ExternalScaler`;
    const runs: H2loadRun[] = [];
    for (let i = 0; i < hot; i++) {
      const ref = toRef(kedaTargetRef(i));
      const metricName = names[i] ?? '';
      // h2load sees HTTP 200 for gRPC errors too: check each message once with a real client.
      await setup.metricValue(kedaTargetRef(i), metricName);
      runs.push({ name: `spec-active-${i}`, uris: [`${base}/GetMetricSpec`, `${base}/IsActive`], message: service.IsActive.requestSerialize(ref), connections: 1, streams });
      runs.push({ name: `metrics-${i}`, uris: [`${base}/GetMetrics`], message: service.GetMetrics.requestSerialize({ scaledObjectRef: ref, metricName }), connections: 1, streams });
    }
    /** One h2load run of `seconds` at `streams` concurrent streams per process. */
    const measure = async (streams: number): Promise<Point> => {
      const meter = new ProcessMeter(scaler.pid);
      meter.start();
      const started = performance.now();
      const results = await runH2load(
        runs.map((r) => ({ ...r, streams })),
        seconds,
        dir,
      );
      const wallMs = performance.now() - started;
      const usage = meter.stop();
      const hist = new Histogram();
      let calls = 0;
      let failed = 0;
      let clientCpuMs = 0;
      for (const r of results) {
        calls += r.requests;
        failed += r.failed;
        clientCpuMs += r.cpuMs;
        hist.merge(r.histogram);
      }
      return { streams, rps: calls / (wallMs / 1000), hist, p99Ms: hist.quantileUs(0.99) / 1000, calls, failed, clientCores: clientCpuMs / wallMs, usage, cpuSPer10k: usage.cpuMs / 1000 / (calls / 10_000) };
    };
    const describe = (m: Point): string =>
      `${m.rps.toFixed(0)} RPC/s, p50 ${(m.hist.quantileUs(0.5) / 1000).toFixed(2)} ms, p99 ${m.p99Ms.toFixed(2)} ms, ${m.failed} failed, ` +
      `scaler ${m.usage.cpuShare.toFixed(2)} cores (${m.cpuSPer10k.toFixed(3)} CPU-s per 10k RPC), h2load ${m.clientCores.toFixed(2)} cores ` +
      `(${runs.length} processes x ${m.streams} streams)`;
    const main = await measure(streams);
    ctx.log(`scaler: ${describe(main)}`);
    // BENCH_SCALER_SWEEP="1,2,4,16": the same load at other concurrencies, each reported the
    // same way, and the concurrencies (if any) where both goals hold (>= 10,000 RPC/s, p99 <= 5 ms).
    const sweep: Point[] = [];
    for (const s of (process.env.BENCH_SCALER_SWEEP ?? (ctx.quick ? '' : FULL_RUN_SWEEP)).split(',').map(Number).filter((n) => Number.isInteger(n) && n > 0)) {
      const point = s === streams ? main : await measure(s);
      sweep.push(point);
      ctx.log(`scaler sweep: ${describe(point)}`);
    }
    const meetsGoals = (m: Point): boolean => m.rps >= 10_000 && m.p99Ms <= 5;
    const held = new Map([main, ...sweep].filter(meetsGoals).map((m) => [m.streams, m]));
    const goalsHoldAt = [...held.values()].sort((a, b) => a.streams - b.streams).map((m) => ({ streams: m.streams, rps: round(m.rps, 0), p99Ms: round(m.p99Ms, 3) }));
    if (sweep.length > 0) {
      ctx.log(`scaler sweep: both goals (>= 10,000 RPC/s, p99 <= 5 ms) hold at ${goalsHoldAt.length > 0 ? goalsHoldAt.map((g) => `${g.streams} streams/process`).join(', ') : 'no concurrency measured'}`);
    }
    const { hist, calls, failed, usage } = main;
    return {
      scaler: { rps: round(main.rps, 0), p99Ms: round(main.p99Ms, 3), goalsHoldAt },
      notes: {
        targets: TARGETS,
        hotTargets: hot,
        loadGenerator: `h2load, ${runs.length} processes x 1 connection x ${streams} streams`,
        seconds,
        calls,
        failed,
        p50Ms: round(hist.quantileUs(0.5) / 1000, 3),
        p90Ms: round(hist.quantileUs(0.9) / 1000, 3),
        scalerCpuCores: round(usage.cpuShare, 3),
        scalerCpuSecondsPer10kRpc: round(main.cpuSPer10k, 3),
        clientCpuCores: round(main.clientCores, 3),
        ...(sweep.length > 0
          ? { sweep: sweep.map((m) => `${m.streams} streams: ${round(m.rps, 0)} RPC/s, p99 ${round(m.p99Ms, 2)} ms, ${round(m.cpuSPer10k, 3)} CPU-s/10k`).join('; ') }
          : {}),
        scalerPeakRssMb: round(usage.peakRssMb, 1),
        scalerNodeFlags: nodeFlags.join(' '),
        loadAverageAtEnd: os.loadavg().map((x) => round(x, 2)).join(' '),
      },
    };
  } finally {
    setup.close();
    await scaler.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
