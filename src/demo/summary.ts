import type { ClientWindowStats } from './load-generator.js';
import type { PhaseName } from './load-plan.js';
import type { DemoMetricName, MetricsSample } from './types.js';
import { fmtNum } from './view.js';

/**
 * The demo's verdict: per-phase aggregates of the recorded samples and the four story
 * checks (activation from zero, scale-up, scale-down, return to inactive), computed from
 * the records alone so a test can assert them and the summary can print them.
 */

export const DEMO_METRICS: readonly DemoMetricName[] = ['latency', 'rps', 'concurrency'];

export interface SampleRecord {
  /** ms since the demo started. */
  readonly atMs: number;
  readonly phase: PhaseName;
  /** undefined when the metrics source failed for this sample. */
  readonly scaler: MetricsSample | undefined;
  readonly client: ClientWindowStats;
  /** Replicas the simulated deployment ran when the sample was taken. */
  readonly currentReplicas: number;
  /** The replica count the HPA (and KEDA) would pick per metric. */
  readonly replicas: Readonly<Record<DemoMetricName, number>>;
}

export interface DemoTimeline {
  readonly samples: readonly SampleRecord[];
  /** Phase start times, ms since the demo started, in plan order. */
  readonly phaseStarts: readonly { readonly name: PhaseName; readonly atMs: number; readonly endMs: number | undefined }[];
  readonly firstRequestAtMs: number | undefined;
  readonly lastRequestAtMs: number | undefined;
}

export interface Figure {
  readonly max: number;
  readonly avg: number;
}

export interface PhaseSummary {
  readonly phase: PhaseName;
  readonly startMs: number;
  readonly durationMs: number;
  readonly samples: number;
  readonly active: 'yes' | 'no' | 'mixed' | 'unknown';
  readonly rps: Figure;
  readonly p50Ms: Figure;
  readonly p95Ms: Figure;
  readonly p99Ms: Figure;
  readonly concurrency: Figure;
  readonly clientRps: Figure;
  readonly clientP95Ms: Figure;
  /** Highest replica count picked per metric during the phase. */
  readonly maxReplicas: Readonly<Record<DemoMetricName, number>>;
}

export interface ActivationCheck {
  readonly ok: boolean;
  readonly firstRequestAtMs: number | undefined;
  readonly activeAtMs: number | undefined;
  /** Time from the first request to the first sample that saw the target active. */
  readonly delayMs: number | undefined;
  readonly detail: string;
}

export interface ScaleUpCheck {
  readonly ok: boolean;
  readonly atMs: number | undefined;
  /** Peak replicas per metric during the ramp up. */
  readonly peak: Readonly<Record<DemoMetricName, number>>;
  readonly metrics: readonly DemoMetricName[];
  readonly detail: string;
}

export interface ScaleDownCheck {
  readonly ok: boolean;
  readonly atMs: number | undefined;
  readonly metric: DemoMetricName | undefined;
  readonly fromReplicas: number | undefined;
  readonly toReplicas: number | undefined;
  readonly detail: string;
}

export interface InactiveCheck {
  readonly ok: boolean;
  readonly atMs: number | undefined;
  /** Time from the last request to the first sample that saw the target inactive. */
  readonly afterLastRequestMs: number | undefined;
  readonly detail: string;
}

export interface DemoChecks {
  readonly activationFromZero: ActivationCheck;
  readonly scaleUp: ScaleUpCheck;
  readonly scaleDown: ScaleDownCheck;
  readonly returnToInactive: InactiveCheck;
}

function figure(values: readonly number[]): Figure {
  if (values.length === 0) return { max: 0, avg: 0 };
  let max = Number.NEGATIVE_INFINITY;
  let sum = 0;
  for (const v of values) {
    max = Math.max(max, v);
    sum += v;
  }
  return { max, avg: sum / values.length };
}

function zeroReplicas(): Record<DemoMetricName, number> {
  return { latency: 0, rps: 0, concurrency: 0 };
}

function secs(ms: number | undefined): string {
  return ms === undefined ? '-' : `${(ms / 1000).toFixed(1)} s`;
}

