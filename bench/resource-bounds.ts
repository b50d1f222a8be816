/**
 * Resource bounds and starvation (issue 10): the attacks that cost memory or starved KEDA,
 * replayed on loopback against the `scaler` CLI process (default flags) or, where live heap
 * or event-loop delay is measured, against its server with the same defaults in a process
 * that can collect garbage on demand (workers/heap-scaler.ts); and a soak.
 * Prints figures; never fails on them (goals, not assertions).
 *
 *   node --import tsx bench/resource-bounds.ts guard   (~3 min)
 *     attack 4: RSS for 20 window=10m targets with every slot full, against the formula;
 *     attack 5: a normal client's IsActive/GetMetrics p99 while 2000 StreamIsActive sit on a
 *       full 10m target and 50 collectors send 300 reports/s to it; SIGTERM time after;
 *     attack 9: the same p99 while 2 streams x 15 send 1M-entry reports.
 *   node --import tsx bench/resource-bounds.ts soak [--minutes 10] [--scaler-node-flags='...']
 *     200 simulated collectors (50 target deltas each per second), 1,000 targets, 2,000
 *     open StreamIsActive, KEDA-shaped polling (operator every 30 s, HPA every 15 s):
 *     RSS over time and its plateau, live heap after GC, the scaler's event-loop delay
 *     (its own stalls, apart from a busy client's), p99 of KEDA calls, errors. The scaler
 *     runs with the shipped manifests' NODE_OPTIONS (heap limit) unless --scaler-node-flags
 *     says otherwise.
 * Writes bench/results/resource-bounds-<mode>.json.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Histogram, type SparseBuckets } from '../src/histogram/histogram.js';
import { KedaClient } from '../src/keda/client.js';
import { BUCKET_COUNT } from '../src/histogram/layout.js';
import { COARSE_SLOT_SECONDS, DEFAULT_MAX_HISTOGRAM_BYTES, MAX_FINE_SLOTS, SLOT_BYTES } from '../src/scaler/limits.js';
import { parseTriggerMetadata } from '../src/scaler/metadata.js';
import { ENTRY_BYTES, SPARSE_OVERHEAD_BYTES } from '../src/scaler/sparse-counts.js';
import { targetId } from '../src/scaler/target.js';
import { rssMb } from './lib/proc-stat.js';
import { shippedScalerNodeFlags } from './lib/shipped-node-options.js';
import { REPO, cleanupCli, freePort, prepareCli, spawnCli, spawnNode, type CliProcess } from './lib/procs.js';
import { maxOf, quantile, round, sleep } from './lib/stats.js';

const log = (m: string): void => console.error(`[resource-bounds] ${m}`);
const worker = (name: string): string => path.join(REPO, 'bench/workers', name);
const perSlotMaxBytes = SLOT_BYTES + SPARSE_OVERHEAD_BYTES + BUCKET_COUNT * ENTRY_BYTES;

/** The `scaler` CLI with default bounds; collectors dial `ingestAddress` (loopback, `--ingest-auth none`). */
async function startScaler(): Promise<{ scaler: CliProcess; address: string; ingestAddress: string }> {
  const port = await freePort();
  const ingestPort = await freePort();
  const scaler = spawnCli('scaler', ['--listen', `127.0.0.1:${port}`, '--ingest-listen', `127.0.0.1:${ingestPort}`, '--ingest-auth', 'none', '--log-level', 'info', '--kubernetes', 'off']);
  await scaler.waitForLog(/^scaler listening$/, 30_000);
  return { scaler, address: `127.0.0.1:${port}`, ingestAddress: `127.0.0.1:${ingestPort}` };
}

async function stopTimed(p: CliProcess): Promise<number> {
  const t0 = performance.now();
  await p.stop();
  return round(performance.now() - t0, 0);
}

