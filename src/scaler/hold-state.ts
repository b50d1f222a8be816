/**
 * What the collectors need to hold a target's first connections (holdAtZero): how long,
 * and whether the target is ready. Pure bookkeeping, no I/O; the registry owns one and
 * pushes a new watch set when `onChange` fires.
 *
 * - holdAtZero is a trigger key, but collectors hold per target: triggers sharing a target
 *   (e.g. a latency and an rps trigger on one Service) each state theirs, and the target
 *   holds for the longest one still stated. A trigger that drops the key states 0.
 * - Ready: Kubernetes mode knows it from the Service's EndpointSlices (the resolver sets
 *   `endpointsReady`); standalone mode from the collectors' listening-socket view (a
 *   listener on the target's server port on any node that reports).
 */
export interface TargetHold {
  readonly holdAtZeroMs: number;
  readonly ready: boolean;
}

interface TargetEntry {
  /** trigger key -> holdAtZero ms it asked for */
  readonly requests: Map<string, number>;
  /** collector id -> listening sockets it reported last */
  readonly listeners: Map<string, number>;
  /** From EndpointSlices; undefined = this target has no Service (standalone readiness). */
  endpointsReady: boolean | undefined;
}

export class HoldState {
  private readonly targets = new Map<string, TargetEntry>();

  constructor(private readonly onChange: (targetId: string) => void) {}

  private entry(targetId: string): TargetEntry {
    let entry = this.targets.get(targetId);
    if (!entry) {
      entry = { requests: new Map(), listeners: new Map(), endpointsReady: undefined };
      this.targets.set(targetId, entry);
    }
    return entry;
  }

  /** What collectors are told for a target (holdAtZero 0 when nobody asked). */
  get(targetId: string): TargetHold {
    const entry = this.targets.get(targetId);
    if (!entry) return NOT_HELD;
    return { holdAtZeroMs: holdOf(entry), ready: readyOf(entry) };
  }

  /** A trigger stated its holdAtZero (0 = off). */
  request(targetId: string, triggerKey: string, holdAtZeroMs: number): void {
    // Every KEDA call states it again: the same value changes nothing (and costs no allocation).
    const entry = this.targets.get(targetId);
    if (entry && (entry.requests.get(triggerKey) ?? 0) === Math.max(0, holdAtZeroMs)) return;
    this.update(targetId, (entry) => {
      if (holdAtZeroMs > 0) entry.requests.set(triggerKey, holdAtZeroMs);
      else entry.requests.delete(triggerKey);
    });
  }

  /** A collector's latest listening-socket count for a target (standalone readiness). */
  reportListeners(targetId: string, collectorId: string, listeners: number): void {
    // Every report of every target states it again: the same count changes nothing.
    const entry = this.targets.get(targetId);
    if (entry && (entry.listeners.get(collectorId) ?? 0) === Math.max(0, listeners)) return;
    this.update(targetId, (entry) => {
      if (listeners > 0) entry.listeners.set(collectorId, listeners);
      else entry.listeners.delete(collectorId);
    });
  }

  /** Kubernetes mode: whether the target's Service has a ready endpoint. */
  setEndpointsReady(targetId: string, ready: boolean | undefined): void {
    this.update(targetId, (entry) => {
      entry.endpointsReady = ready;
    });
  }

  /** A collector went away: its listeners no longer say anything. */
  forgetSource(collectorId: string): void {
    for (const [targetId, entry] of this.targets) {
      if (entry.listeners.has(collectorId)) this.update(targetId, (e) => e.listeners.delete(collectorId));
    }
  }

  /** The target expired. */
  forget(targetId: string): void {
    this.targets.delete(targetId);
  }

  private update(targetId: string, change: (entry: TargetEntry) => void): void {
    const entry = this.entry(targetId);
    const holdBefore = holdOf(entry);
    const readyBefore = readyOf(entry);
    change(entry);
    const holdAfter = holdOf(entry);
    // Readiness only matters to collectors of a target that holds: no watch-set churn else.
    if (holdBefore !== holdAfter || (holdAfter > 0 && readyBefore !== readyOf(entry))) this.onChange(targetId);
  }
}

const NOT_HELD: TargetHold = { holdAtZeroMs: 0, ready: false };

/** The longest holdAtZero any trigger states (0 when none). Loops, not spreads: called per report delta. */
function holdOf(entry: TargetEntry): number {
  let ms = 0;
  for (const v of entry.requests.values()) if (v > ms) ms = v;
  return ms;
}

function readyOf(entry: TargetEntry): boolean {
  if (entry.endpointsReady !== undefined) return entry.endpointsReady;
  for (const n of entry.listeners.values()) if (n > 0) return true;
  return false;
}
