import { Histogram, type SparseBuckets } from '../histogram/histogram.js';
import { decideAdmission, type AdmissionCandidate, type AdmissionView } from './admission.js';
import {
  AGGREGATE_IDLE_MS,
  COARSE_SLOT_SECONDS,
  DEFAULT_MAX_HISTOGRAM_BYTES,
  DEFAULT_MAX_TARGETS,
  DEFAULT_MAX_TARGETS_PER_SCALEDOBJECT,
  DEFAULT_TARGET_IDLE_EXPIRY_MS,
  IN_FLIGHT_STALE_MS,
  MAX_AGGREGATES_PER_TARGET,
  MAX_FINE_SLOTS,
  MAX_HISTORY_SECONDS,
  MIN_IDLE_BEFORE_EVICTION_MS,
  RECENT_IDS_KEPT,
  SLOT_BYTES,
} from './limits.js';
import { SparseCounts } from './sparse-counts.js';
import { WindowAggregate } from './window-aggregate.js';
import { coarseKey, planHasCoarse, planHasFine, toSec, windowPlan, type WindowPlan } from './window-plan.js';
import { setNewest } from '../bounded-map.js';

/**
 * Per-target sliding windows, merged across collectors (adding deltas is merging). Pure:
 * every method takes `now` (unix ms) and does no I/O.
 *
 * Each target keeps two rings: one-second slots for the last MAX_FINE_SLOTS seconds (the
 * default windows, activation timing to the second) and, only when a trigger asks for a
 * longer window, COARSE_SLOT_SECONDS-wide slots for the rest of its history. Every slot
 * holds counters and a sparse histogram (only the buckets that got counts). So memory is
 *   targets x (fine + coarse slots) x (SLOT_BYTES + buckets used x 10 bytes)
 * with at most maxTargets targets, 62 + 62 slots each and 384 buckets per slot, and all the
 * buckets together within maxHistogramBytes (docs/security.md, "Memory and limits"), plus
 * per target at most MAX_AGGREGATES_PER_TARGET running window histograms (window-aggregate.ts)
 * of at most 384 buckets each, so a latency query reads a running sum instead of merging
 * every slot of its window.
 */

/** One collector interval's counters for one target (deltas; validated by ingest). */
export interface WindowDelta {
  readonly requests: number;
  readonly latencySumUs: number;
  readonly acceptedConnections: number;
  readonly demandAttempts: number;
  readonly demandRefused: number;
  /** Connection attempts the target's listeners dropped (accept queue full); absent from older collectors. */
  readonly listenDrops?: number;
  readonly buckets: SparseBuckets;
}

/** A slot's counters, kept in step with the deltas (and slots) merged into it by addCounters. */
interface Counters {
  requests: number;
  latencySumUs: number;
  acceptedConnections: number;
  demandAttempts: number;
  demandRefused: number;
  listenDrops: number;
}

interface Slot extends Counters {
  /** Fine ring: the second. Coarse ring: the coarse slot's number (second / COARSE_SLOT_SECONDS). */
  key: number;
  /** Only the buckets that got counts; allocated on the first one. */
  buckets: SparseCounts | undefined;
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
  readonly listenDrops: number;
  /**
   * The rate divisor: seconds of time the merged collector intervals actually span (from the
   * earliest interval start to the latest interval end in the window), at least 1. Counting
   * whole slots instead would read low while the current second is still filling, and high
   * when a reconnecting collector resends reports from before the target was admitted.
   */
  readonly coveredSeconds: number;
  /**
   * The window's latency histogram: a running sum kept by the store (valid until the store
   * next changes; read it at once).
   */
  readonly histogram?: WindowHistogram;
}

/** What a latency metric reads of a window's histogram. */
export interface WindowHistogram {
  readonly total: number;
  quantileUs(q: number): number;
}

/** Activity (requests + demand attempts) per slot, oldest first, for activation timing. */
export interface ActivitySlot {
  /** The slot's first second. */
  readonly sec: number;
  readonly count: number;
  /** When this slot's activity stops counting: its last active interval's end + the window. */
  readonly untilMs: number;
}

export type AdmitResult = 'existing' | 'added' | 'refused';

export interface AdmitOutcome {
  readonly result: AdmitResult;
  /** Targets that gave their place to this one (see admission.ts); already removed. */
  readonly evicted: readonly string[];
  /** Why it was refused: the owner's cap, or a full table of pinned / recently asked targets. */
  readonly refusedBecause?: 'owner-cap' | 'full';
}

