/**
 * Ingest work in bounded slices, so KEDA's calls are answered between them.
 *
 * Node runs the scaler on one thread. gRPC hands over collector reports as fast as they
 * arrive (one socket read can hold hundreds), and merging them all in that turn keeps a KEDA
 * call that arrived in the same read waiting behind all of them. Reports are queued here
 * instead and applied in turns of at most `budgetMs` (checked between jobs); the next slice
 * runs from setImmediate, after the event loop has polled the sockets again, so a KEDA call
 * waits for at most one slice. Jobs run in the order queued (a stream's reports stay in
 * sequence). A stream that has many jobs waiting is paused by its owner (service.ts), so the
 * queue stays bounded and the collectors feel HTTP/2 flow control instead.
 */

/** Ingest work per event-loop turn: far below KEDA's p99 goal (5 ms) plus its own work. */
export const DEFAULT_INGEST_SLICE_MS = 2;

export interface BudgetedQueueStats {
  /** Jobs run so far. */
  readonly jobs: number;
  /** Slices (event-loop turns with ingest work) so far. */
  readonly slices: number;
  /** Slices that stopped at the budget with jobs left (ingest was behind). */
  readonly slicesAtBudget: number;
  readonly queued: number;
  readonly maxQueued: number;
}

export class BudgetedQueue {
  private readonly jobs: (() => void)[] = [];
  private head = 0;
  private scheduled = false;
  private ran = 0;
  private slices = 0;
  private slicesAtBudget = 0;
  private maxQueued = 0;

  constructor(
    private readonly budgetMs = DEFAULT_INGEST_SLICE_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get queued(): number {
    return this.jobs.length - this.head;
  }

  /** Queues a job; it runs in a later turn. A job that throws is the job's problem: it is caught and the queue goes on. */
  push(job: () => void): void {
    this.jobs.push(job);
    this.maxQueued = Math.max(this.maxQueued, this.queued);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.slice);
    }
  }

  stats(): BudgetedQueueStats {
    return { jobs: this.ran, slices: this.slices, slicesAtBudget: this.slicesAtBudget, queued: this.queued, maxQueued: this.maxQueued };
  }

  private readonly slice = (): void => {
    this.scheduled = false;
    this.slices++;
    const until = this.now() + this.budgetMs;
    while (this.head < this.jobs.length) {
      const job = this.jobs[this.head]!;
      this.jobs[this.head] = noop;
      this.head++;
      this.ran++;
      try {
        job();
      } catch {
        // Jobs handle their own errors (service.ts fails the stream); nothing may stop the queue.
      }
      if (this.now() >= until) break;
    }
    if (this.head >= this.jobs.length) {
      this.jobs.length = 0;
      this.head = 0;
      return;
    }
    // Drop the done part now and then, so the array does not grow under a steady flow.
    if (this.head > 1024) {
      this.jobs.splice(0, this.head);
      this.head = 0;
    }
    this.slicesAtBudget++;
    this.scheduled = true;
    setImmediate(this.slice);
  };
}

const noop = (): void => undefined;
