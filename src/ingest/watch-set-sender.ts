import type { WatchSet } from '../proto/generated/kedaebpf/collector/v1/WatchSet.js';
import { splitWatchSet, WATCH_SET_PART_BYTES } from './watch-set-parts.js';

/**
 * The bounded send queue of one collector stream. Watch sets replace each other, so a stream
 * never needs more than the newest: while earlier parts are still unsent (the collector reads
 * slowly, HTTP/2 flow control holds them), a newer watch set waits as the single pending one
 * and replaces any older pending one. Per stream that is at most one watch set in flight plus
 * one pending, whatever the rate of target changes. A stream whose writes have not completed
 * for `slowReaderMs` is given up (`onSlowReader`): a collector that never reads cannot hold
 * memory or see targets anyway.
 */
export interface WatchSetSenderOptions {
  /** Writes one message; `done` is called once the transport took it (flow control permitting). */
  readonly write: (watchSet: WatchSet, done: () => void) => void;
  readonly onSlowReader: () => void;
  readonly slowReaderMs: number;
  readonly maxPartBytes?: number;
}

/**
 * Parts of a watch set, split once per watch set object and part size: Ingest hands every
 * stream the same object per generation, and splitting sizes every target, so 500 collector
 * streams would otherwise size 500 x every target on each target change.
 */
const splitCache = new WeakMap<WatchSet, { maxBytes: number; parts: WatchSet[] }>();

function partsOf(watchSet: WatchSet, maxBytes: number): WatchSet[] {
  const cached = splitCache.get(watchSet);
  if (cached?.maxBytes === maxBytes) return cached.parts;
  const parts = splitWatchSet({ generation: Number(watchSet.generation ?? 0), targets: watchSet.targets ?? [] }, maxBytes);
  splitCache.set(watchSet, { maxBytes, parts });
  return parts;
}

/** Default time a collector stream may leave the scaler's writes unread before it is disconnected. */
export const DEFAULT_SLOW_READER_MS = 30_000;

export class WatchSetSender {
  private outstanding = 0;
  private pending: WatchSet | undefined;
  private slowTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Watch sets replaced before they were written (coalesced). */
  coalesced = 0;

  constructor(private readonly options: WatchSetSenderOptions) {}

  send(watchSet: WatchSet): void {
    if (this.closed) return;
    if (this.outstanding > 0) {
      if (this.pending) this.coalesced++;
      this.pending = watchSet;
      return;
    }
    const parts = partsOf(watchSet, this.options.maxPartBytes ?? WATCH_SET_PART_BYTES);
    this.outstanding += parts.length;
    this.armSlowTimer();
    for (const part of parts) this.options.write(part, () => this.written());
  }

  close(): void {
    this.closed = true;
    this.pending = undefined;
    clearTimeout(this.slowTimer);
  }

  private written(): void {
    this.outstanding--;
    if (this.outstanding > 0 || this.closed) return;
    clearTimeout(this.slowTimer);
    this.slowTimer = undefined;
    const next = this.pending;
    this.pending = undefined;
    if (next) this.send(next);
  }

  private armSlowTimer(): void {
    if (this.slowTimer) return;
    this.slowTimer = setTimeout(() => {
      this.slowTimer = undefined;
      if (!this.closed && this.outstanding > 0) this.options.onSlowReader();
    }, this.options.slowReaderMs);
    this.slowTimer.unref();
  }
}