/** Starts the probe, lets `during` run, returns the probe's summary. */
async function probe(address: string, seconds: number, during: () => Promise<void> = async () => undefined): Promise<Record<string, unknown>> {
  const p = spawnNode(worker('keda-probe.ts'), [address, '50', String(seconds * 1000)]);
  await p.waitForLog(/^ready$/, 60_000);
  p.child.kill('SIGUSR2');
  const [summary] = await Promise.all([p.waitForLog(/^done$/, (seconds + 30) * 1000), during()]);
  return summary;
}

/** N window=10m targets filled with 600 s of full slots; heap after GC before and after. */
async function fullWindows(targets: number): Promise<Record<string, unknown>> {
  const port = await freePort();
  const scaler = spawnNode(worker('heap-scaler.ts'), [String(port)], { nodeFlags: ['--expose-gc'] });
  const address = `127.0.0.1:${port}`;
  const keda = new KedaClient(address);
  try {
    const { ingestPort } = await scaler.waitForLog(/^listening$/, 30_000);
    const heap = async (): Promise<Record<string, unknown>> => {
      const next = new Promise<Record<string, unknown>>((resolve) => {
        const seen = new Set<unknown>();
        scaler.onLine((l) => {
          if (l.msg === 'heap' && !seen.has(l)) {
            seen.add(l);
            resolve(l);
          }
        });
      });
      scaler.child.kill('SIGUSR2');
      return next;
    };
    for (let i = 0; i < targets; i++) {
      await keda.metricName({ name: `mem-${i}`, namespace: 'bench', metadata: { scalerAddress: 'b:9090', port: String(21_000 + i), window: '10m', activationWindow: '10m', targetValue: '100' } });
    }
    const before = await heap();
    const filled = await spawnNode(worker('flood.ts'), ['fill', `127.0.0.1:${String(ingestPort)}`, '600']).waitForLog(/^done$/, 600_000);
    await sleep(1000);
    const after = await heap();
    const slotsPerTarget = MAX_FINE_SLOTS + Math.ceil(600 / COARSE_SLOT_SECONDS) + 2;
    const store = after.store as { estimatedBytes: number; fineSlots: number; coarseSlots: number; bucketEntries: number };
    return {
      targets,
      filledSeconds: 600,
      reports: filled.reports,
      liveHeapGrowthMb: round(Number(after.heapUsedMb) - Number(before.heapUsedMb) + Number(after.externalMb) - Number(before.externalMb), 1),
      storeAccountingMb: round(store.estimatedBytes / 1e6, 1),
      formulaBoundMb: round((targets * slotsPerTarget * perSlotMaxBytes) / 1e6, 1),
      slots: { fine: store.fineSlots, coarse: store.coarseSlots, bucketEntries: store.bucketEntries },
      rssBeforeMb: round(Number(before.rssMb), 1),
      rssAfterMb: round(Number(after.rssMb), 1),
      oldStoreMeasuredMb: round((198 / 20) * targets, 1),
    };
  } finally {
    keda.close();
    await scaler.stop();
  }
}

