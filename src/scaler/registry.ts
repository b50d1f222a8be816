import type { Logger } from 'pino';
import { ScalerError } from '../errors.js';
import { LogThrottle } from '../log-throttle.js';
import { HoldState } from './hold-state.js';
import type { Selection } from './metadata.js';
import type { ResolvedSelection, TargetResolver } from './resolver.js';
import { targetId } from './target.js';
import type { WindowStore } from './window-store.js';

/**
 * The targets this scaler replica knows, each with what collectors must observe for it.
 * Admission and expiry are the window store's (one bound, one clock); the registry adds
 * identity, resolution and change events, from which ingest builds the WatchSet.
 */

export interface RegisteredTarget {
  readonly id: string;
  readonly selection: Selection;
  readonly resolved: ResolvedSelection;
}

export interface RegistryChange {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  /** Increases with every change: the WatchSet generation. */
  readonly generation: number;
}

export type RegistryListener = (change: RegistryChange) => void;

/** One "target refused" / "target evicted" warning per ScaledObject per this long. */
const WARN_INTERVAL_MS = 10_000;

export class TargetRegistry {
  private readonly targets = new Map<string, RegisteredTarget>();
  private readonly pending = new Map<string, Promise<RegisteredTarget>>();
  private readonly listeners = new Set<RegistryListener>();
  private generationCounter = 0;
  private readonly warnings = new LogThrottle(WARN_INTERVAL_MS);
  /** holdAtZero and readiness per target; a change is a new watch set. */
  readonly holds = new HoldState((id) => {
    if (this.targets.has(id)) this.emit([], []);
  });

  constructor(
    readonly store: WindowStore,
    private readonly resolver: TargetResolver,
    private readonly log?: Logger,
  ) {}

  get generation(): number {
    return this.generationCounter;
  }

  /** Warning lines held back by the rate limit so far. */
  get warningsSuppressed(): number {
    return this.warnings.suppressedTotal;
  }

  get(id: string): RegisteredTarget | undefined {
    return this.targets.get(id);
  }

  list(): RegisteredTarget[] {
    return [...this.targets.values()];
  }

  /**
   * The target of a selection, registering (resolving, admitting) it on first sight; every
   * call counts as "asked about" for expiry. `owner` is the asking ScaledObject
   * ("namespace/name"), for fairness when the table is full (admission.ts). Throws
   * TARGET_LIMIT when the target cannot get a place.
   */
  async register(selection: Selection, now: number, owner = ''): Promise<RegisteredTarget> {
    const id = targetId(selection);
    const known = this.touchKnown(id, now, owner);
    if (known) return known;
    let pending = this.pending.get(id);
    if (!pending) {
      pending = this.add(id, selection, now, owner).finally(() => this.pending.delete(id));
      this.pending.set(id, pending);
    }
    return pending;
  }

  /**
   * register() for a target already registered, synchronously (the KEDA hot path needs no
   * promise for it): touches it as asked about by `owner`; undefined when not registered.
   */
  touchKnown(id: string, now: number, owner = ''): RegisteredTarget | undefined {
    const known = this.targets.get(id);
    if (known) this.store.touch(id, now, owner);
    return known;
  }

  private async add(id: string, selection: Selection, now: number, owner: string): Promise<RegisteredTarget> {
    const resolved = await this.resolver.resolve(selection);
    const outcome = this.store.admitFor(id, now, owner);
    const evicted = outcome.evicted.filter((gone) => this.targets.delete(gone));
    if (evicted.length > 0) this.warn(owner, now, { evicted, for: id }, 'targets evicted to make room for another ScaledObject');
    if (outcome.result === 'refused') {
      if (evicted.length > 0) this.emit([], evicted);
      const ownerCap = outcome.refusedBecause === 'owner-cap';
      this.warn(owner, now, { targetId: id, maxTargets: this.store.maxTargets, maxTargetsPerScaledObject: this.store.maxTargetsPerScaledObject }, ownerCap ? 'target refused: ScaledObject holds its maximum of targets, all with open streams' : 'target refused: max targets reached, all in use');
      throw new ScalerError(
        'TARGET_LIMIT',
        ownerCap
          ? `target ${id} refused: ScaledObject ${owner} already holds its maximum of ${this.store.maxTargetsPerScaledObject} targets, each with an open stream (raise --max-targets-per-scaledobject or close streams)`
          : `target ${id} refused: this scaler tracks its maximum of ${this.store.maxTargets} targets, all with open streams or asked about in the last ${Math.round(this.store.minIdleBeforeEvictionMs / 1000)} s (raise --max-targets)`,
      );
    }
    const target: RegisteredTarget = { id, selection, resolved };
    this.targets.set(id, target);
    this.holds.setEndpointsReady(id, resolved.endpointsReady);
    this.log?.info({ targetId: id, servers: resolved.servers.length, demand: resolved.demandAddresses }, 'target registered');
    this.emit([id], evicted);
    return target;
  }

  private warn(owner: string, now: number, fields: Record<string, unknown>, message: string): void {
    // Keyed by the kind of warning, not the ScaledObject: names are the caller's to invent.
    const gate = this.warnings.allow(message, now);
    if (gate.emit) this.log?.warn({ scaledObject: owner, ...fields, suppressedSinceLastLine: gate.suppressed }, message);
  }

  /** A resolver learned new addresses for a target (e.g. a Service changed): push them. */
  update(id: string, resolved: ResolvedSelection): void {
    const target = this.targets.get(id);
    if (!target) return;
    this.targets.set(id, { ...target, resolved });
    this.holds.setEndpointsReady(id, resolved.endpointsReady);
    this.emit([id], []);
  }

  /** Expires idle targets (see WindowStore.sweep); returns their ids. */
  sweep(now: number): string[] {
    const expired = this.store.sweep(now).filter((id) => this.targets.delete(id));
    for (const id of expired) this.holds.forget(id);
    if (expired.length > 0) {
      this.log?.info({ expired }, 'idle targets expired');
      this.emit([], expired);
    }
    return expired;
  }

  onChange(listener: RegistryListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(added: string[], removed: string[]): void {
    this.generationCounter++;
    const change = { added, removed, generation: this.generationCounter };
    for (const listener of this.listeners) listener(change);
  }
}