export interface WindowStoreOptions {
  readonly maxTargets?: number;
  readonly idleExpiryMs?: number;
  readonly historySeconds?: number;
  /** Budget for histogram buckets over all slots, in bytes (see SparseCounts.bytes). */
  readonly maxHistogramBytes?: number;
  readonly maxTargetsPerScaledObject?: number;
  readonly minIdleBeforeEvictionMs?: number;
}

export interface WindowStoreStats {
  readonly targets: number;
  readonly maxTargets: number;
  readonly historySeconds: number;
  /** Slot objects currently allocated, over all targets and both rings. */
  readonly slots: number;
  readonly fineSlots: number;
  readonly coarseSlots: number;
  /** Histogram bucket entries over all slots (bound: slots x BUCKET_COUNT; far fewer in practice). */
  readonly bucketEntries: number;
  /** Running window histograms (window-aggregate.ts) over all targets, and their bytes (in estimatedBytes). */
  readonly aggregates: number;
  readonly aggregateBytes: number;
  /** Bytes the slots and their histograms take by the store's accounting (the formula's terms). */
  readonly estimatedBytes: number;
  readonly histogramBytes: number;
  readonly maxHistogramBytes: number;
  /** Deltas whose histogram part was dropped because the histogram budget was used up. */
  readonly histogramDropsOverBudget: number;
  readonly refusedTotal: number;
  readonly expiredTotal: number;
  /** Targets that gave their place in a full table to another ScaledObject's (admission.ts). */
  readonly evictedTotal: number;
  readonly droppedLateDeltas: number;
  /** Refusals per ScaledObject ("namespace/name"; "" when unknown), the most recent 32 kept. */
  readonly refusedByScaledObject: Readonly<Record<string, number>>;
  /** Most recent refused / expired / evicted target ids (newest last). */
  readonly recentRefused: readonly string[];
  readonly recentExpired: readonly string[];
  readonly recentEvicted: readonly string[];
}

class Ring {
  slots: (Slot | undefined)[];
  constructor(capacity: number) {
    this.slots = new Array<Slot | undefined>(capacity);
  }

  get capacity(): number {
    return this.slots.length;
  }

  get(key: number): Slot | undefined {
    const slot = this.slots[key % this.slots.length];
    return slot !== undefined && slot.key === key ? slot : undefined;
  }
}

function emptySlot(key: number, startMs: number, endMs: number): Slot {
  return { key, requests: 0, latencySumUs: 0, acceptedConnections: 0, demandAttempts: 0, demandRefused: 0, listenDrops: 0, buckets: undefined, startMs, endMs, activeEndMs: 0 };
}

function slotBytes(slot: Slot): number {
  return SLOT_BYTES + (slot.buckets?.bytes ?? 0);
}

class TargetWindow {
  fine: Ring;
  coarse: Ring | undefined;
  pins = 0;
  /** Running histograms of the windows latency queries read, most recently read last. */
  aggregates: WindowAggregate[] = [];
  readonly inFlight = new Map<string, { value: number; atMs: number }>();

  constructor(
    readonly admittedMs: number,
    public lastAskedMs: number,
    public owner: string,
    fineCapacity: number,
  ) {
    this.fine = new Ring(fineCapacity);
  }
}

function pushRecent(list: string[], id: string): void {
  list.push(id);
  if (list.length > RECENT_IDS_KEPT) list.shift();
}


function addCounters(slot: Counters, from: Readonly<Omit<Counters, 'listenDrops'> & { listenDrops?: number }>): void {
  slot.requests += from.requests;
  slot.latencySumUs += from.latencySumUs;
  slot.acceptedConnections += from.acceptedConnections;
  slot.demandAttempts += from.demandAttempts;
  slot.demandRefused += from.demandRefused;
  slot.listenDrops += from.listenDrops ?? 0;
}

/** The plan of a target's seconds [fromSec, nowSec] (window-plan.ts). */
function planOf(t: TargetWindow, fromSec: number, nowSec: number): WindowPlan {
  return windowPlan(t.fine.capacity, t.coarse?.capacity, fromSec, nowSec);
}

/** Whether an aggregate's sum holds the slot `key` of the fine (or coarse) ring. */
function aggregateHolds(a: WindowAggregate, fine: boolean, key: number): boolean {
  return fine ? planHasFine(a.plan, key) : planHasCoarse(a.plan, key);
}

