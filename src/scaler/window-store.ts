import { Histogram, type SparseBuckets } from '../histogram/histogram.js';
import {
  DEFAULT_MAX_TARGETS,
  DEFAULT_TARGET_IDLE_EXPIRY_MS,
  IN_FLIGHT_STALE_MS,
  MAX_HISTORY_SECONDS,
  RECENT_IDS_KEPT,
} from './limits.js';

/**
 * Per-target sliding windows: a ring of one-second slots per target, merged across
 * collectors (adding deltas is merging). Pure: every method takes `now` (unix ms) and does
 * no I/O. Bounded: at most maxTargets targets x historySeconds slots, each slot holding a
 * sparse histogram (only the buckets that got counts), and targets nobody asked about for
 * idleExpiryMs are dropped.
 */

/** One collector interval's counters for one target (deltas; validated by ingest). */
export interface WindowDelta {
  readonly requests: number;
  readonly latencySumUs: number;
  readonly acceptedConnections: number;
  readonly demandAttempts: number;
  readonly demandRefused: number;
  readonly buckets: SparseBuckets;
}

interface Slot {
  sec: number;
  requests: number;
  latencySumUs: number;
  acceptedConnections: number;
  demandAttempts: number;
  demandRefused: number;
  /** bucket index -> count; sparse because most slots see a handful of buckets. */
  buckets: Map<number, number>;
  /** Earliest start and latest end (unix ms) of the collector intervals merged here. */
  startMs: number;
  endMs: number;
  /** Latest end of an interval that had activity (requests or demand); 0 = none. */
  activeEndMs: number;
}

/** Sums over a window of slots. */
export interface WindowSums {
  readonly requests: number;
  readonly latencySumUs: number;
  readonly acceptedConnections: number;
  readonly demandAttempts: number;
  readonly demandRefused: number;
  /**
   * The rate divisor: seconds of time the merged collector intervals actually span (from the
   * earliest interval start to the latest interval end in the window), at least 1. Counting
   * whole slots instead would read low while the current second is still filling, and high
   * when a reconnecting collector resends reports from before the target was admitted.
   */
  readonly coveredSeconds: number;
  readonly histogram?: Histogram;
}

/** Activity (requests + demand attempts) per second, oldest first, for activation timing. */
export interface ActivitySlot {
  readonly sec: number;
  readonly count: number;
  /** When this slot's activity stops counting: its last active interval's end + the window. */
  readonly untilMs: number;
}

export type AdmitResult = 'existing' | 'added' | 'refused';

export interface WindowStoreOptions {
  readonly maxTargets?: number;
  readonly idleExpiryMs?: number;
  readonly historySeconds?: number;
}

export interface WindowStoreStats {
  readonly targets: number;
  readonly maxTargets: number;
  readonly historySeconds: number;
  /** Slot objects currently allocated, over all targets (bound: maxTargets x historySeconds). */
  readonly slots: number;
  /** Histogram bucket entries over all slots (bound: slots x BUCKET_COUNT; far fewer in practice). */
  readonly bucketEntries: number;
  readonly refusedTotal: number;
  readonly expiredTotal: number;
  readonly droppedLateDeltas: number;
  /** Most recent refused / expired target ids (newest last). */
  readonly recentRefused: readonly string[];
  readonly recentExpired: readonly string[];
}

/**
 * Slots a target starts with: the default activationWindow (60 s) plus the second being
 * filled and one of slack. A trigger with a longer window grows its target's ring (up to
 * historySeconds), so memory follows the windows actually asked for, not the longest
 * window allowed.
 */
const INITIAL_SLOTS = 62;

class TargetWindow {
  slots: (Slot | undefined)[];
  pins = 0;
  readonly inFlight = new Map<string, { value: number; atMs: number }>();

  constructor(
    readonly admittedMs: number,
    public lastAskedMs: number,
    capacity: number,
  ) {
    this.slots = new Array<Slot | undefined>(capacity);
  }

  slotFor(sec: number): Slot | undefined {
    const slot = this.slots[sec % this.slots.length];
    return slot !== undefined && slot.sec === sec ? slot : undefined;
  }

  /** Re-places the kept slots in a larger ring. */
  grow(capacity: number): void {
    if (capacity <= this.slots.length) return;
    const next = new Array<Slot | undefined>(capacity);
    for (const slot of this.slots) if (slot !== undefined) next[slot.sec % capacity] = slot;
    this.slots = next;
  }
}

function pushRecent(list: string[], id: string): void {
  list.push(id);
  if (list.length > RECENT_IDS_KEPT) list.shift();
}

const toSec = (ms: number): number => Math.floor(ms / 1000);

export class WindowStore {
  readonly maxTargets: number;
  readonly idleExpiryMs: number;
  readonly historySeconds: number;
  private readonly targets = new Map<string, TargetWindow>();
  private refusedTotal = 0;
  private expiredTotal = 0;
  private droppedLate = 0;
  private readonly recentRefused: string[] = [];
  private readonly recentExpired: string[] = [];

