import { closeSync } from 'node:fs';
import { MAX_TARGETS, encodeArrayKey, type StructLayout } from '../bpf/abi.js';
import type { BpfMap } from '../bpf/map.js';
import type { BpfObject } from '../bpf/object.js';
import { DEFAULT_CGROUP2_PATHS, openCgroup2 } from './hold.js';

/**
 * Attaches loaded cgroup programs to the cgroup v2 root (every process of the node passes
 * through it) and returns the root's path. The links hold the cgroup; the fd is closed here.
 * Throws BpfError or Error.
 */
export function attachToCgroupRoot(object: BpfObject, programs: readonly string[], cgroupPaths: readonly string[] = DEFAULT_CGROUP2_PATHS): string {
  const cgroup = openCgroup2(cgroupPaths);
  try {
    for (const program of programs) object.attachCgroup(program, cgroup.fd);
  } finally {
    closeSync(cgroup.fd);
  }
  return cgroup.path;
}

interface SlotState {
  readonly slot: number;
  readonly generation: number;
  previous: Map<string, number>;
}

/**
 * Cumulative per-slot u64 counters the kernel keeps in an array map (one struct per target
 * slot: listen_stats, proto_stats), turned into per-tick deltas per target. A slot's struct
 * is zeroed when a target takes it, so a target never inherits its predecessor's counts;
 * the map is read once per tick in one batch.
 */
export class SlotCounters<Field extends string> {
  private readonly buffer: Buffer;
  private readonly slots = new Map<string, SlotState>();

  constructor(
    private readonly map: BpfMap,
    private readonly layout: StructLayout<Field>,
  ) {
    this.buffer = Buffer.alloc(MAX_TARGETS * layout.bytes);
  }

  /** After the watch maps were synced: a target new to its slot (or generation) starts from zero. */
  sync(watched: Iterable<[string, { readonly slot: number; readonly generation: number }]>): void {
    const now = new Map(watched);
    for (const [targetId, state] of this.slots) {
      const current = now.get(targetId);
      if (!current || current.generation !== state.generation || current.slot !== state.slot) this.slots.delete(targetId);
    }
    for (const [targetId, { slot, generation }] of now) {
      if (this.slots.has(targetId)) continue;
      this.map.update(encodeArrayKey(slot), Buffer.alloc(this.layout.bytes));
      this.slots.set(targetId, { slot, generation, previous: new Map() });
    }
  }

  /** Reads every used slot; call once per tick, then `deltas()` per target. */
  read(usedSlots: number): void {
    this.map.readArrayPrefix(usedSlots, this.buffer);
  }

  /**
   * The u64 counters `fields` since this target's previous call (a counter that went back,
   * i.e. was zeroed, counts from zero), or undefined for a target without a slot.
   */
  deltas<F extends Field>(targetId: string, fields: readonly F[]): Record<F, number> | undefined {
    const state = this.slots.get(targetId);
    if (!state) return undefined;
    const base = state.slot * this.layout.bytes;
    const out = {} as Record<F, number>;
    for (const field of fields) {
      const now = Number(this.buffer.readBigUInt64LE(base + this.layout.offsets[field]));
      const before = state.previous.get(field) ?? 0;
      out[field] = now >= before ? now - before : now;
      state.previous.set(field, now);
    }
    return out;
  }

  /** A u32 field's value as last read (a gauge), 0 for a target without a slot. */
  gaugeU32(targetId: string, field: Field): number {
    const state = this.slots.get(targetId);
    return state ? this.buffer.readUInt32LE(state.slot * this.layout.bytes + this.layout.offsets[field]) : 0;
  }
}