export class WindowStore {
  readonly maxTargets: number;
  readonly idleExpiryMs: number;
  readonly historySeconds: number;
  readonly maxHistogramBytes: number;
  readonly maxTargetsPerScaledObject: number;
  readonly minIdleBeforeEvictionMs: number;
  private readonly targets = new Map<string, TargetWindow>();
  /** Owner ("namespace/name") -> the targets it asked for last. */
  private readonly owned = new Map<string, Set<string>>();
  private histogramBytes = 0;
  private histogramDrops = 0;
  private refusedTotal = 0;
  private expiredTotal = 0;
  private evictedTotal = 0;
  private droppedLate = 0;
  private readonly refusedByOwner = new Map<string, number>();
  private readonly recentRefused: string[] = [];
  private readonly recentExpired: string[] = [];
  private readonly recentEvicted: string[] = [];

  constructor(options: WindowStoreOptions = {}) {
    this.maxTargets = options.maxTargets ?? DEFAULT_MAX_TARGETS;
    this.idleExpiryMs = options.idleExpiryMs ?? DEFAULT_TARGET_IDLE_EXPIRY_MS;
    this.historySeconds = options.historySeconds ?? MAX_HISTORY_SECONDS;
    this.maxHistogramBytes = options.maxHistogramBytes ?? DEFAULT_MAX_HISTOGRAM_BYTES;
    this.maxTargetsPerScaledObject = options.maxTargetsPerScaledObject ?? DEFAULT_MAX_TARGETS_PER_SCALEDOBJECT;
    this.minIdleBeforeEvictionMs = options.minIdleBeforeEvictionMs ?? MIN_IDLE_BEFORE_EVICTION_MS;
  }

  /** Slots a fresh target starts with (its fine ring; long windows add a coarse one). */
  private get fineCapacity(): number {
    return Math.min(MAX_FINE_SLOTS, this.historySeconds);
  }

  /** Makes room for a target (asked about at `now`), or refuses it when the store is full. */
  admit(id: string, now: number, owner = ''): AdmitResult {
    return this.admitFor(id, now, owner).result;
  }

  /**
   * admit() with fairness between ScaledObjects (admission.ts): `owner` is the asking
   * ScaledObject ("namespace/name"). The outcome lists targets evicted to make room.
   */
  admitFor(id: string, now: number, owner = ''): AdmitOutcome {
    const existing = this.targets.get(id);
    if (existing) {
      this.touch(id, now, owner);
      return { result: 'existing', evicted: [] };
    }
    const evicted: string[] = [];
    // At most two rounds: the owner's own cap, then the table's.
    for (let round = 0; round < 2; round++) {
      const decision = decideAdmission(this.admissionView(), owner, now);
      if (decision.kind === 'admit') break;
      if (decision.kind === 'refuse') return this.refuse(id, owner, decision.reason, evicted);
      this.dropTarget(decision.evict);
      this.evictedTotal++;
      pushRecent(this.recentEvicted, decision.evict);
      evicted.push(decision.evict);
    }
    if (this.targets.size >= this.maxTargets) return this.refuse(id, owner, 'full', evicted);
    this.targets.set(id, new TargetWindow(now, now, owner, this.fineCapacity));
    this.ownedSet(owner).add(id);
    return { result: 'added', evicted };
  }

  private refuse(id: string, owner: string, reason: 'owner-cap' | 'full', evicted: string[]): AdmitOutcome {
    this.refusedTotal++;
    pushRecent(this.recentRefused, id);
    const count = (this.refusedByOwner.get(owner) ?? 0) + 1;
    setNewest(this.refusedByOwner, owner, count, RECENT_IDS_KEPT);
    return { result: 'refused', evicted, refusedBecause: reason };
  }

  private ownedSet(owner: string): Set<string> {
    let set = this.owned.get(owner);
    if (!set) {
      set = new Set();
      this.owned.set(owner, set);
    }
    return set;
  }

  private setOwner(id: string, t: TargetWindow, owner: string): void {
    if (t.owner === owner) return;
    const previous = this.owned.get(t.owner);
    previous?.delete(id);
    if (previous?.size === 0) this.owned.delete(t.owner);
    t.owner = owner;
    this.ownedSet(owner).add(id);
  }