  constructor(options: WindowStoreOptions = {}) {
    this.maxTargets = options.maxTargets ?? DEFAULT_MAX_TARGETS;
    this.idleExpiryMs = options.idleExpiryMs ?? DEFAULT_TARGET_IDLE_EXPIRY_MS;
    this.historySeconds = options.historySeconds ?? MAX_HISTORY_SECONDS;
  }

  /** Makes room for a target (asked about at `now`), or refuses it when the store is full. */
  admit(id: string, now: number): AdmitResult {
    const existing = this.targets.get(id);
    if (existing) {
      existing.lastAskedMs = Math.max(existing.lastAskedMs, now);
      return 'existing';
    }
    if (this.targets.size >= this.maxTargets) {
      this.refusedTotal++;
      pushRecent(this.recentRefused, id);
      return 'refused';
    }
    this.targets.set(id, new TargetWindow(now, now, Math.min(INITIAL_SLOTS, this.historySeconds)));
    return 'added';
  }

  /**
   * A trigger of this target looks `windowMs` back (its window or activationWindow): keep
   * enough one-second slots for it (bounded by historySeconds).
   */
  ensureHistory(id: string, windowMs: number): void {
    this.targets.get(id)?.grow(Math.min(this.historySeconds, Math.ceil(windowMs / 1000) + 2));
  }

  has(id: string): boolean {
    return this.targets.has(id);
  }

  ids(): string[] {
    return [...this.targets.keys()];
  }

  /** Someone (an RPC) asked about the target: it is not idle. */
  touch(id: string, now: number): void {
    const t = this.targets.get(id);
    if (t) t.lastAskedMs = Math.max(t.lastAskedMs, now);
  }

  /** An open stream pins its target: pinned targets never expire. */
  pin(id: string): void {
    const t = this.targets.get(id);
    if (t) t.pins++;
  }

  unpin(id: string, now: number): void {
    const t = this.targets.get(id);
    if (t && t.pins > 0) {
      t.pins--;
      t.lastAskedMs = Math.max(t.lastAskedMs, now);
    }
  }

  remove(id: string): boolean {
    return this.targets.delete(id);
  }

  /**
   * Adds one delta to the slot of second `atMs` (the end of the collector's interval of
   * `intervalMs`), clamped to `now` so a collector clock running ahead cannot write the
   * future. Deltas older than the history are dropped and counted. Returns false when not
   * recorded.
   */
  record(id: string, delta: WindowDelta, atMs: number, now: number, intervalMs = 1000): boolean {
    const t = this.targets.get(id);
    if (!t) return false;
    const nowSec = toSec(now);
    const endMs = Math.min(atMs, now);
    const sec = toSec(endMs);
    const capacity = t.slots.length;
    if (sec <= nowSec - capacity) {
      this.droppedLate++;
      return false;
    }
    const index = sec % capacity;
    let slot = t.slots[index];
    if (slot === undefined || slot.sec < sec) {
      slot = {
        sec,
        requests: 0,
        latencySumUs: 0,
        acceptedConnections: 0,
        demandAttempts: 0,
        demandRefused: 0,
        buckets: new Map(),
        startMs: endMs - intervalMs,
        endMs,
        activeEndMs: 0,
      };
      t.slots[index] = slot;
    } else if (slot.sec > sec) {
      this.droppedLate++;
      return false;
    }
    slot.startMs = Math.min(slot.startMs, endMs - intervalMs);
    slot.endMs = Math.max(slot.endMs, endMs);
    if (delta.requests + delta.demandAttempts > 0) slot.activeEndMs = Math.max(slot.activeEndMs, endMs);
    slot.requests += delta.requests;
    slot.latencySumUs += delta.latencySumUs;
    slot.acceptedConnections += delta.acceptedConnections;
    slot.demandAttempts += delta.demandAttempts;
    slot.demandRefused += delta.demandRefused;
    const n = Math.min(delta.buckets.indices.length, delta.buckets.counts.length);
    for (let i = 0; i < n; i++) {
      const count = delta.buckets.counts[i]!;
      if (count === 0) continue;
      const bucket = delta.buckets.indices[i]!;
      slot.buckets.set(bucket, (slot.buckets.get(bucket) ?? 0) + count);
    }
    return true;
  }

  /** The latest in-flight gauge of one source (a collector) for a target. */
  setInFlight(id: string, source: string, value: number, now: number): void {
    const t = this.targets.get(id);
    if (!t) return;
    if (value > 0) t.inFlight.set(source, { value, atMs: now });
    else t.inFlight.delete(source);
  }

  /** A source restarted or disconnected: its gauges no longer describe anything. */
  forgetSource(source: string): void {
    for (const t of this.targets.values()) t.inFlight.delete(source);
  }

