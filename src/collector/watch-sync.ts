import {
  ANY_NETNS,
  MAX_TARGETS,
  TARGET_STATS,
  encodeArrayKey,
  encodeDemandKey,
  encodePortBitmapWord,
  encodeSlotMeta,
  encodeSlotRef,
  encodeWatchEpoch,
  encodeWatchKey,
  demandKeyPort,
  watchKeyPort,
} from '../bpf/abi.js';
import { isMapFull } from '../bpf/errors.js';
import { parseAddress } from './addresses.js';
import { SlotTable, type SlotAssignment } from './slots.js';
import type { WatchEntry } from './types.js';

/**
 * Watch sets -> the kernel's watch maps, with no I/O of its own: everything it changes in
 * the kernel goes through the small KernelMap interface (BpfMap in the collector, an
 * in-memory map in test/unit/collector-watch-sync.test.ts). It owns which target holds
 * each key, the port bitmaps' reference counts, the watch epoch and slot assignment.
 */

/** The writes the syncer makes to one BPF map. */
export interface KernelMap {
  readonly name: string;
  readonly maxEntries: number;
  /** Inserts or replaces; throws an error isMapFull() recognises when there is no room. */
  update(key: Buffer, value: Buffer): void;
  /** Returns false when the key was absent. */
  delete(key: Buffer): boolean;
}

/** The maps behind a watch set (bpf/scaler_maps.h). */
export interface WatchMaps {
  /** watch_ports: (netns, port) -> slot. */
  readonly watch: KernelMap;
  /** demand_addrs: (family, port, address) -> slot. */
  readonly demand: KernelMap;
  /** watch_port_bits: one bit per watched port, the programs' first, cheapest check. */
  readonly portBits: KernelMap;
  /** demand_port_bits: one bit per port of a demand address, the same check for connect(). */
  readonly demandPortBits: KernelMap;
  /** watch_epoch: bumped after a change so connections re-select their targets. */
  readonly epoch: KernelMap;
  /** slot_meta: generation and wake-up flag per slot. */
  readonly meta: KernelMap;
  /** target_stats: zeroed before a slot is given to a new target. */
  readonly stats: KernelMap;
}

export interface WatchSetResult {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  /** Targets or entries that could not be programmed (map full, conflicts, bad address). */
  readonly rejected: readonly { readonly targetId: string; readonly reason: string }[];
}

interface TargetKeys {
  readonly watch: Set<string>;
  readonly demand: Set<string>;
}

/** One kind of key (watch or demand): its map, which target owns each key (hex), and the
 * port bitmap in front of it with the number of keys naming each port. */
interface KeySpace {
  readonly map: KernelMap;
  readonly owners: Map<string, string>;
  readonly portBits: KernelMap;
  readonly portRefs: Map<number, number>;
  readonly portOf: (key: Buffer) => number;
}

export class WatchSync {
  private readonly slots: SlotTable;
  private readonly keys = new Map<string, TargetKeys>();
  private readonly watchSpace: KeySpace;
  private readonly demandSpace: KeySpace;
  private watchEpoch = 0;
  private keyChanges = 0;
  private mapFull = 0;
  private readonly zeroStats = Buffer.alloc(TARGET_STATS.bytes);

  constructor(
    private readonly maps: WatchMaps,
    capacity: number = MAX_TARGETS,
  ) {
    this.slots = new SlotTable(capacity);
    this.watchSpace = { map: maps.watch, owners: new Map(), portBits: maps.portBits, portRefs: new Map(), portOf: watchKeyPort };
    this.demandSpace = { map: maps.demand, owners: new Map(), portBits: maps.demandPortBits, portRefs: new Map(), portOf: demandKeyPort };
  }

  /** The current watch epoch (what watch_epoch holds). */
  get epoch(): number {
    return this.watchEpoch;
  }

  /** Insertions refused so far because a map or the slot table was full. */
  get mapFullCount(): number {
    return this.mapFull;
  }

  get targetCount(): number {
    return this.keys.size;
  }

  /** Watched targets with their slot and generation. */
  targets(): IterableIterator<[string, SlotAssignment]> {
    return this.slots.targets();
  }

  /** The target currently holding `slot` under `generation`, if any (stale events resolve to none). */
  targetAt(slot: number, generation: number): string | undefined {
    const targetId = this.slots.targetAt(slot);
    return targetId !== undefined && this.slots.get(targetId)?.generation === generation ? targetId : undefined;
  }

  /** 1 + the highest slot in use: how much of target_stats a tick reads. */
  usedSlots(): number {
    return this.slots.usedPrefix();
  }

  /** Watch entries naming this port (its watch_port_bits bit is set while > 0). */
  portRefCount(port: number): number {
    return this.watchSpace.portRefs.get(port) ?? 0;
  }

  /** Demand addresses with this port (its demand_port_bits bit is set while > 0). */
  demandPortRefCount(port: number): number {
    return this.demandSpace.portRefs.get(port) ?? 0;
  }

