import { createHash } from 'node:crypto';
import { formatDurationMs } from './duration.js';
import { metadataDefaults, type Selection, type TriggerConfig } from './metadata.js';
import { parseDurationMs } from './duration.js';

/**
 * Target identity: a target is what is observed (the selection); a trigger is a target
 * plus how its data becomes one metric. Triggers observing the same thing share a target
 * id, so collectors time it once and every trigger reads the same window.
 */

/** Hex digits kept of the selection hash: 48 bits, collision-free for any realistic target count. */
const TARGET_ID_HEX = 12;

/** Canonical text of a selection: fixed key order, lists already sorted by the parser. */
export function canonicalSelection(selection: Selection): string {
  return JSON.stringify([
    selection.namespace ?? '',
    selection.service ?? '',
    selection.servicePort ?? '',
    [...selection.ports].sort((a, b) => a - b),
    selection.netns ?? '',
    [...selection.demandAddresses].sort(),
  ]);
}

/** Ids already computed, by selection object: a cached trigger (src/keda/trigger-cache.ts) keeps its selection. */
const idsBySelection = new WeakMap<Selection, string>();

/** Stable short id of a selection (lower-case hex, path-safe). */
export function targetId(selection: Selection): string {
  let id = idsBySelection.get(selection);
  if (id === undefined) {
    id = createHash('sha256').update(canonicalSelection(selection)).digest('hex').slice(0, TARGET_ID_HEX);
    idsBySelection.set(selection, id);
  }
  return id;
}

/** "0.95" -> "95", "0.999" -> "99_9": path-safe (no "/", "%" or ".") and distinct per quantile. */
function quantileLabel(q: number): string {
  return Number((q * 100).toPrecision(12)).toString().replace('.', '_').replace('e-', 'em');
}

/**
 * The metric name of a trigger: deterministic, path-safe, lower-case, distinct for triggers
 * that differ in metric, quantile (latency only), window (when not the default) or selection.
 * e.g. "ebpf-latency-p95-3f2a9c0d1e4b", "ebpf-rps-w2m-3f2a9c0d1e4b".
 */
export function metricName(trigger: TriggerConfig): string {
  const parts = ['ebpf', trigger.metric];
  if (trigger.metric === 'latency') parts.push(`p${quantileLabel(trigger.quantile)}`);
  if (trigger.windowMs !== parseDurationMs(metadataDefaults.window)) parts.push(`w${formatDurationMs(trigger.windowMs)}`);
  parts.push(targetId(trigger.selection));
  return parts.join('-');
}

/** KEDA sends back the un-prefixed name, possibly in another case; compare case-insensitively. */
export function sameMetricName(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}