async function guard(): Promise<Record<string, unknown>> {
  const results: Record<string, unknown> = {};
  const { scaler, address, ingestAddress } = await startScaler();
  const keda = new KedaClient(address);
  try {
    const baseline = rssMb(scaler.pid);
    results.baseline = { rssMb: round(baseline, 1), probe: await probe(address, 10) };
    log(`baseline: RSS ${baseline.toFixed(1)} MB, probe ${JSON.stringify(results.baseline)}`);

    // Attack 4 (in its own scaler process that can collect garbage on demand): 20 targets
    // with window=10m and every one-second slot full; live heap against the formula.
    results.attack4 = await fullWindows(20);
    log(`attack 4: ${JSON.stringify(results.attack4)}`);
    const streamMd = { scalerAddress: 'bench:9090', port: '18000', targetValue: '100', window: '10m', activationWindow: '10m' };
    await keda.metricName({ name: 'bench-streams', namespace: 'bench', metadata: streamMd });
    await spawnNode(worker('flood.ts'), ['fill', ingestAddress, '600']).waitForLog(/^done$/, 600_000);

    // Attack 5: 2000 streams on the full 10m target, 50 collectors x 300 reports/s to it.
    const streamId = targetId(parseTriggerMetadata(streamMd).selection);
    const streams = spawnNode(worker('flood.ts'), ['streams', address, '2000', '18000']);
    await streams.waitForLog(/^ready$/, 120_000);
    const reports = spawnNode(worker('flood.ts'), ['reports', ingestAddress, '50', '300', '30', streamId]);
    await reports.waitForLog(/^ready$/, 60_000);
    const during5 = await probe(address, 25);
    const sent = await reports.waitForLog(/^done$/, 60_000);
    results.attack5 = { streams: 2000, collectors: 50, reportsPerSecond: 300, reportsSent: sent.reports, rssMb: round(rssMb(scaler.pid), 1), probe: during5 };
    log(`attack 5: ${JSON.stringify(results.attack5)}`);

    // Attack 9: 1M-entry bucket arrays, 2 streams x 15.
    const huge = spawnNode(worker('flood.ts'), ['huge', ingestAddress, '2', '15']);
    await huge.waitForLog(/^ready$/, 60_000);
    const during9 = await probe(address, 15);
    const hugeDone = await huge.waitForLog(/^done$/, 120_000).catch(() => ({ codes: 'not finished' }));
    results.attack9 = { streams: 2, reportsEach: 15, outcome: hugeDone.codes, probe: during9 };
    log(`attack 9: ${JSON.stringify(results.attack9)}`);

    results.sigtermWith2000StreamsMs = await stopTimed(scaler);
    log(`SIGTERM with 2000 streams open: ${String(results.sigtermWith2000StreamsMs)} ms`);
    streams.child.kill('SIGTERM');
  } finally {
    keda.close();
    await scaler.stop();
  }
  return results;
}

