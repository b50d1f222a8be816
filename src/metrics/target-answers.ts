/**
 * Per target, what the scaler last told KEDA: activity and metric values by metric name,
 * plus which ScaledObjects (namespace/name) asked. Bounded: at most as many targets as the
 * window store keeps (entries for targets it dropped are pruned at scrape time), and a few
 * ScaledObjects and metrics per target, so the exported series stay within --max-targets x
 * MAX_METRICS_PER_TARGET.
 */
const MAX_SCALED_OBJECTS_PER_TARGET = 8;
const MAX_METRICS_PER_TARGET = 8;

export interface TargetAnswer {
  readonly targetId: string;
  /** Sorted "namespace/name" list, comma-joined ("+N more" past the bound). */
  readonly scaledObjects: string;
  readonly active: boolean | undefined;
  readonly values: ReadonlyMap<string, number>;
}

interface Entry {
  readonly scaledObjects: Set<string>;
  overflow: number;
  active: boolean | undefined;
  readonly values: Map<string, number>;
}

export class TargetAnswers {
  private readonly entries = new Map<string, Entry>();
  private maxTargets = 1000;

  bound(maxTargets: number): void {
    this.maxTargets = maxTargets;
  }

  active(targetId: string, scaledObject: string, active: boolean): void {
    const entry = this.entry(targetId, scaledObject);
    if (entry) entry.active = active;
  }

  value(targetId: string, scaledObject: string, metric: string, value: number): void {
    const entry = this.entry(targetId, scaledObject);
    if (entry && (entry.values.has(metric) || entry.values.size < MAX_METRICS_PER_TARGET)) entry.values.set(metric, value);
  }

  /** Drops targets for which `live` is false (expired from the store). */
  prune(live: (targetId: string) => boolean): void {
    for (const id of this.entries.keys()) if (!live(id)) this.entries.delete(id);
  }

  list(): TargetAnswer[] {
    return [...this.entries].map(([targetId, e]) => ({
      targetId,
      scaledObjects: [...e.scaledObjects].sort().join(',') + (e.overflow > 0 ? `,+${e.overflow} more` : ''),
      active: e.active,
      values: e.values,
    }));
  }

  private entry(targetId: string, scaledObject: string): Entry | undefined {
    let entry = this.entries.get(targetId);
    if (!entry) {
      // The store refuses targets past --max-targets, so this only trims entries it already dropped.
      if (this.entries.size >= this.maxTargets) return undefined;
      entry = { scaledObjects: new Set(), overflow: 0, active: undefined, values: new Map() };
      this.entries.set(targetId, entry);
    }
    if (!entry.scaledObjects.has(scaledObject)) {
      if (entry.scaledObjects.size < MAX_SCALED_OBJECTS_PER_TARGET) entry.scaledObjects.add(scaledObject);
      else entry.overflow++;
    }
    return entry;
  }
}