  private admissionView(): AdmissionView {
    const targets = this.targets;
    const candidate = (id: string): AdmissionCandidate | undefined => {
      const t = targets.get(id);
      return t ? { id, owner: t.owner, lastAskedMs: t.lastAskedMs, pinned: t.pins > 0 } : undefined;
    };
    return {
      size: targets.size,
      maxTargets: this.maxTargets,
      maxTargetsPerOwner: this.maxTargetsPerScaledObject,
      minIdleBeforeEvictionMs: this.minIdleBeforeEvictionMs,
      ownedBy: (owner) => this.owned.get(owner),
      owners: () => this.owned.entries(),
      candidate,
      *all() {
        for (const id of targets.keys()) yield candidate(id)!;
      },
    };
  }

  /** Removes a target and gives its bytes back. */
  private dropTarget(id: string): boolean {
    const t = this.targets.get(id);
    if (!t) return false;
    for (const ring of [t.fine, t.coarse]) {
      for (const slot of ring?.slots ?? []) if (slot?.buckets) this.histogramBytes -= slot.buckets.bytes;
    }
    this.targets.delete(id);
    const set = this.owned.get(t.owner);
    set?.delete(id);
    if (set?.size === 0) this.owned.delete(t.owner);
    return true;
  }

  /**
   * A trigger of this target looks `windowMs` back (its window or activationWindow): keep
   * enough history for it (bounded by historySeconds). Up to MAX_FINE_SLOTS seconds in
   * one-second slots; a longer window adds the coarse ring, seeded from the fine one.
   */
  ensureHistory(id: string, windowMs: number): void {
    const t = this.targets.get(id);
    if (!t) return;
    const seconds = Math.min(this.historySeconds, Math.ceil(windowMs / 1000) + 2);
    if (seconds <= t.fine.capacity) return;
    const coarseCapacity = Math.ceil(seconds / COARSE_SLOT_SECONDS) + 2;
    if (t.coarse && t.coarse.capacity >= coarseCapacity) return;
    const coarse = new Ring(coarseCapacity);
    if (t.coarse) {
      for (const slot of t.coarse.slots) if (slot) coarse.slots[slot.key % coarseCapacity] = slot;
    } else {
      const ordered = t.fine.slots.filter((x): x is Slot => x !== undefined).sort((a, b) => a.key - b.key);
      for (const slot of ordered) this.mergeInto(coarse, coarseKey(slot.key), slot);
    }
    t.coarse = coarse;
    // Plans over the new ring differ: the running sums start again from the slots.
    t.aggregates = [];
  }

  /** Adds a fine slot's content to the coarse slot `key` (seeding a new coarse ring). */
  private mergeInto(ring: Ring, key: number, from: Slot): void {
    const index = key % ring.capacity;
    let slot = ring.slots[index];
    if (slot === undefined || slot.key < key) {
      if (slot?.buckets) this.histogramBytes -= slot.buckets.bytes;
      slot = emptySlot(key, from.startMs, from.endMs);
      ring.slots[index] = slot;
    } else if (slot.key > key) {
      return;
    }
    slot.startMs = Math.min(slot.startMs, from.startMs);
    slot.endMs = Math.max(slot.endMs, from.endMs);
    slot.activeEndMs = Math.max(slot.activeEndMs, from.activeEndMs);
    addCounters(slot, from);
    if (from.buckets && from.buckets.size > 0) {
      const before = slot.buckets?.bytes ?? 0;
      slot.buckets ??= new SparseCounts();
      slot.buckets.addAll(from.buckets);
      this.histogramBytes += slot.buckets.bytes - before;
    }
  }

  has(id: string): boolean {
    return this.targets.has(id);
  }

  ids(): string[] {
    return [...this.targets.keys()];
  }

  /** Someone (an RPC) asked about the target: it is not idle. `owner` asked last. */
  touch(id: string, now: number, owner?: string): void {
    const t = this.targets.get(id);
    if (!t) return;
    t.lastAskedMs = Math.max(t.lastAskedMs, now);
    if (owner !== undefined) this.setOwner(id, t, owner);
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
    return this.dropTarget(id);
  }

