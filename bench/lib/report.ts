import type { BenchResults } from '../run.js';
import { withinGoal } from './accuracy-doc.js';
import type { CaseNotes } from './types.js';

/** latest.md: every figure beside its goal, met or not. */

interface Row {
  readonly figure: string;
  readonly value: string;
  readonly goal: string;
  readonly met: boolean | undefined;
}

const fmt = (v: number | null | undefined, digits = 3): string => (v === null || v === undefined || Number.isNaN(v) ? 'n/a' : String(Number(v.toFixed(digits))));
const verdict = (met: boolean | undefined): string => (met === undefined ? 'n/a' : met ? 'met' : '**missed**');

export function goalRows(r: BenchResults): Row[] {
  const rows: Row[] = [];
  const ratio = r.overheadThroughputRatio;
  rows.push({ figure: '1. throughput with/without collector (median paired ratio)', value: fmt(ratio, 4), goal: '>= 0.98, 95 % interval above 0.95 (notes)', met: ratio === null ? undefined : ratio >= 0.98 });
  rows.push({ figure: '1. p99 latency with/without (median paired ratio)', value: fmt(r.overheadP99Ratio, 4), goal: '(reported)', met: undefined });
  for (const [program, ns] of Object.entries(r.perHookNs)) rows.push({ figure: `2. ${program} ns/run`, value: fmt(ns, 1), goal: '<= 60 ns raw (or <= 30 ns net of the bpf_stats floor, notes)', met: ns <= 60 });
  for (const a of r.accuracy) {
    rows.push({
      figure: `3. ${a.case}: p50 / p90 / count kernel ${fmt(a.kernel.p50Ms)} / ${fmt(a.kernel.p90Ms)} ms / ${a.kernel.count} vs ${a.truth} ${fmt(a.reference.p50Ms)} / ${fmt(a.reference.p90Ms)} ms / ${a.reference.count}`,
      value: `${fmt(a.errorPct.p50, 1)}% / ${fmt(a.errorPct.p90, 1)}% / ${fmt(a.errorPct.count, 1)}%`,
      goal: a.limit ? '(documented limit, reported)' : 'p50, p90 within 5%, count within 2%',
      met: a.limit ? undefined : withinGoal(a),
    });
  }
  if (r.activationMs) {
    rows.push({ figure: '4. activation p50 (ms)', value: fmt(r.activationMs.p50, 2), goal: '(reported)', met: undefined });
    rows.push({ figure: '4. activation p99 (ms)', value: fmt(r.activationMs.p99, 2), goal: '<= 50 ms', met: r.activationMs.p99 <= 50 });
  }
  const split = r.activationSeparateProcessesMs;
  if (split) {
    rows.push({ figure: '4. activation through separate scaler and collector processes, p50 / p99 (ms)', value: `${fmt(split.p50, 2)} / ${fmt(split.p99, 2)}`, goal: 'p99 <= 50 ms', met: split.p99 <= 50 });
  }
  if (r.freshnessS !== null) rows.push({ figure: '5. freshness (s)', value: fmt(r.freshnessS, 2), goal: '<= 1.0 s', met: r.freshnessS <= 1.0 });
  if (r.scaler) {
    rows.push({ figure: '6. scaler RPC/s', value: fmt(r.scaler.rps, 0), goal: '>= 10,000', met: r.scaler.rps >= 10_000 });
    rows.push({ figure: '6. scaler p99 (ms)', value: fmt(r.scaler.p99Ms, 2), goal: '<= 5 ms', met: r.scaler.p99Ms <= 5 });
    const held = r.scaler.goalsHoldAt;
    rows.push({
      figure: '6. scaler: concurrencies (streams per h2load process, of those measured) where both goals hold',
      value: held.length > 0 ? held.map((g) => `${g.streams}: ${fmt(g.rps, 0)} RPC/s, p99 ${fmt(g.p99Ms, 2)} ms`).join('; ') : 'none',
      goal: '>= 10,000 RPC/s and p99 <= 5 ms at one concurrency',
      met: held.length > 0,
    });
  }
  if (r.ingest) {
    rows.push({ figure: '7. ingest scaler CPU (cores)', value: fmt(r.ingest.cpuShare, 3), goal: '<= 0.5 core', met: r.ingest.cpuShare <= 0.5 });
    rows.push({ figure: '7. ingest scaler RSS (MB)', value: fmt(r.ingest.rssMb, 1), goal: '(reported)', met: undefined });
    rows.push({ figure: '7. ingest report lag p99 (ms)', value: fmt(r.ingest.lagMs, 1), goal: '<= 250 ms', met: r.ingest.lagMs <= 250 });
  }
  if (r.collector) {
    rows.push({ figure: '8. collector CPU per 10k req/s, Kubernetes mode (% of a core)', value: fmt(r.collector.cpuSharePer10k * 100, 2), goal: '<= 2%', met: r.collector.cpuSharePer10k <= 0.02 });
    rows.push({ figure: '8. collector RSS, Kubernetes mode as the DaemonSet runs it (MB)', value: fmt(r.collector.rssMb, 1), goal: '<= 80 MB', met: r.collector.rssMb <= 80 });
    rows.push({ figure: '8. collector RSS without Kubernetes (MB)', value: fmt(r.collector.rssMbWithoutKubernetes, 1), goal: '(reported)', met: undefined });
  }
  if (r.holdEgressNs) {
    rows.push({ figure: '9. holdAtZero egress, keep-alive traffic not held (ns/packet, net)', value: fmt(r.holdEgressNs.keepAlive, 1), goal: '(reported)', met: undefined });
    rows.push({ figure: '9. holdAtZero egress, new connections not held (ns/packet, net)', value: fmt(r.holdEgressNs.newConnections, 1), goal: '(reported)', met: undefined });
  }
  return rows;
}

export function renderMarkdown(
  r: BenchResults,
  notes: Record<string, CaseNotes>,
  durations: Record<string, number>,
  loadAverages: Record<string, number>,
  failures: Record<string, string>,
): string {
  const lines = [
    `# Benchmark results (${r.machine.quick ? 'quick' : 'full'} run, ${r.machine.date})`,
    '',
    `Machine: ${r.machine.cores} cores (${r.machine.cpuModel}), kernel ${r.machine.kernel}, Node ${r.machine.node}, CLI via ${r.machine.cliRuntime}, load average at start ${r.machine.loadAvgAtStart.join(' ')}.`,
    '',
    '| figure | value | goal | verdict |',
    '|---|---|---|---|',
    ...goalRows(r).map((row) => `| ${row.figure} | ${row.value} | ${row.goal} | ${verdict(row.met)} |`),
    ...(notes.overhead?.bpfStatsFloorNs !== undefined
      ? [`| 2. bpf_stats measuring floor (empty program), subtract from the above | ${String(notes.overhead.bpfStatsFloorNs)} | (reported) | n/a |`, `| 2. per-hook ns net of the floor | ${String(notes.overhead.perHookNetOfFloorNs)} | <= 30 ns | see docs |`]
      : []),
    '',
    '## Run notes',
    '',
  ];
  for (const [name, n] of Object.entries(notes)) {
    lines.push(`- **${name}** (${durations[name] ?? '?'} s, load average ${loadAverages[name] ?? '?'} at start): ${Object.entries(n).map(([k, v]) => `${k}: ${String(v)}`).join('; ')}`);
  }
  for (const [name, message] of Object.entries(failures)) lines.push(`- **${name} FAILED**: ${message}`);
  lines.push('');
  return lines.join('\n');
}