  /**
   * Makes the kernel observe exactly these targets. Targets keep their slot across calls;
   * a removed target stops counting at once (its generation is cleared first); a new
   * target starts from zeroed counters and armed for wake-ups. Then, if any key changed,
   * the epoch is bumped.
   */
  apply(entries: readonly WatchEntry[]): WatchSetResult {
    const desired = new Map(entries.map((e) => [e.targetId, e]));
    const added: string[] = [];
    const removed: string[] = [];
    const rejected: { targetId: string; reason: string }[] = [];

    for (const [targetId, keys] of this.keys) {
      if (desired.has(targetId)) continue;
      const slot = this.slots.get(targetId)!.slot;
      this.maps.meta.update(encodeArrayKey(slot), encodeSlotMeta(0, false));
      for (const key of keys.watch) this.dropKey(this.watchSpace, key);
      for (const key of keys.demand) this.dropKey(this.demandSpace, key);
      this.slots.release(targetId);
      this.keys.delete(targetId);
      removed.push(targetId);
    }

    for (const entry of desired.values()) {
      let keys = this.keys.get(entry.targetId);
      if (!keys) {
        const assignment = this.slots.assign(entry.targetId);
        if (!assignment) {
          this.mapFull++;
          rejected.push({ targetId: entry.targetId, reason: `all ${this.slots.capacity} target slots are in use` });
          continue;
        }
        // Zero first, then publish the generation: the kernel never counts into stale data.
        this.maps.stats.update(encodeArrayKey(assignment.slot), this.zeroStats);
        this.maps.meta.update(encodeArrayKey(assignment.slot), encodeSlotMeta(assignment.generation, true));
        keys = { watch: new Set(), demand: new Set() };
        this.keys.set(entry.targetId, keys);
        added.push(entry.targetId);
      }
      const slot = this.slots.get(entry.targetId)!.slot;
      const watchKeys = new Set(entry.servers.map((s) => encodeWatchKey(s.netnsInode ?? ANY_NETNS, s.port).toString('hex')));
      const demandKeys = new Set<string>();
      for (const d of entry.demand) {
        try {
          const addr = parseAddress(d.ip);
          demandKeys.add(encodeDemandKey(addr.family, addr.bytes, d.port).toString('hex'));
        } catch (err) {
          rejected.push({ targetId: entry.targetId, reason: (err as Error).message });
        }
      }
      this.syncKeys(entry.targetId, slot, keys.watch, watchKeys, this.watchSpace, rejected);
      this.syncKeys(entry.targetId, slot, keys.demand, demandKeys, this.demandSpace, rejected);
    }
    if (this.keyChanges > 0 || added.length || removed.length) {
      this.keyChanges = 0;
      this.watchEpoch = (this.watchEpoch + 1) >>> 0;
      this.maps.epoch.update(encodeArrayKey(0), encodeWatchEpoch(this.watchEpoch));
    }
    return { added, removed, rejected };
  }

  private syncKeys(
    targetId: string,
    slot: number,
    have: Set<string>,
    want: ReadonlySet<string>,
    space: KeySpace,
    rejected: { targetId: string; reason: string }[],
  ): void {
    for (const key of have) {
      if (want.has(key)) continue;
      this.dropKey(space, key);
      have.delete(key);
    }
    for (const key of want) {
      if (have.has(key)) continue;
      const owner = space.owners.get(key);
      if (owner !== undefined && owner !== targetId) {
        rejected.push({ targetId, reason: `${space.map.name} entry ${key} already belongs to target ${owner}` });
        continue;
      }
      try {
        space.map.update(Buffer.from(key, 'hex'), encodeSlotRef(slot));
      } catch (err) {
        if (!isMapFull(err)) throw err;
        this.mapFull++;
        rejected.push({ targetId, reason: `${space.map.name} is full (${space.map.maxEntries} entries)` });
        continue;
      }
      space.owners.set(key, targetId);
      have.add(key);
      this.keyChanges++;
      // after the entry: a program that finds the bit set also finds the entry
      this.countPort(space, space.portOf(Buffer.from(key, 'hex')), 1);
    }
  }

  private dropKey(space: KeySpace, key: string): void {
    const raw = Buffer.from(key, 'hex');
    space.map.delete(raw);
    space.owners.delete(key);
    this.keyChanges++;
    this.countPort(space, space.portOf(raw), -1);
  }

  /** Keeps a key space's port bitmap in step with the keys naming each port. */
  private countPort(space: KeySpace, port: number, change: 1 | -1): void {
    const refs = (space.portRefs.get(port) ?? 0) + change;
    if (refs > 0) space.portRefs.set(port, refs);
    else space.portRefs.delete(port);
    if (refs > 1 || (refs === 1 && change === -1)) return; // the bit did not change
    const word = port >> 6;
    space.portBits.update(encodeArrayKey(word), encodePortBitmapWord(word, (p) => space.portRefs.has(p)));
  }
}