export function summarizePhases(timeline: DemoTimeline): PhaseSummary[] {
  return timeline.phaseStarts.map((p) => {
    const samples = timeline.samples.filter((s) => s.phase === p.name);
    const seen = samples.filter((s) => s.scaler !== undefined).map((s) => s.scaler!);
    const actives = new Set(seen.map((s) => s.active));
    const active = actives.size === 0 ? 'unknown' : actives.size === 2 ? 'mixed' : actives.has(true) ? 'yes' : 'no';
    const maxReplicas = zeroReplicas();
    for (const s of samples) for (const m of DEMO_METRICS) maxReplicas[m] = Math.max(maxReplicas[m], s.replicas[m]);
    const last = timeline.samples[timeline.samples.length - 1];
    const end = p.endMs ?? last?.atMs ?? p.atMs;
    return {
      phase: p.name,
      startMs: p.atMs,
      durationMs: Math.max(0, end - p.atMs),
      samples: samples.length,
      active,
      rps: figure(seen.map((s) => s.rps)),
      p50Ms: figure(seen.map((s) => s.p50Ms)),
      p95Ms: figure(seen.map((s) => s.p95Ms)),
      p99Ms: figure(seen.map((s) => s.p99Ms)),
      concurrency: figure(seen.map((s) => s.concurrency)),
      clientRps: figure(samples.map((s) => s.client.rps)),
      clientP95Ms: figure(samples.map((s) => s.client.p95Ms)),
      maxReplicas,
    };
  });
}

function phaseStart(timeline: DemoTimeline, name: PhaseName): number | undefined {
  return timeline.phaseStarts.find((p) => p.name === name)?.atMs;
}

function checkActivation(timeline: DemoTimeline): ActivationCheck {
  const first = timeline.firstRequestAtMs;
  const none = { firstRequestAtMs: first, activeAtMs: undefined, delayMs: undefined };
  if (first === undefined) return { ok: false, ...none, detail: 'no request was ever sent' };
  const before = timeline.samples.filter((s) => s.atMs < first && s.scaler);
  if (before.length === 0) return { ok: false, ...none, detail: 'no sample before the first request: idle state unknown' };
  if (before.some((s) => s.scaler!.active)) {
    return { ok: false, ...none, detail: 'target was already active before the first request (not from zero)' };
  }
  // Activation must come from the single request, i.e. before the ramp adds traffic.
  const rampAt = phaseStart(timeline, 'ramp-up') ?? Number.POSITIVE_INFINITY;
  const hit = timeline.samples.find((s) => s.atMs >= first && s.scaler?.active === true);
  if (!hit || hit.atMs >= rampAt) {
    return { ok: false, ...none, detail: 'target did not become active after the first request (before the ramp up)' };
  }
  const delayMs = hit.atMs - first;
  return {
    ok: true,
    firstRequestAtMs: first,
    activeAtMs: hit.atMs,
    delayMs,
    detail: `first request at ${secs(first)}, active at ${secs(hit.atMs)} (+${(delayMs / 1000).toFixed(2)} s, sampling resolution)`,
  };
}

function checkScaleUp(timeline: DemoTimeline): ScaleUpCheck {
  const ramp = timeline.samples.filter((s) => s.phase === 'ramp-up');
  const peak = zeroReplicas();
  for (const s of ramp) for (const m of DEMO_METRICS) peak[m] = Math.max(peak[m], s.replicas[m]);
  const metrics = DEMO_METRICS.filter((m) => peak[m] > 1);
  const first = ramp.find((s) => DEMO_METRICS.some((m) => s.replicas[m] > 1));
  if (!first) return { ok: false, atMs: undefined, peak, metrics, detail: 'no metric asked for more than 1 replica during the ramp up' };
  const peaks = DEMO_METRICS.map((m) => `${m} ${peak[m]}`).join(', ');
  return { ok: true, atMs: first.atMs, peak, metrics, detail: `replicas > 1 from ${secs(first.atMs)}; peak ${peaks}` };
}

function checkScaleDown(timeline: DemoTimeline): ScaleDownCheck {
  const none = { atMs: undefined, metric: undefined, fromReplicas: undefined, toReplicas: undefined };
  const loaded = timeline.samples.filter((s) => s.phase === 'ramp-up' || s.phase === 'ramp-down');
  let best: ScaleDownCheck | undefined;
  for (const m of DEMO_METRICS) {
    let peakIndex = -1;
    for (let i = 0; i < loaded.length; i++) if (peakIndex === -1 || loaded[i]!.replicas[m] > loaded[peakIndex]!.replicas[m]) peakIndex = i;
    if (peakIndex === -1) continue;
    const peak = loaded[peakIndex]!;
    if (peak.replicas[m] <= 1) continue;
    // The lowest count the formula picked after the metric's peak while the target was
    // still active (scale to zero is the fourth check's business); the largest drop wins.
    // Only once the load goes down: a dip inside the ramp up is noise, not a scale-down.
    let low: SampleRecord | undefined;
    for (const s of timeline.samples) {
      const qualifies =
        s.atMs > peak.atMs &&
        (s.phase === 'ramp-down' || s.phase === 'final-idle') &&
        s.scaler?.active === true &&
        s.replicas[m] > 0 &&
        s.replicas[m] < peak.replicas[m];
      if (qualifies && (!low || s.replicas[m] < low.replicas[m])) low = s;
    }
    if (!low) continue;
    const drop = peak.replicas[m] - low.replicas[m];
    const bestDrop = best ? best.fromReplicas! - best.toReplicas! : 0;
    if (!best || drop > bestDrop) {
      best = {
        ok: true,
        atMs: low.atMs,
        metric: m,
        fromReplicas: peak.replicas[m],
        toReplicas: low.replicas[m],
        detail: `${m}: ${peak.replicas[m]} replicas at ${secs(peak.atMs)} -> ${low.replicas[m]} at ${secs(low.atMs)}`,
      };
    }
  }
  return best ?? { ok: false, ...none, detail: 'no metric asked for fewer replicas after its peak while the target was active' };
}