  /**
   * Adds one delta to the slots of second `atMs` (the end of the collector's interval of
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
    // Room for this delta's buckets in both rings? Past the budget, counters still count.
    const bucketCount = Math.min(delta.buckets.indices.length, delta.buckets.counts.length);
    const withBuckets = bucketCount > 0 && this.histogramBytes < this.maxHistogramBytes;
    if (bucketCount > 0 && !withBuckets) this.histogramDrops++;
    const inFine = sec > nowSec - t.fine.capacity && this.write(t, true, sec, delta, endMs, intervalMs, withBuckets);
    const c = coarseKey(sec);
    const inCoarse = t.coarse !== undefined && c > coarseKey(nowSec) - t.coarse.capacity && this.write(t, false, c, delta, endMs, intervalMs, withBuckets);
    if (!inFine && !inCoarse) {
      this.droppedLate++;
      return false;
    }
    return true;
  }

  private write(t: TargetWindow, fine: boolean, key: number, delta: WindowDelta, endMs: number, intervalMs: number, withBuckets: boolean): boolean {
    const ring = fine ? t.fine : t.coarse!;
    const index = key % ring.capacity;
    let slot = ring.slots[index];
    if (slot === undefined || slot.key < key) {
      if (slot?.buckets) {
        this.histogramBytes -= slot.buckets.bytes;
        this.leaving(t, fine, slot);
      }
      slot = emptySlot(key, endMs - intervalMs, endMs);
      ring.slots[index] = slot;
    } else if (slot.key > key) {
      return false;
    }
    slot.startMs = Math.min(slot.startMs, endMs - intervalMs);
    slot.endMs = Math.max(slot.endMs, endMs);
    if (delta.requests + delta.demandAttempts + (delta.listenDrops ?? 0) > 0) slot.activeEndMs = Math.max(slot.activeEndMs, endMs);
    addCounters(slot, delta);
    if (withBuckets) {
      const before = slot.buckets?.bytes ?? 0;
      const buckets = (slot.buckets ??= new SparseCounts());
      const n = Math.min(delta.buckets.indices.length, delta.buckets.counts.length);
      for (let i = 0; i < n; i++) {
        const count = delta.buckets.counts[i]!;
        if (count !== 0) buckets.add(delta.buckets.indices[i]!, count);
      }
      this.histogramBytes += buckets.bytes - before;
      // The same buckets go to every running sum that holds this slot (usually 0-2 of them).
      for (const a of t.aggregates) {
        if (!aggregateHolds(a, fine, key)) continue;
        for (let i = 0; i < n; i++) {
          const count = delta.buckets.counts[i]!;
          if (count !== 0) a.add(delta.buckets.indices[i]!, count);
        }
      }
    }
    return true;
  }

  /** A slot is replaced or freed: running sums that hold it give its buckets back. */
  private leaving(t: TargetWindow, fine: boolean, slot: Slot): void {
    if (!slot.buckets) return;
    for (const a of t.aggregates) if (aggregateHolds(a, fine, slot.key)) this.takeOff(a, slot.buckets);
  }

  private takeOff(a: WindowAggregate, buckets: SparseCounts): void {
    // Cannot fail while the bookkeeping is right; if it ever did, the sum is rebuilt, not trusted.
    if (!a.subtractAll(buckets)) a.atSec = Number.NaN;
  }

  /**
   * The running histogram of the last `windowSec` seconds at second `nowSec`: found (or
   * made from the slots) and moved on to `nowSec` by taking off the slots that left its
   * plan and adding those that entered, so a query touches only the seconds that changed.
   */
  private aggregate(t: TargetWindow, windowSec: number, nowSec: number, now: number): WindowAggregate {
    const at = t.aggregates.findIndex((a) => a.windowSec === windowSec);
    let a: WindowAggregate;
    if (at >= 0) {
      a = t.aggregates[at]!;
      if (at !== t.aggregates.length - 1) {
        t.aggregates.splice(at, 1);
        t.aggregates.push(a);
      }
    } else {
      a = new WindowAggregate(windowSec, Number.NaN, planOf(t, nowSec - windowSec + 1, nowSec), now);
      t.aggregates.push(a);
      if (t.aggregates.length > MAX_AGGREGATES_PER_TARGET) t.aggregates.shift();
    }
    a.lastReadMs = now;
    if (a.atSec === nowSec) return a;
    const plan = planOf(t, nowSec - windowSec + 1, nowSec);
    if (!(a.atSec < nowSec)) {
      // New, or asked about an earlier second (a clock that went back): sum the slots afresh.
      a.clear();
      this.forEachSlot(t, plan, (slot) => {
        if (slot.buckets) a.addAll(slot.buckets);
      });
    } else {
      const old = a.plan;
      for (let k = old.fineFrom; k <= old.fineTo; k++) {
        if (planHasFine(plan, k)) continue;
        const slot = t.fine.get(k);
        if (slot?.buckets) this.takeOff(a, slot.buckets);
      }
      for (let k = old.coarseFrom; k < old.coarseTo; k++) {
        if (planHasCoarse(plan, k)) continue;
        const slot = t.coarse?.get(k);
        if (slot?.buckets) this.takeOff(a, slot.buckets);
      }
      for (let k = Math.max(plan.fineFrom, nowSec - t.fine.capacity + 1); k <= plan.fineTo; k++) {
        if (planHasFine(old, k)) continue;
        const slot = t.fine.get(k);
        if (slot?.buckets) a.addAll(slot.buckets);
      }
      for (let k = plan.coarseFrom; k < plan.coarseTo; k++) {
        if (planHasCoarse(old, k)) continue;
        const slot = t.coarse?.get(k);
        if (slot?.buckets) a.addAll(slot.buckets);
      }
      if (Number.isNaN(a.atSec)) return this.rebuilt(t, a, plan, nowSec);
    }
    a.plan = plan;
    a.atSec = nowSec;
    return a;
  }

