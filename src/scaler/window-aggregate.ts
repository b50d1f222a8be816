import { SparseCounts } from './sparse-counts.js';
import type { WindowPlan } from './window-plan.js';

/**
 * The latency histogram of one window of one target (its last `windowSec` seconds), kept as
 * a running sum instead of merged from every slot on each GetMetrics or evaluation.
 *
 * The store keeps it equal to the sum of the slots its plan (window-plan.ts, for second
 * `atSec`) names: buckets written to one of those slots are added here too; a slot of the
 * plan that is replaced or freed is taken off; when a query comes for a later second, the
 * slots that left the plan are taken off and those that entered are added. Counts are whole
 * numbers below 2^53, so the sum is exactly the full merge (test/unit/scaler-window-aggregate.test.ts
 * compares both on random data), and sparse: a bucket that drops to zero is removed.
 */
export class WindowAggregate {
  readonly buckets = new SparseCounts();
  /** Sum of all counts in `buckets`. */
  total = 0;

  constructor(
    /** Seconds the window spans (the current one included). */
    readonly windowSec: number,
    /** The second the sum is valid for. */
    public atSec: number,
    /** The slots the sum holds: those of [atSec - windowSec + 1, atSec]. */
    public plan: WindowPlan,
    /** When a query last read it (for dropping aggregates nobody reads). */
    public lastReadMs: number,
  ) {}

  add(index: number, count: number): void {
    this.buckets.add(index, count);
    this.total += count;
  }

  addAll(from: SparseCounts): void {
    for (let i = 0; i < from.size; i++) this.add(from.indexAt(i), from.countAt(i));
  }

  /** Takes a slot's buckets off; false when they were not all in (a bookkeeping bug: the store rebuilds). */
  subtractAll(from: SparseCounts): boolean {
    let ok = true;
    for (let i = 0; i < from.size; i++) {
      const count = from.countAt(i);
      if (this.buckets.subtract(from.indexAt(i), count)) this.total -= count;
      else ok = false;
    }
    return ok;
  }

  clear(): void {
    this.buckets.clear();
    this.total = 0;
  }

  /** The q-quantile in microseconds (NaN when empty), identical to Histogram.quantileUs of the merged slots. */
  quantileUs(q: number): number {
    return this.buckets.quantileUs(q, this.total);
  }

  get bytes(): number {
    return this.buckets.bytes;
  }
}