async function soak(minutes: number): Promise<Record<string, unknown>> {
  const TARGETS = 1000;
  const NODES = 200;
  const PER_NODE = 50;
  const SIM_PROCESSES = 4;
  const durationMs = minutes * 60_000;
  // The scaler's server with the CLI's defaults, in a process that reports its event-loop
  // delay and can collect garbage on demand (heap-scaler.ts).
  const port = await freePort();
  const scaler = spawnNode(worker('heap-scaler.ts'), [String(port), '10000'], { nodeFlags: ['--expose-gc', ...scalerNodeFlags] });
  // A scaler that dies mid-soak (e.g. its heap limit is too small) says why.
  let stderrTail = '';
  scaler.child.stderr?.on('data', (d: Buffer) => {
    stderrTail = (stderrTail + d.toString()).slice(-4000);
  });
  let stopping = false;
  scaler.child.once('exit', (code, signal) => {
    if (!stopping) log(`scaler exited during the soak (code ${String(code)}, signal ${String(signal)}): ${stderrTail}`);
  });
  const { ingestPort } = await scaler.waitForLog(/^listening$/, 30_000);
  const address = `127.0.0.1:${port}`;
  const ingestAddress = `127.0.0.1:${String(ingestPort)}`;
  const samples: Record<string, number>[] = [];
  scaler.onLine((l) => {
    if (l.msg === 'sample') samples.push(l as Record<string, number>);
  });
  const extra: CliProcess[] = [];
  try {
    // Two polling processes (500 ScaledObjects each), so a busy client adds less of its own delay.
    const polls = [0, 1].map((k) => spawnNode(worker('keda-poll.ts'), [address, String(TARGETS / 2), String(durationMs), String((k * TARGETS) / 2)]));
    extra.push(...polls);
    await Promise.all(polls.map((p) => p.waitForLog(/^ready$/, 120_000)));
    const streams = spawnNode(worker('flood.ts'), ['streams-many', address, '2000', String(TARGETS)]);
    extra.push(streams);
    let streamsEnded = 0;
    streams.onLine((l) => {
      if (l.msg === 'ended') streamsEnded++;
    });
    await streams.waitForLog(/^ready$/, 180_000);
    const per = NODES / SIM_PROCESSES;
    const sims = Array.from({ length: SIM_PROCESSES }, (_, p) =>
      spawnNode(worker('collector-sim.ts'), [ingestAddress, String(p * per), String(per), String(PER_NODE), String(TARGETS), String(durationMs + 5000)]),
    );
    extra.push(...sims);
    await Promise.all(sims.map((s) => s.waitForLog(/^ready$/, 180_000)));
    log(`soak: ${TARGETS} targets, 2000 streams, ${NODES} collectors ready; running ${minutes} min`);
    const minutesSeen: unknown[] = [];
    polls[0]!.onLine((l) => {
      if (l.msg === 'minute') {
        minutesSeen.push(l);
        const last = samples.at(-1);
        log(`minute ${minutesSeen.length} (first poller): ${JSON.stringify(l)} RSS ${rssMb(scaler.pid).toFixed(1)} MB, scaler loop delay p99 ${last?.loopDelayP99Ms?.toFixed(1)} ms, load ${os.loadavg()[0]?.toFixed(1)}`);
      }
    });
    for (const s of sims) s.child.kill('SIGUSR2');
    for (const p of polls) p.child.kill('SIGUSR2');
    const rss: { s: number; mb: number }[] = [];
    const t0 = Date.now();
    const loads: number[] = [];
    const sampler = setInterval(() => {
      rss.push({ s: Math.round((Date.now() - t0) / 1000), mb: round(rssMb(scaler.pid), 1) });
      loads.push(os.loadavg()[0] ?? 0);
    }, 5000);
    const firstSample = samples.length;
    const done = await Promise.all(polls.map((p) => p.waitForLog(/^done$/, durationMs + 120_000)));
    const merged = new Histogram();
    for (const d of done) merged.addSparse(d.buckets as SparseBuckets);
    const summary = {
      calls: done.reduce((n, d) => n + Number(d.calls), 0),
      errors: done.reduce((n, d) => n + Number(d.errors), 0),
      firstErrors: done.flatMap((d) => d.firstErrors as string[]).slice(0, 5),
      p50Ms: round(merged.quantileUs(0.5) / 1000, 2),
      p99Ms: round(merged.quantileUs(0.99) / 1000, 2),
      maxMs: round(maxOf(done.map((d) => Number(d.maxMs))), 2),
      perProcess: done.map((d) => ({ calls: d.calls, errors: d.errors, p99Ms: d.p99Ms, maxMs: d.maxMs })),
    };
    clearInterval(sampler);
    const during = samples.slice(firstSample);
    const heapAfterGc = await new Promise<Record<string, unknown>>((resolve) => {
      scaler.onLine((l) => {
        if (l.msg === 'heap') resolve(l);
      });
      scaler.child.kill('SIGUSR2');
    });
    const half = rss.filter((r) => r.s >= (minutes * 60) / 2);
    const firstHalf = rss.filter((r) => r.s < (minutes * 60) / 2);
    const maxMb = (xs: { mb: number }[]): number => maxOf(xs.map((x) => x.mb));
    const slope = half.length > 1 ? ((half.at(-1)!.mb - half[0]!.mb) / (half.at(-1)!.s - half[0]!.s)) * 60 : 0;
    // Where RSS is: the V8 heap (total and used), memory outside it (external: typed arrays'
    // buffers, so the histograms), the rest native (gRPC/HTTP/2 buffers, code, allocator slack).
    const memoryPerMinute = during
      .filter((_, i) => (i + 1) % 6 === 0)
      .map((x, i) => ({ minute: i + 1, rssMb: round(x.rssMb ?? 0, 1), heapTotalMb: round(x.heapTotalMb ?? 0, 1), heapUsedMb: round(x.heapUsedMb ?? 0, 1), externalMb: round(x.externalMb ?? 0, 1), arrayBuffersMb: round(x.arrayBuffersMb ?? 0, 1) }));
    const simsDone = await Promise.all(sims.map((s) => s.waitForLog(/^done$/, 60_000).catch(() => ({ sent: -1 }))));
    // Read before stopping: the scaler's shutdown ends every stream (with OK).
    const streamsEndedEarly = streamsEnded;
    stopping = true;
    const sigtermMs = await stopTimed(scaler);
    return {
      minutes,
      scalerNodeFlags,
      targets: TARGETS,
      collectors: NODES,
      targetDeltasPerCollectorPerSecond: PER_NODE,
      streams: 2000,
      keda: summary,
      kedaPerMinute: minutesSeen,
      streamsEndedEarly,
      reportsSent: simsDone.reduce((n, s) => n + Number(s.sent), 0),
      rssMaxFirstMinuteMb: round(maxMb(rss.filter((r) => r.s <= 60)), 1),
      rssMaxLastMinuteMb: round(maxMb(rss.filter((r) => r.s >= minutes * 60 - 60)), 1),
      rssMaxFirstHalfMb: round(maxMb(firstHalf), 1),
      rssMaxSecondHalfMb: round(maxMb(half), 1),
      rssSecondHalfSlopeMbPerMin: round(slope, 2),
      rssSeries: rss.filter((_, i) => i % 6 === 0),
      memoryPerMinute,
      liveHeapAfterGcMb: round(Number(heapAfterGc.heapUsedMb) + Number(heapAfterGc.externalMb), 1),
      storeAccountingMb: round(Number((heapAfterGc.store as { estimatedBytes: number }).estimatedBytes) / 1e6, 1),
      scalerLoopDelayP99MsWorst10s: round(maxOf(during.map((x) => x.loopDelayP99Ms ?? 0)), 1),
      scalerLoopDelayP99MsMedian10s: round(quantile(during.map((x) => x.loopDelayP99Ms ?? 0), 0.5), 1),
      scalerLoopDelayMaxMs: round(maxOf(during.map((x) => x.loopDelayMaxMs ?? 0)), 1),
      loadAverage1mMedian: round(quantile(loads, 0.5), 2),
      loadAverageAtEnd: os.loadavg().map((x) => round(x, 2)),
      formulaWorstCaseMb: round((TARGETS * MAX_FINE_SLOTS * SLOT_BYTES + Math.min(DEFAULT_MAX_HISTOGRAM_BYTES, TARGETS * MAX_FINE_SLOTS * (perSlotMaxBytes - SLOT_BYTES))) / 1e6, 1),
      sigtermMs,
    };
  } finally {
    for (const p of extra) p.child.kill('SIGKILL');
    await scaler.stop();
  }
}

