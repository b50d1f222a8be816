import type { Logger } from 'pino';
import type { TriggerConfig } from '../scaler/metadata.js';
import type { PreparedTrigger } from './trigger.js';
import { dropOldest } from '../bounded-map.js';

/**
 * Parsed triggers keyed by the exact ScaledObjectRef KEDA sends. KEDA resends the same
 * metadata map on every poll (GetMetricSpec, GetMetrics, IsActive, every 15-30 s per
 * ScaledObject), so a repeated call skips the zod parse, the metric name and the child
 * logger, and (through the selection object kept here) the target id hash.
 * Bounded (least recently used out first) and cleared of targets the registry dropped.
 */

export interface CachedTrigger {
  /** Its key in the cache (set by the cache). */
  key?: string;
  /** False once evicted or forgotten: a request object that still points here must look again. */
  live?: boolean;
  readonly trigger: TriggerConfig;
  readonly metricName: string;
  /** The child logger of the last call, valid while the target id is the same. */
  log?: { readonly targetId: string; readonly logger: Logger };
  /** The answer of the last call, reused while the registry hands out the same target object. */
  prepared?: PreparedTrigger;
  /** "namespace/name" (the owner the store is told) and the holdAtZero key: built once, not per call. */
  readonly owner: string;
  readonly holdKey: string;
}

/** An entry per distinct ref is a few hundred bytes; this many per allowed target leaves room for several triggers each. */
export const TRIGGER_CACHE_ENTRIES_PER_TARGET = 4;

export class TriggerCache {
  private readonly entries = new Map<string, CachedTrigger>();
  /**
   * Entries by request object, for requests the KEDA port decoded from bytes it had seen
   * (keda/wire-cache.ts: the same frozen object every time): found without building the key.
   */
  private readonly byRequest = new WeakMap<object, CachedTrigger>();

  constructor(readonly maxEntries: number) {}

  get size(): number {
    return this.entries.size;
  }

  /**
   * The exact ref as one string, unambiguous whatever the values contain (JSON escapes
   * them); keys in the order received, so a reordered map is another entry, never a wrong one.
   */
  static keyOf(namespace: string, name: string, metadata: Readonly<Record<string, string>>): string {
    return JSON.stringify([namespace, name, metadata]);
  }

  get(key: string): CachedTrigger | undefined {
    const entry = this.entries.get(key);
    if (entry !== undefined) this.touch(key, entry);
    return entry;
  }

  /** The live entry `request` (a frozen, reused request object) was bound to, as get() would find it. */
  getByRequest(request: object): CachedTrigger | undefined {
    const entry = this.peekByRequest(request);
    if (entry !== undefined) this.touch(entry.key!, entry);
    return entry;
  }

  /**
   * getByRequest without marking the entry used: for observers (the metrics wrapper asks
   * about the very request the handler just prepared).
   */
  peekByRequest(request: object): CachedTrigger | undefined {
    const entry = this.byRequest.get(request);
    return entry !== undefined && entry.live === true && entry.key !== undefined ? entry : undefined;
  }

  /** Binds a frozen request object (only those: others are made anew per call) to its entry. */
  bindRequest(request: object, entry: CachedTrigger): void {
    if (Object.isFrozen(request)) this.byRequest.set(request, entry);
  }

  private touch(key: string, entry: CachedTrigger): void {
    // Re-insert: Map iteration order is insertion order, so the first key is the least recently used.
    this.entries.delete(key);
    this.entries.set(key, entry);
  }

  set(key: string, entry: CachedTrigger): void {
    const replaced = this.entries.get(key);
    if (replaced !== undefined && replaced !== entry) replaced.live = false;
    entry.key = key;
    entry.live = true;
    this.entries.set(key, entry);
    dropOldest(this.entries, this.maxEntries, (_, evicted) => {
      evicted.live = false;
    });
  }

  /** Drops the entries of targets that left the registry (expired), so the cache never outlives them. */
  forgetTargets(ids: ReadonlySet<string>): void {
    if (ids.size === 0) return;
    for (const [key, entry] of this.entries) {
      if (entry.log !== undefined && ids.has(entry.log.targetId)) {
        entry.live = false;
        this.entries.delete(key);
      }
    }
  }
}
