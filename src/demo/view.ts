import type { HpaDecision } from './hpa.js';
import type { ClientCounters, ClientWindowStats } from './load-generator.js';
import type { DemoMetricName, MetricsSample } from './types.js';

/**
 * The live terminal view as pure functions of the demo state: a multi-line frame for a
 * TTY (redrawn in place) and one plain line for logs and CI. Everything is spelled out in
 * text (yes/no, numbers, arrows): nothing is said by colour alone, and no colour is used.
 */

export type LatencyQuantile = 'p50' | 'p95' | 'p99';

export interface ViewTargets {
  readonly latencyMs: number;
  readonly latencyQuantile: LatencyQuantile;
  readonly rpsPerReplica: number;
  readonly concurrencyPerReplica: number;
  readonly tolerance: number;
  readonly minReplicas: number;
  readonly maxReplicas: number;
  readonly cooldownMs: number;
}

export interface ViewState {
  readonly elapsedMs: number;
  readonly phase: string;
  readonly phaseElapsedMs: number;
  readonly offeredRps: number;
  /** host:port of the sample server. */
  readonly target: string;
  readonly serverUp: boolean;
  /** Replicas the demo's simulated deployment runs (0 or 1: one real server). */
  readonly currentReplicas: number;
  /** Latest figures from the metrics source; undefined before the first sample. */
  readonly scaler: MetricsSample | undefined;
  /** Why the last sample failed, if it did. */
  readonly scalerError?: string | undefined;
  readonly client: ClientWindowStats;
  readonly counters: ClientCounters;
  readonly decisions: Readonly<Record<DemoMetricName, HpaDecision>>;
  readonly targets: ViewTargets;
  readonly windowMs: number;
}

export const ANSI = {
  cursorHome: '\x1b[H',
  clearToEnd: '\x1b[J',
  clearLineEnd: '\x1b[K',
  clearScreen: '\x1b[2J',
  hideCursor: '\x1b[?25l',
  showCursor: '\x1b[?25h',
} as const;

/** Bytes that redraw `frame` in place: home, each line cleared to its end, rest cleared. */
export function redraw(frame: string): string {
  return ANSI.cursorHome + frame.split('\n').join(`${ANSI.clearLineEnd}\n`) + ANSI.clearLineEnd + '\n' + ANSI.clearToEnd;
}

/** Sent once before the first redraw. */
export function enterLiveView(): string {
  return ANSI.hideCursor + ANSI.clearScreen;
}

/** Sent once after the last redraw. */
export function leaveLiveView(): string {
  return ANSI.showCursor;
}

export function fmtNum(n: number | undefined, digits = 1): string {
  if (n === undefined || !Number.isFinite(n)) return '-';
  return n.toFixed(digits);
}

function fmtSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function pad(s: string, width: number): string {
  return s.length >= width ? s : s + ' '.repeat(width - s.length);
}

function padLeft(s: string, width: number): string {
  return s.length >= width ? s : ' '.repeat(width - s.length) + s;
}

export function latencyOf(sample: { p50Ms: number; p95Ms: number; p99Ms: number }, q: LatencyQuantile): number {
  return q === 'p50' ? sample.p50Ms : q === 'p95' ? sample.p95Ms : sample.p99Ms;
}

export function metricLabel(metric: DemoMetricName, targets: ViewTargets): string {
  switch (metric) {
    case 'latency':
      return `latency ${targets.latencyQuantile} (Value, target ${fmtNum(targets.latencyMs, 0)} ms)`;
    case 'rps':
      return `rps (AverageValue, target ${fmtNum(targets.rpsPerReplica, 0)}/replica)`;
    case 'concurrency':
      return `concurrency (AverageValue, target ${fmtNum(targets.concurrencyPerReplica, Number.isInteger(targets.concurrencyPerReplica) ? 0 : 1)}/replica)`;
  }
}

