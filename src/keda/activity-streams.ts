import { evaluateActivity, type ActivationConfig } from '../scaler/evaluate.js';
import type { WindowStore } from '../scaler/window-store.js';

/**
 * Every open StreamIsActive, grouped by target and activation settings, re-evaluated in
 * batches. Ingest only marks targets dirty; one flush per event-loop turn (setImmediate)
 * evaluates each dirty (target, activationRequests, activationWindow) group once, with
 * counters only (no histogram merge), and writes to the streams whose state changed. So a
 * report costs one evaluation per group of its target, however many streams are open on it
 * (attack 5: 2000 streams x 300 reports/s re-merged the whole window per stream), and an
 * active group at most one per ACTIVE_RECHECK_MS.
 */

/** A stream re-checks its state this long after the predicted change, to land past the slot edge. */
const TIMER_SLACK_MS = 5;

/**
 * A group that is active is re-evaluated on new data at most this often. New data can only
 * keep it active or, through a falling in-flight gauge, end it, and KEDA acts only on true
 * (false is ignored; scale-down goes through polling), so an end reported up to a second
 * late changes nothing while a busy target costs one evaluation per second instead of one
 * per report. An inactive group is evaluated at once: that is the wake-up.
 */
export const ACTIVE_RECHECK_MS = 1000;

export interface ActivitySubscriber {
  /** Called with the state at once, then on every change. */
  readonly onChange: (active: boolean, detail: { activity: number; inFlight: number }) => void;
}

interface Member {
  readonly subscriber: ActivitySubscriber;
  last: boolean | undefined;
}

interface Group {
  readonly targetId: string;
  readonly activation: ActivationConfig;
  readonly members: Set<Member>;
  timer: NodeJS.Timeout | undefined;
  timerAtMs: number | undefined;
  lastActive: boolean | undefined;
  lastEvaluatedMs: number;
  /** A re-check of an active group postponed by ACTIVE_RECHECK_MS. */
  deferred: NodeJS.Timeout | undefined;
}

export interface ActivityStreamsStats {
  /** Groups evaluated by flushes so far (one per dirty group per flush). */
  readonly evaluations: number;
  readonly flushes: number;
  /** Target updates merged into an already pending flush. */
  readonly coalesced: number;
  /** Re-evaluations of active groups postponed to at most one per ACTIVE_RECHECK_MS. */
  readonly deferred: number;
  readonly groups: number;
  readonly subscribers: number;
}

export class ActivityStreams {
  private readonly groups = new Map<string, Map<string, Group>>();
  private readonly dirty = new Set<string>();
  private scheduled: NodeJS.Immediate | undefined;
  private evaluations = 0;
  private flushes = 0;
  private coalesced = 0;
  private deferredCount = 0;
  private subscribers = 0;

  constructor(
    private readonly store: WindowStore,
    private readonly clock: () => number,
  ) {}

  /** Subscribes a stream; the current state is delivered at once. Returns the unsubscribe. */
  subscribe(targetId: string, activation: ActivationConfig, subscriber: ActivitySubscriber): () => void {
    const key = `${activation.activationRequests}/${activation.activationWindowMs}`;
    let byKey = this.groups.get(targetId);
    if (!byKey) {
      byKey = new Map();
      this.groups.set(targetId, byKey);
    }
    let group = byKey.get(key);
    if (!group) {
      group = {
        targetId,
        activation: { activationRequests: activation.activationRequests, activationWindowMs: activation.activationWindowMs },
        members: new Set(),
        timer: undefined,
        timerAtMs: undefined,
        lastActive: undefined,
        lastEvaluatedMs: -Infinity,
        deferred: undefined,
      };
      byKey.set(key, group);
    }
    const member: Member = { subscriber, last: undefined };
    group.members.add(member);
    this.subscribers++;
    this.evaluate(group, this.clock(), [member]);
    const g = group;
    return () => {
      if (!g.members.delete(member)) return;
      this.subscribers--;
      if (g.members.size > 0) return;
      clearTimeout(g.timer);
      clearTimeout(g.deferred);
      byKey.delete(key);
      if (byKey.size === 0 && this.groups.get(targetId) === byKey) this.groups.delete(targetId);
    };
  }

  /** New data for these targets: re-evaluate their groups in the next flush. */
  markDirty(ids: Iterable<string>): void {
    for (const id of ids) {
      if (!this.groups.has(id)) continue;
      if (this.dirty.has(id) || this.scheduled) this.coalesced++;
      this.dirty.add(id);
    }
    if (this.dirty.size > 0) this.scheduled ??= setImmediate(() => this.flush());
  }

  /** Evaluates every dirty group once (exposed for tests; normally run by setImmediate). */
  flush(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    if (this.dirty.size === 0) return;
    this.flushes++;
    const now = this.clock();
    const ids = [...this.dirty];
    this.dirty.clear();
    for (const id of ids) {
      const byKey = this.groups.get(id);
      if (!byKey) continue;
      // Open streams keep their target from expiring; touching once per flush is enough.
      this.store.touch(id, now);
      for (const group of byKey.values()) {
        if (group.lastActive === true && now - group.lastEvaluatedMs < ACTIVE_RECHECK_MS) this.defer(group, now);
        else this.evaluate(group, now, group.members);
      }
    }
  }

  private defer(group: Group, now: number): void {
    this.deferredCount++;
    if (group.deferred) return;
    group.deferred = setTimeout(() => {
      group.deferred = undefined;
      this.evaluate(group, this.clock(), group.members);
    }, group.lastEvaluatedMs + ACTIVE_RECHECK_MS - now);
  }

  stats(): ActivityStreamsStats {
    let groups = 0;
    for (const byKey of this.groups.values()) groups += byKey.size;
    return { evaluations: this.evaluations, flushes: this.flushes, coalesced: this.coalesced, deferred: this.deferredCount, groups, subscribers: this.subscribers };
  }

  /** Clears every timer (the server is stopping; streams are ended by their tracker). */
  close(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    for (const byKey of this.groups.values()) {
      for (const g of byKey.values()) {
        clearTimeout(g.timer);
        clearTimeout(g.deferred);
      }
    }
  }

  private evaluate(group: Group, now: number, members: Iterable<Member>): void {
    this.evaluations++;
    const e = evaluateActivity(this.store, group.targetId, group.activation, now);
    group.lastActive = e.active;
    group.lastEvaluatedMs = now;
    for (const member of members) {
      if (member.last === e.active) continue;
      member.last = e.active;
      member.subscriber.onChange(e.active, { activity: e.activity, inFlight: e.inFlight });
    }
    // One timer per group, for the moment activity ages out by itself.
    if (group.timerAtMs === e.nextChangeMs) return;
    clearTimeout(group.timer);
    group.timer = undefined;
    group.timerAtMs = e.nextChangeMs;
    if (e.nextChangeMs !== undefined) {
      group.timer = setTimeout(() => {
        group.timerAtMs = undefined;
        this.evaluate(group, this.clock(), group.members);
      }, Math.max(0, e.nextChangeMs - now) + TIMER_SLACK_MS);
    }
  }
}
