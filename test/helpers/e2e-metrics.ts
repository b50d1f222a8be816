import type { KedaClient, KedaRef } from '../../src/keda/client.js';

/**
 * KEDA-style reads for the end-to-end tests: a ref per metric kind over one selection,
 * registered the way KEDA does it (GetMetricSpec, then GetMetrics), and timed samples.
 */

export type MetricKind = 'latency' | 'rps' | 'concurrency';

export interface MetricRef {
  readonly kind: MetricKind;
  /** Key of this ref's value in a Sample (the kind unless relabelled). */
  readonly label: string;
  readonly ref: KedaRef;
  readonly metricName: string;
}

/** One trigger per metric kind over the same selection (`base` metadata). */
export async function metricRefs(client: KedaClient, name: string, base: Readonly<Record<string, string>>, kinds: readonly MetricKind[]): Promise<MetricRef[]> {
  const refs: MetricRef[] = [];
  for (const kind of kinds) {
    const ref: KedaRef = { name: `${name}-${kind}`, namespace: 'e2e', metadata: { targetValue: '1', ...base, metric: kind } };
    const metricName = await client.metricName(ref);
    await client.metricValue(ref, metricName);
    refs.push({ kind, label: kind, ref, metricName });
  }
  return refs;
}

export interface Sample {
  /** Unix ms when the reads were issued. */
  readonly atMs: number;
  /** By MetricRef label. */
  readonly values: Readonly<Record<string, number>>;
}

/** Reads every ref once, concurrently. */
export async function sample(client: KedaClient, refs: readonly MetricRef[]): Promise<Sample> {
  const atMs = Date.now();
  const values: Record<string, number> = {};
  await Promise.all(
    refs.map(async (r) => {
      values[r.label] = await client.metricValue(r.ref, r.metricName);
    }),
  );
  return { atMs, values };
}

/** Samples every `everyMs` until `untilMs` (unix ms); bounded by the deadline. */
export async function sampleUntil(client: KedaClient, refs: readonly MetricRef[], untilMs: number, everyMs = 100): Promise<Sample[]> {
  const out: Sample[] = [];
  while (Date.now() < untilMs) {
    const started = Date.now();
    out.push(await sample(client, refs));
    const wait = everyMs - (Date.now() - started);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  return out;
}

export function mean(values: readonly number[]): number {
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN;
}

/** Mean of one labelled value over the samples taken in [fromMs, toMs). */
export function meanBetween(samples: readonly Sample[], label: string, fromMs: number, toMs: number): number {
  return mean(samples.filter((s) => s.atMs >= fromMs && s.atMs < toMs).map((s) => s.values[label] ?? NaN));
}

/** The same ref under another label (several triggers of one kind in one sample). */
export function relabel(ref: MetricRef, label: string): MetricRef {
  return { ...ref, label };
}
