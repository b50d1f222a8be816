/**
 * Target id -> kernel slot assignment. Lowest free slot first, so the used slots form a
 * short prefix that one batch lookup reads. Every assignment gets a fresh generation
 * (never 0, which marks a free slot in the kernel): connections that still carry an old
 * generation stop counting the moment a slot is released or reused.
 */
export interface SlotAssignment {
  readonly slot: number;
  readonly generation: number;
}

export class SlotTable {
  private readonly bySlot: (string | undefined)[];
  private readonly byTarget = new Map<string, SlotAssignment>();
  private nextGeneration = 1;

  constructor(readonly capacity: number) {
    this.bySlot = new Array<string | undefined>(capacity).fill(undefined);
  }

  get(targetId: string): SlotAssignment | undefined {
    return this.byTarget.get(targetId);
  }

  targetAt(slot: number): string | undefined {
    return this.bySlot[slot];
  }

  /** undefined when every slot is taken. */
  assign(targetId: string): SlotAssignment | undefined {
    const existing = this.byTarget.get(targetId);
    if (existing) return existing;
    const slot = this.bySlot.indexOf(undefined);
    if (slot === -1) return undefined;
    const generation = this.nextGeneration;
    // u32 in the kernel; skip 0 on wrap (after 4 billion assignments).
    this.nextGeneration = this.nextGeneration >= 0xffffffff ? 1 : this.nextGeneration + 1;
    const assignment = { slot, generation };
    this.bySlot[slot] = targetId;
    this.byTarget.set(targetId, assignment);
    return assignment;
  }

  release(targetId: string): SlotAssignment | undefined {
    const assignment = this.byTarget.get(targetId);
    if (!assignment) return undefined;
    this.byTarget.delete(targetId);
    this.bySlot[assignment.slot] = undefined;
    return assignment;
  }

  targets(): IterableIterator<[string, SlotAssignment]> {
    return this.byTarget.entries();
  }

  /** 1 + the highest slot in use (0 when none): how much of the stats array to read. */
  usedPrefix(): number {
    for (let slot = this.capacity - 1; slot >= 0; slot--) if (this.bySlot[slot] !== undefined) return slot + 1;
    return 0;
  }
}