function checkInactive(timeline: DemoTimeline): InactiveCheck {
  const none = { atMs: undefined, afterLastRequestMs: undefined };
  const idleAt = phaseStart(timeline, 'final-idle');
  if (idleAt === undefined) return { ok: false, ...none, detail: 'the final idle phase never started' };
  const wasActive = timeline.samples.some((s) => s.atMs < idleAt && s.scaler?.active === true);
  if (!wasActive) return { ok: false, ...none, detail: 'the target was never active before the final idle' };
  const hit = timeline.samples.find((s) => s.atMs >= idleAt && s.scaler?.active === false);
  if (!hit) return { ok: false, ...none, detail: 'the target stayed active through the final idle' };
  const last = timeline.lastRequestAtMs;
  const after = last === undefined ? undefined : hit.atMs - last;
  return {
    ok: true,
    atMs: hit.atMs,
    afterLastRequestMs: after,
    detail: `inactive at ${secs(hit.atMs)}, ${secs(after)} after the last request`,
  };
}

export function evaluateChecks(timeline: DemoTimeline): DemoChecks {
  return {
    activationFromZero: checkActivation(timeline),
    scaleUp: checkScaleUp(timeline),
    scaleDown: checkScaleDown(timeline),
    returnToInactive: checkInactive(timeline),
  };
}

function maxAvg(f: Figure, digits = 1): string {
  return `${fmtNum(f.max, digits)}/${fmtNum(f.avg, digits)}`;
}

/** The closing text: a per-phase table and the four checks, PASS/FAIL spelled out. */
export function renderSummary(phases: readonly PhaseSummary[], checks: DemoChecks, note?: string): string {
  const cols = ['phase', 'start', 'length', 'active', 'rps', 'p50 ms', 'p95 ms', 'p99 ms', 'concurrency', 'client rps', 'replicas lat/rps/conc'];
  const rows = phases.map((p) => [
    p.phase,
    secs(p.startMs),
    secs(p.durationMs),
    p.active,
    maxAvg(p.rps),
    maxAvg(p.p50Ms),
    maxAvg(p.p95Ms),
    maxAvg(p.p99Ms),
    maxAvg(p.concurrency, 2),
    maxAvg(p.clientRps),
    `${p.maxReplicas.latency}/${p.maxReplicas.rps}/${p.maxReplicas.concurrency}`,
  ]);
  const widths = cols.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  const out = ['', 'Summary per phase (scaler figures and client rps as max/avg over samples; replicas = max picked):', line(cols)];
  out.push(line(widths.map((w) => '-'.repeat(w))));
  for (const r of rows) out.push(line(r));
  out.push('');
  out.push('Story checks:');
  const mark = (ok: boolean): string => (ok ? '[PASS]' : '[FAIL]');
  out.push(`  ${mark(checks.activationFromZero.ok)} activation from zero: ${checks.activationFromZero.detail}`);
  out.push(`  ${mark(checks.scaleUp.ok)} scale-up: ${checks.scaleUp.detail}`);
  out.push(`  ${mark(checks.scaleDown.ok)} scale-down: ${checks.scaleDown.detail}`);
  out.push(`  ${mark(checks.returnToInactive.ok)} return to inactive: ${checks.returnToInactive.detail}`);
  const all = checks.activationFromZero.ok && checks.scaleUp.ok && checks.scaleDown.ok && checks.returnToInactive.ok;
  out.push(all ? 'All four checks passed.' : 'Some checks FAILED (see above).');
  if (note) out.push(note);
  return out.join('\n') + '\n';
}
