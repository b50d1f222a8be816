import type { ReceivedWatchTarget } from './watch-target.js';

/**
 * Every scaler replica sends the watch set of the targets it knows; the collector observes
 * their union. Keeps the last set per scaler and answers whether the union changed, so
 * the collector reprograms its BPF maps only when something actually differs.
 */
export class WatchUnion {
  private readonly byScaler = new Map<string, readonly ReceivedWatchTarget[]>();
  private current: ReceivedWatchTarget[] = [];
  private fingerprint = '[]';

  /** Replaces one scaler's set. Returns true when the union changed. */
  set(scalerKey: string, targets: readonly ReceivedWatchTarget[]): boolean {
    this.byScaler.set(scalerKey, targets);
    return this.recompute();
  }

  /** Forgets a scaler (it left the address list). Returns true when the union changed. */
  remove(scalerKey: string): boolean {
    if (!this.byScaler.delete(scalerKey)) return false;
    return this.recompute();
  }

  /** The union, sorted by targetId; one entry per targetId. */
  get targets(): readonly ReceivedWatchTarget[] {
    return this.current;
  }

  private recompute(): boolean {
    const union = new Map<string, ReceivedWatchTarget>();
    // Scaler keys in sorted order: when two replicas disagree about one target id (they
    // should not, ids derive from the selection), the choice is at least deterministic.
    for (const key of [...this.byScaler.keys()].sort()) {
      for (const target of this.byScaler.get(key)!) {
        if (!union.has(target.targetId)) union.set(target.targetId, target);
      }
    }
    const next = [...union.values()].sort((a, b) => (a.targetId < b.targetId ? -1 : a.targetId > b.targetId ? 1 : 0));
    const fingerprint = JSON.stringify(next);
    if (fingerprint === this.fingerprint) return false;
    this.current = next;
    this.fingerprint = fingerprint;
    return true;
  }
}