  private rebuilt(t: TargetWindow, a: WindowAggregate, plan: WindowPlan, nowSec: number): WindowAggregate {
    a.clear();
    this.forEachSlot(t, plan, (slot) => {
      if (slot.buckets) a.addAll(slot.buckets);
    });
    a.plan = plan;
    a.atSec = nowSec;
    return a;
  }

  /** The latest in-flight gauge of one source (a collector) for a target. */
  setInFlight(id: string, source: string, value: number, now: number): void {
    const t = this.targets.get(id);
    if (!t) return;
    if (value > 0) {
      // Updated in place: one gauge per source and target, written on every report.
      const gauge = t.inFlight.get(source);
      if (gauge) {
        gauge.value = value;
        gauge.atMs = now;
      } else {
        t.inFlight.set(source, { value, atMs: now });
      }
    } else {
      t.inFlight.delete(source);
    }
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

  /** Visits the slots of a plan (window-plan.ts), coarse ones first, each in time order. */
  private forEachSlot(t: TargetWindow, plan: WindowPlan, visit: (slot: Slot, fine: boolean) => void): void {
    if (t.coarse) {
      for (let c = plan.coarseFrom; c < plan.coarseTo; c++) {
        const slot = t.coarse.get(c);
        if (slot) visit(slot, false);
      }
    }
    for (let sec = plan.fineFrom; sec <= plan.fineTo; sec++) {
      const slot = t.fine.get(sec);
      if (slot) visit(slot, true);
    }
  }

  /** Seconds of history a target can answer for. */
  private reach(t: TargetWindow): number {
    return t.coarse ? Math.max(t.fine.capacity, (t.coarse.capacity - 1) * COARSE_SLOT_SECONDS) : t.fine.capacity;
  }

  /**
   * Sums of the last `windowMs` (whole seconds, the current second included). The histogram
   * is merged only when asked for (latency triggers).
   */
  query(id: string, now: number, windowMs: number, withHistogram: boolean): WindowSums | undefined {
    const t = this.targets.get(id);
    if (!t) return undefined;
    const nowSec = toSec(now);
    const windowSec = this.windowSeconds(t, windowMs);
    let spanStartMs = Infinity;
    let spanEndMs = -Infinity;
    const sums = { requests: 0, latencySumUs: 0, acceptedConnections: 0, demandAttempts: 0, demandRefused: 0, listenDrops: 0 };
    // Counters and times: a pass over the slots' fields (no histogram, no allocation per slot).
    this.forEachSlot(t, planOf(t, nowSec - windowSec + 1, nowSec), (slot) => {
      spanStartMs = Math.min(spanStartMs, slot.startMs);
      spanEndMs = Math.max(spanEndMs, slot.endMs);
      addCounters(sums, slot);
    });
    const covered = spanEndMs > spanStartMs ? (spanEndMs - spanStartMs) / 1000 : 0;
    const result = { ...sums, coveredSeconds: Math.max(1, covered) };
    return withHistogram ? { ...result, histogram: this.aggregate(t, windowSec, nowSec, now) } : result;
  }

  private windowSeconds(t: TargetWindow, windowMs: number): number {
    return Math.max(1, Math.min(this.reach(t), Math.round(windowMs / 1000)));
  }

  /**
   * The reference for the running sums: the window's histogram merged from every slot, as
   * query() did before it kept running sums (tests compare both; nothing else calls it).
   */
  mergedHistogram(id: string, now: number, windowMs: number): Histogram | undefined {
    const t = this.targets.get(id);
    if (!t) return undefined;
    const nowSec = toSec(now);
    const histogram = new Histogram();
    this.forEachSlot(t, planOf(t, nowSec - this.windowSeconds(t, windowMs) + 1, nowSec), (slot) => slot.buckets?.addTo(histogram));
    return histogram;
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
    const windowSec = Math.max(1, Math.min(this.reach(t) - 1, Math.ceil(windowMs / 1000)));
    const out: ActivitySlot[] = [];
    this.forEachSlot(t, planOf(t, nowSec - windowSec, nowSec), (slot, fine) => {
      if (slot.activeEndMs === 0 || slot.activeEndMs + windowMs <= now) return;
      out.push({ sec: fine ? slot.key : slot.key * COARSE_SLOT_SECONDS, count: slot.requests + slot.demandAttempts + slot.listenDrops, untilMs: slot.activeEndMs + windowMs });
    });
    return out;
  }

  /**
   * Drops targets nobody asked about for idleExpiryMs (and with no open stream), and frees
   * slots that fell out of the history. Returns the expired ids.
   */
  sweep(now: number): string[] {
    const expired: string[] = [];
    const nowSec = toSec(now);
    for (const [id, t] of this.targets) {
      if (t.pins === 0 && now - t.lastAskedMs >= this.idleExpiryMs) {
        this.dropTarget(id);
        expired.push(id);
        this.expiredTotal++;
        pushRecent(this.recentExpired, id);
        continue;
      }
      this.freeOld(t, true, nowSec - t.fine.capacity);
      if (t.coarse) this.freeOld(t, false, coarseKey(nowSec) - t.coarse.capacity);
      // A running sum nobody read for a while (its trigger went away) gives its memory back.
      if (t.aggregates.length > 0) t.aggregates = t.aggregates.filter((a) => now - a.lastReadMs < AGGREGATE_IDLE_MS);
    }
    return expired;
  }

  private freeOld(t: TargetWindow, fine: boolean, oldestDroppedKey: number): void {
    const ring = fine ? t.fine : t.coarse!;
    for (let i = 0; i < ring.slots.length; i++) {
      const slot = ring.slots[i];
      if (slot === undefined || slot.key > oldestDroppedKey) continue;
      if (slot.buckets) {
        this.histogramBytes -= slot.buckets.bytes;
        this.leaving(t, fine, slot);
      }
      ring.slots[i] = undefined;
    }
  }

  stats(): WindowStoreStats {
    let fineSlots = 0;
    let coarseSlots = 0;
    let bucketEntries = 0;
    let estimatedBytes = 0;
    let aggregates = 0;
    let aggregateBytes = 0;
    for (const t of this.targets.values()) {
      aggregates += t.aggregates.length;
      for (const a of t.aggregates) aggregateBytes += a.bytes;
      for (const [ring, fine] of [[t.fine, true], [t.coarse, false]] as const) {
        for (const slot of ring?.slots ?? []) {
          if (slot === undefined) continue;
          if (fine) fineSlots++;
          else coarseSlots++;
          bucketEntries += slot.buckets?.size ?? 0;
          estimatedBytes += slotBytes(slot);
        }
      }
    }
    return {
      targets: this.targets.size,
      maxTargets: this.maxTargets,
      historySeconds: this.historySeconds,
      slots: fineSlots + coarseSlots,
      fineSlots,
      coarseSlots,
      bucketEntries,
      aggregates,
      aggregateBytes,
      estimatedBytes: estimatedBytes + aggregateBytes,
      histogramBytes: this.histogramBytes,
      maxHistogramBytes: this.maxHistogramBytes,
      histogramDropsOverBudget: this.histogramDrops,
      refusedTotal: this.refusedTotal,
      expiredTotal: this.expiredTotal,
      evictedTotal: this.evictedTotal,
      droppedLateDeltas: this.droppedLate,
      refusedByScaledObject: Object.fromEntries(this.refusedByOwner),
      recentRefused: [...this.recentRefused],
      recentExpired: [...this.recentExpired],
      recentEvicted: [...this.recentEvicted],
    };
  }
}
