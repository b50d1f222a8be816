/**
 * The benchmark suite (issue 6): `npm run bench` (full, ~10-15 min) or
 * `npm run bench -- --quick` (every case, short, < 5 min); `--only a,b` runs some cases;
 * `--results DIR` writes elsewhere than bench/results (profiling runs keep the figures);
 * `--minutes N` makes the ingest case run N minutes and report its RSS plateau.
 * `--accuracy-doc FILE` also renders the accuracy rows as docs/accuracy.md (bench/lib/accuracy-doc.ts).
 * Needs root (BPF, network namespaces). A full run writes bench/results/latest.json (the keys
 * tools read), latest.md (a table) and latest-notes.json (run conditions and extra figures);
 * a --quick or --only run writes partial.{json,md} and partial-notes.json instead.
 * Benchmarks print figures; they never fail on speed.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { accuracy, type AccuracyRow } from './cases/accuracy.js';
import { kernelOverhead } from './cases/kernel-overhead.js';
import { REPO, cleanupCli, prepareCli } from './lib/procs.js';
import type { CaseContext, CaseNotes } from './lib/types.js';
import { renderMarkdown } from './lib/report.js';
import { renderAccuracyDoc } from './lib/accuracy-doc.js';
import { activation } from './cases/activation.js';
import { freshness } from './cases/freshness.js';
import { scalerThroughput, type ScalerFigures } from './cases/scaler-throughput.js';
import { ingest } from './cases/ingest.js';
import { collectorFootprint } from './cases/collector-footprint.js';
import { holdEgress } from './cases/hold-egress.js';

export interface BenchResults {
  overheadThroughputRatio: number | null;
  overheadP99Ratio: number | null;
  perHookNs: Record<string, number>;
  accuracy: AccuracyRow[];
  activationMs: { p50: number; p99: number } | null;
  /** The same wake-up through separate scaler and collector processes (the manifests' deployment). */
  activationSeparateProcessesMs?: { p50: number; p99: number } | null;
  freshnessS: number | null;
  scaler: ScalerFigures | null;
  ingest: { cpuShare: number; rssMb: number; lagMs: number } | null;
  /** Kubernetes mode (as the DaemonSet runs it); rssMbWithoutKubernetes with --kubernetes off. */
  collector: { cpuSharePer10k: number; rssMb: number; rssMbWithoutKubernetes: number } | null;
  /** holdAtZero's egress program on traffic it does not hold, ns/packet net of the bpf_stats floor. */
  holdEgressNs: { keepAlive: number; newConnections: number } | null;
  machine: { cores: number; kernel: string; node: string; cpuModel: string; quick: boolean; cliRuntime: string; date: string; loadAvgAtStart: number[] };
}

const CASES = ['overhead', 'accuracy', 'activation', 'freshness', 'scaler', 'ingest', 'collector', 'hold'] as const;
type CaseName = (typeof CASES)[number];

