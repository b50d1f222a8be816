import type { WatchSet__Output } from '../proto/generated/kedaebpf/collector/v1/WatchSet.js';
import type { WatchTarget__Output } from '../proto/generated/kedaebpf/collector/v1/WatchTarget.js';

/** More parts than this is not a watch set but a broken or hostile scaler (1 MiB each: 10 GB). */
export const MAX_WATCH_SET_PARTS = 10_000;

export type AssemblyResult =
  | { readonly kind: 'complete'; readonly generation: number; readonly targets: WatchTarget__Output[] }
  | { readonly kind: 'partial' }
  | { readonly kind: 'broken'; readonly problem: string };

/**
 * Puts a watch set sent in parts (WatchSet.part of WatchSet.parts, one generation) back
 * together; one assembler per scaler stream. A part out of order or a new generation before
 * the last one completed drops what was gathered (the scaler sends the whole set again on the
 * next change or reconnect), and says so.
 */
export class WatchSetAssembler {
  private generation: number | undefined;
  private gathered: WatchTarget__Output[] = [];
  private received = 0;

  add(watchSet: WatchSet__Output): AssemblyResult {
    const parts = watchSet.parts || 1;
    const generation = Number(watchSet.generation);
    if (parts === 1 && watchSet.part === 0) {
      this.reset();
      return { kind: 'complete', generation, targets: watchSet.targets };
    }
    if (parts > MAX_WATCH_SET_PARTS || watchSet.part >= parts) {
      this.reset();
      return { kind: 'broken', problem: `watch set part ${watchSet.part} of ${parts} is out of range` };
    }
    if (watchSet.part === 0) {
      const abandoned = this.generation !== undefined;
      const previous = this.generation;
      this.reset();
      this.generation = generation;
      this.add0(watchSet);
      if (abandoned) return { kind: 'broken', problem: `watch set generation ${previous} was superseded before all its parts arrived` };
      return this.result(parts);
    }
    if (this.generation !== generation || watchSet.part !== this.received) {
      const expected = this.generation === undefined ? 'part 0' : `part ${this.received} of generation ${this.generation}`;
      this.reset();
      return { kind: 'broken', problem: `watch set part ${watchSet.part} of generation ${generation} arrived while expecting ${expected}` };
    }
    this.add0(watchSet);
    return this.result(parts);
  }

  private add0(watchSet: WatchSet__Output): void {
    for (const t of watchSet.targets) this.gathered.push(t);
    this.received++;
  }

  private result(parts: number): AssemblyResult {
    if (this.received < parts) return { kind: 'partial' };
    const done: AssemblyResult = { kind: 'complete', generation: this.generation!, targets: this.gathered };
    this.reset();
    return done;
  }

  private reset(): void {
    this.generation = undefined;
    this.gathered = [];
    this.received = 0;
  }
}