  /** Requests in flight now: the sum of fresh gauges; `staleAtMs` is when the oldest one lapses. */
  inFlight(id: string, now: number): { value: number; staleAtMs?: number } {
    const t = this.targets.get(id);
    let value = 0;
    let staleAtMs: number | undefined;
    if (!t) return { value };
    for (const g of t.inFlight.values()) {
      if (now - g.atMs >= IN_FLIGHT_STALE_MS) continue;
      value += g.value;
      const at = g.atMs + IN_FLIGHT_STALE_MS;
      staleAtMs = staleAtMs === undefined ? at : Math.min(staleAtMs, at);
    }
    return staleAtMs === undefined ? { value } : { value, staleAtMs };
  }

  /**
   * Sums of the last `windowMs` (whole seconds, the current second included). The histogram
   * is merged only when asked for (latency triggers).
   */
  query(id: string, now: number, windowMs: number, withHistogram: boolean): WindowSums | undefined {
    const t = this.targets.get(id);
    if (!t) return undefined;
    const nowSec = toSec(now);
    const windowSec = Math.max(1, Math.min(t.slots.length, Math.round(windowMs / 1000)));
    let spanStartMs = Infinity;
    let spanEndMs = -Infinity;
    let requests = 0;
    let latencySumUs = 0;
    let acceptedConnections = 0;
    let demandAttempts = 0;
    let demandRefused = 0;
    const histogram = withHistogram ? new Histogram() : undefined;
    for (let sec = nowSec - windowSec + 1; sec <= nowSec; sec++) {
      const slot = t.slotFor(sec);
      if (!slot) continue;
      spanStartMs = Math.min(spanStartMs, slot.startMs);
      spanEndMs = Math.max(spanEndMs, slot.endMs);
      requests += slot.requests;
      latencySumUs += slot.latencySumUs;
      acceptedConnections += slot.acceptedConnections;
      demandAttempts += slot.demandAttempts;
      demandRefused += slot.demandRefused;
      if (histogram && slot.buckets.size > 0) histogram.addSparse({ indices: [...slot.buckets.keys()], counts: [...slot.buckets.values()] });
    }
    const covered = spanEndMs > spanStartMs ? (spanEndMs - spanStartMs) / 1000 : 0;
    const sums = { requests, latencySumUs, acceptedConnections, demandAttempts, demandRefused, coveredSeconds: Math.max(1, covered) };
    return histogram ? { ...sums, histogram } : sums;
  }

  /**
   * Activity slots (requests + demand attempts) whose last active interval ended within the
   * last `windowMs`, oldest first. Timed by the interval's end, not the slot's second, so
   * activity counts for the full window after it was reported, never less.
   */
  activity(id: string, now: number, windowMs: number): ActivitySlot[] {
    const t = this.targets.get(id);
    if (!t) return [];
    const nowSec = toSec(now);
    const windowSec = Math.max(1, Math.min(t.slots.length - 1, Math.ceil(windowMs / 1000)));
    const out: ActivitySlot[] = [];
    for (let sec = nowSec - windowSec; sec <= nowSec; sec++) {
      const slot = t.slotFor(sec);
      if (!slot || slot.activeEndMs === 0 || slot.activeEndMs + windowMs <= now) continue;
      out.push({ sec, count: slot.requests + slot.demandAttempts, untilMs: slot.activeEndMs + windowMs });
    }
    return out;
  }

  /**
   * Drops targets nobody asked about for idleExpiryMs (and with no open stream), and frees
   * slots that fell out of the history. Returns the expired ids.
   */
  sweep(now: number): string[] {
    const expired: string[] = [];
    for (const [id, t] of this.targets) {
      const oldestSec = toSec(now) - t.slots.length;
      if (t.pins === 0 && now - t.lastAskedMs >= this.idleExpiryMs) {
        this.targets.delete(id);
        expired.push(id);
        this.expiredTotal++;
        pushRecent(this.recentExpired, id);
        continue;
      }
      for (let i = 0; i < t.slots.length; i++) {
        const slot = t.slots[i];
        if (slot !== undefined && slot.sec <= oldestSec) t.slots[i] = undefined;
      }
    }
    return expired;
  }

  stats(): WindowStoreStats {
    let slots = 0;
    let bucketEntries = 0;
    for (const t of this.targets.values()) {
      for (const slot of t.slots) {
        if (slot === undefined) continue;
        slots++;
        bucketEntries += slot.buckets.size;
      }
    }
    return {
      targets: this.targets.size,
      maxTargets: this.maxTargets,
      historySeconds: this.historySeconds,
      slots,
      bucketEntries,
      refusedTotal: this.refusedTotal,
      expiredTotal: this.expiredTotal,
      droppedLateDeltas: this.droppedLate,
      recentRefused: [...this.recentRefused],
      recentExpired: [...this.recentExpired],
    };
  }
}