const { positionals, values } = parseArgs({ allowPositionals: true, options: { minutes: { type: 'string', default: '10' }, 'scaler-node-flags': { type: 'string' } } });
/**
 * Node flags for the soak's scaler process: by default the shipped manifests' NODE_OPTIONS
 * (its heap limit); --scaler-node-flags='' runs without, --scaler-node-flags='--max-old-space-size=256' with another.
 */
const scalerNodeFlags = values['scaler-node-flags'] !== undefined ? values['scaler-node-flags'].split(' ').filter(Boolean) : shippedScalerNodeFlags();
const mode = positionals[0];
if (mode !== 'guard' && mode !== 'soak') {
  console.error('usage: node --import tsx bench/resource-bounds.ts guard|soak [--minutes N]');
  process.exit(2);
}
log(`CLI runtime: ${prepareCli()}`);
const started = Date.now();
const results = mode === 'guard' ? await guard() : await soak(Number(values.minutes));
cleanupCli();
const out = { mode, date: new Date().toISOString(), wallS: Math.round((Date.now() - started) / 1000), ...results };
fs.mkdirSync(path.join(REPO, 'bench/results'), { recursive: true });
const suffix = mode === 'soak' && values['scaler-node-flags'] !== undefined ? '-flags' : '';
fs.writeFileSync(path.join(REPO, `bench/results/resource-bounds-${mode}${suffix}.json`), `${JSON.stringify(out, null, 2)}\n`);
console.log(JSON.stringify(out, null, 2));
process.exit(0);