/** The multi-line frame for a terminal. */
export function renderFrame(state: ViewState): string {
  const s = state.scaler;
  const c = state.client;
  const lines: string[] = [];
  lines.push(`keda-ebpf-scaler demo    elapsed ${fmtSeconds(state.elapsedMs)}`);
  lines.push(
    `phase: ${state.phase} (${fmtSeconds(state.phaseElapsedMs)} in)   offered load: ${fmtNum(state.offeredRps, 0)} req/s`,
  );
  lines.push(
    `target: ${state.target}   active: ${s ? (s.active ? 'YES' : 'no') : '?'}   ` +
      `deployment: ${state.currentReplicas} replica${state.currentReplicas === 1 ? '' : 's'} (server ${state.serverUp ? 'up' : 'down'})`,
  );
  if (state.scalerError) lines.push(`scaler error: ${state.scalerError}`);
  lines.push('');
  lines.push(`${pad(`figures over ${fmtSeconds(state.windowMs)}`, 22)}${padLeft('scaler (kernel)', 16)}${padLeft('client', 12)}`);
  const row = (label: string, a: string, b: string): string => `${pad(label, 22)}${padLeft(a, 16)}${padLeft(b, 12)}`;
  lines.push(row('rps (req/s)', fmtNum(s?.rps), `${fmtNum(c.rps)}`));
  lines.push(row('p50 latency (ms)', fmtNum(s?.p50Ms), fmtNum(c.p50Ms)));
  lines.push(row('p95 latency (ms)', fmtNum(s?.p95Ms), fmtNum(c.p95Ms)));
  lines.push(row('p99 latency (ms)', fmtNum(s?.p99Ms), fmtNum(c.p99Ms)));
  lines.push(row('concurrency', fmtNum(s?.concurrency, 2), fmtNum(c.concurrency, 2)));
  const k = state.counters;
  lines.push(
    `client totals: sent ${k.sent}  completed ${k.completed}  refused ${k.refused}  errors ${k.errors}  dropped ${k.dropped}  in flight ${k.outstanding}`,
  );
  lines.push('');
  const t = state.targets;
  lines.push(
    `replicas the HPA would pick from ${state.currentReplicas} (tolerance ${fmtNum(t.tolerance * 100, 0)} %, min ${t.minReplicas}, max ${t.maxReplicas}, cooldown ${fmtSeconds(t.cooldownMs)}):`,
  );
  for (const metric of ['latency', 'rps', 'concurrency'] as const) {
    const d = state.decisions[metric];
    lines.push(`  ${pad(metricLabel(metric, t), 48)} -> ${padLeft(String(d.replicas), 2)}   ${d.formula}`);
  }
  lines.push('  (the formula\'s pick each sample; a real HPA also applies its scale-down stabilization window)');
  return lines.join('\n');
}

/** One line for non-TTY output (CI logs): the same figures, no redraw. */
export function renderLine(state: ViewState): string {
  const s = state.scaler;
  const c = state.client;
  const d = state.decisions;
  const q = state.targets.latencyQuantile;
  const scaler = s
    ? `active=${s.active ? 'yes' : 'no'} rps=${fmtNum(s.rps)} p50=${fmtNum(s.p50Ms)} p95=${fmtNum(s.p95Ms)} p99=${fmtNum(s.p99Ms)}ms conc=${fmtNum(s.concurrency, 2)}`
    : `active=? (no sample${state.scalerError ? `: ${state.scalerError}` : ''})`;
  return (
    `t=${fmtNum(state.elapsedMs / 1000)}s phase=${state.phase} offered=${fmtNum(state.offeredRps, 0)} ` +
    `server=${state.serverUp ? 'up' : 'down'} | scaler ${scaler} | ` +
    `client rps=${fmtNum(c.rps)} p50=${fmtNum(c.p50Ms)} p95=${fmtNum(c.p95Ms)} p99=${fmtNum(c.p99Ms)}ms conc=${fmtNum(c.concurrency, 2)} ` +
    `sent=${state.counters.sent} refused=${state.counters.refused} errors=${state.counters.errors} | ` +
    `replicas from ${state.currentReplicas}: latency(${q})=${d.latency.replicas} [${d.latency.formula}] ` +
    `rps=${d.rps.replicas} [${d.rps.formula}] concurrency=${d.concurrency.replicas} [${d.concurrency.formula}]`
  );
}
