import type { Logger } from 'pino';
import type { ScaledObjectRef__Output } from '../proto/generated/externalscaler/ScaledObjectRef.js';
import { parseTriggerMetadata, type TriggerConfig } from '../scaler/metadata.js';
import type { RegisteredTarget, TargetRegistry } from '../scaler/registry.js';
import { metricName, targetId } from '../scaler/target.js';
import { TRIGGER_CACHE_ENTRIES_PER_TARGET, TriggerCache, type CachedTrigger } from './trigger-cache.js';

/** A ScaledObjectRef made sense of: its trigger, its (registered) target and metric name. */
export interface PreparedTrigger {
  readonly trigger: TriggerConfig;
  readonly target: RegisteredTarget;
  readonly metricName: string;
  readonly log: Logger;
}

/**
 * One cache per registry: it indexes that registry's targets and follows its expiries.
 * (A WeakMap, so every server, test and benchmark instance gets its own.)
 */
const caches = new WeakMap<TargetRegistry, TriggerCache>();

function cacheOf(registry: TargetRegistry): TriggerCache {
  let cache = caches.get(registry);
  if (cache === undefined) {
    const created = new TriggerCache(Math.max(256, registry.store.maxTargets * TRIGGER_CACHE_ENTRIES_PER_TARGET));
    registry.onChange((change) => created.forgetTargets(new Set(change.removed)));
    caches.set(registry, created);
    cache = created;
  }
  return cache;
}

/**
 * The target id a ref's trigger observes, from the same cache (no parse for a ref already
 * seen); undefined when the metadata is invalid. For observers such as the metrics wrapper.
 */
export function targetIdOf(ref: ScaledObjectRef__Output | null | undefined, registry: TargetRegistry): string | undefined {
  const cache = cacheOf(registry);
  const last = ref ? cache.peekByRequest(ref) : undefined;
  if (last !== undefined) return targetId(last.trigger.selection);
  const namespace = ref?.namespace ?? '';
  const metadata = ref?.scalerMetadata ?? {};
  const entry = cache.get(TriggerCache.keyOf(namespace, ref?.name ?? '', metadata));
  if (entry !== undefined) return targetId(entry.trigger.selection);
  try {
    return targetId(parseTriggerMetadata(metadata, namespace).selection);
  } catch {
    return undefined;
  }
}

/**
 * Parses the metadata (or finds it parsed: KEDA resends the same map) and registers the
 * target (every call counts as "asked about").
 * Throws ScalerError: INVALID_METADATA, SERVICE_NEEDS_KUBERNETES, TARGET_LIMIT, ...
 */
export async function prepareTrigger(ref: ScaledObjectRef__Output | null | undefined, registry: TargetRegistry, now: number, log: Logger): Promise<PreparedTrigger> {
  return prepareTriggerNow(ref, registry, now, log);
}

/**
 * prepareTrigger for the KEDA hot path: answers at once (no promise, no allocation) when the
 * ref is cached and its target registered, which is every call after a ScaledObject's first;
 * a promise only when the target must be registered (resolved, admitted). Throws synchronously
 * what prepareTrigger rejects with.
 */
export function prepareTriggerNow(ref: ScaledObjectRef__Output | null | undefined, registry: TargetRegistry, now: number, log: Logger): PreparedTrigger | Promise<PreparedTrigger> {
  const namespace = ref?.namespace ?? '';
  const name = ref?.name ?? '';
  const metadata = ref?.scalerMetadata ?? {};
  const cache = cacheOf(registry);
  let entry: CachedTrigger | undefined = ref ? cache.getByRequest(ref) : undefined;
  if (entry === undefined) {
    const key = TriggerCache.keyOf(namespace, name, metadata);
    entry = cache.get(key);
    if (entry === undefined) {
      const trigger = parseTriggerMetadata(metadata, namespace);
      const metric = metricName(trigger);
      entry = { trigger, metricName: metric, owner: `${namespace}/${name}`, holdKey: `${namespace}/${name}/${metric}` };
      cache.set(key, entry);
    }
    if (ref) cache.bindRequest(ref, entry);
  }
  const known = registry.touchKnown(targetId(entry.trigger.selection), now, entry.owner);
  if (known !== undefined) return prepared(entry, known, registry, log, namespace, name);
  const found = entry;
  return registry.register(found.trigger.selection, now, found.owner).then((target) => prepared(found, target, registry, log, namespace, name));
}

/** The bookkeeping of every call (history length, holdAtZero), then the answer, reused while nothing changed. */
function prepared(entry: CachedTrigger, target: RegisteredTarget, registry: TargetRegistry, log: Logger, namespace: string, name: string): PreparedTrigger {
  const { trigger } = entry;
  registry.store.ensureHistory(target.id, Math.max(trigger.windowMs, trigger.activationWindowMs));
  registry.holds.request(target.id, entry.holdKey, trigger.holdAtZeroMs);
  if (entry.prepared?.target === target) return entry.prepared;
  if (entry.log?.targetId !== target.id) {
    entry.log = { targetId: target.id, logger: log.child({ namespace, scaledObject: name, targetId: target.id }) };
  }
  entry.prepared = { trigger, target, metricName: entry.metricName, log: entry.log.logger };
  return entry.prepared;
}