/** The checkout's commit (short), or "unknown" outside a git checkout. */
function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean', default: false }, only: { type: 'string' }, results: { type: 'string' }, minutes: { type: 'string' }, 'accuracy-doc': { type: 'string' } },
  });
  if (process.getuid?.() !== 0) {
    console.error('the benchmarks need root (BPF programs, network namespaces): run `sudo npm run bench`');
    return 1;
  }
  const only = values.only ? new Set(values.only.split(',')) : undefined;
  for (const name of only ?? []) if (!(CASES as readonly string[]).includes(name)) throw new Error(`unknown case "${name}"; cases: ${CASES.join(', ')}`);
  const selected = (name: CaseName): boolean => !only || only.has(name);
  const quick = values.quick ?? false;
  const minutes = values.minutes !== undefined ? Number(values.minutes) : undefined;
  if (minutes !== undefined && !(minutes > 0 && minutes <= 60)) throw new Error(`--minutes ${values.minutes}: expected a number of minutes above 0 and at most 60`);
  const ctx: CaseContext = { quick, log: (m) => console.error(`[bench] ${m}`), ...(minutes !== undefined ? { minutes } : {}) };
  const results: BenchResults = {
    overheadThroughputRatio: null,
    overheadP99Ratio: null,
    perHookNs: {},
    accuracy: [],
    activationMs: null,
    activationSeparateProcessesMs: null,
    freshnessS: null,
    scaler: null,
    ingest: null,
    collector: null,
    holdEgressNs: null,
    machine: {
      cores: os.cpus().length,
      kernel: os.release(),
      node: process.version,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      quick,
      cliRuntime: prepareCli(),
      date: new Date().toISOString(),
      loadAvgAtStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
    },
  };
  const notes: Record<string, CaseNotes> = {};
  const durations: Record<string, number> = {};
  const loadAverages: Record<string, number> = {};
  const failures: Record<string, string> = {};
  const run = async (name: CaseName, body: () => Promise<void>): Promise<void> => {
    if (!selected(name)) return;
    const started = performance.now();
    // Other work on a shared machine disturbs the figures: keep the 1-minute load average per case.
    loadAverages[name] = Math.round((os.loadavg()[0] ?? 0) * 100) / 100;
    ctx.log(`case ${name}: start (load average ${loadAverages[name]})`);
    try {
      await body();
    } catch (err) {
      // One broken case must not hide the others' figures.
      failures[name] = err instanceof Error ? err.message : String(err);
      ctx.log(`case ${name} FAILED: ${failures[name]}`);
    }
    durations[name] = Math.round((performance.now() - started) / 100) / 10;
    ctx.log(`case ${name}: ${durations[name]} s`);
  };

  await run('overhead', async () => {
    const r = await kernelOverhead(ctx);
    results.overheadThroughputRatio = r.overheadThroughputRatio;
    results.overheadP99Ratio = r.overheadP99Ratio;
    results.perHookNs = r.perHookNs;
    notes.overhead = r.notes;
  });
  await run('accuracy', async () => {
    const r = await accuracy(ctx);
    results.accuracy = r.rows;
    notes.accuracy = r.notes;
    const docPath = values['accuracy-doc'];
    if (docPath) {
      fs.writeFileSync(docPath, renderAccuracyDoc(r.rows, { date: results.machine.date, kernel: results.machine.kernel, quick, commit: gitCommit() }));
      ctx.log(`accuracy: wrote ${docPath}`);
    }
  });
  await run('activation', async () => {
    const r = await activation(ctx);
    results.activationMs = r.activationMs;
    results.activationSeparateProcessesMs = r.separateProcessesMs;
    notes.activation = r.notes;
  });
  await run('freshness', async () => {
    const r = await freshness(ctx);
    results.freshnessS = r.freshnessS;
    notes.freshness = r.notes;
  });
  await run('scaler', async () => {
    const r = await scalerThroughput(ctx);
    results.scaler = r.scaler;
    notes.scaler = r.notes;
  });
  await run('ingest', async () => {
    const r = await ingest(ctx);
    results.ingest = r.ingest;
    notes.ingest = r.notes;
  });
  await run('collector', async () => {
    const r = await collectorFootprint(ctx);
    results.collector = r.collector;
    notes.collector = r.notes;
  });

  await run('hold', async () => {
    const r = await holdEgress(ctx);
    results.holdEgressNs = r.holdEgressNs;
    notes.hold = r.notes;
  });

  cleanupCli();
  const dir = values.results ? path.resolve(values.results) : path.join(REPO, 'bench/results');
  fs.mkdirSync(dir, { recursive: true });
  // latest.* (tracked in git) are the full run's figures the docs quote; a --quick or --only
  // run writes partial.* beside them (ignored) so trying one case never overwrites them.
  const stem = quick || only ? 'partial' : 'latest';
  fs.writeFileSync(path.join(dir, `${stem}.json`), `${JSON.stringify(results, null, 2)}\n`);
  fs.writeFileSync(path.join(dir, `${stem}-notes.json`), `${JSON.stringify({ notes, durations, loadAverages, failures }, null, 2)}\n`);
  const markdown = renderMarkdown(results, notes, durations, loadAverages, failures);
  fs.writeFileSync(path.join(dir, `${stem}.md`), markdown);
  console.log(markdown);
  return Object.keys(failures).length > 0 ? 1 : 0;
}

process.exitCode = await main();
