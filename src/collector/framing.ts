import { closeSync } from 'node:fs';
import type { Logger } from '../log.js';
import { MAP_NAMES, MAX_TARGETS, PROTO_STATS, encodeArrayKey } from '../bpf/abi.js';
import type { BpfMap } from '../bpf/map.js';
import type { BpfObject } from '../bpf/object.js';
import { openCgroup2 } from './hold.js';
import type { OptionalGroup } from './hook-loader.js';
import type { ProtocolTick } from './types.js';

/**
 * The collector's half of protocol framing (bpf/protocol_framing.bpf.c): attaches its
 * cgroup_skb programs to the root cgroup v2 and reads the per-slot protocol counters per
 * tick (one batch map read), zeroing a slot when a target is assigned to it.
 */

export const FRAMING_PROGRAMS = ['framing_ingress', 'framing_egress'] as const;
/** Loaded beside the hook ladder where they verify; they share its sk_storage connection state. */
export const FRAMING_GROUP: OptionalGroup = { name: 'protocol framing', programs: FRAMING_PROGRAMS, needsSkStorage: true, ownMaps: [MAP_NAMES.h2Streams] };

type Counter = keyof ProtocolTick;
const FIELDS: ReadonlyArray<[Counter, keyof typeof PROTO_STATS.offsets]> = [
  ['h2cConnections', 'h2c_connections'],
  ['tlsConnections', 'tls_connections'],
  ['tlsH2Connections', 'tls_h2_connections'],
  ['h2StreamsOverLimit', 'h2_streams_over_limit'],
  ['framingLost', 'framing_lost'],
  ['interimResponses', 'interim_responses'],
];

interface SlotState {
  readonly slot: number;
  readonly generation: number;
  previous: ProtocolTick;
}

const ZERO: ProtocolTick = { h2cConnections: 0, tlsConnections: 0, tlsH2Connections: 0, h2StreamsOverLimit: 0, framingLost: 0, interimResponses: 0 };

export class FramingControl {
  private readonly stats: BpfMap;
  private readonly statsBuffer = Buffer.alloc(MAX_TARGETS * PROTO_STATS.bytes);
  private readonly slots = new Map<string, SlotState>();

  private constructor(object: BpfObject) {
    this.stats = object.map(MAP_NAMES.protoStats);
  }

  /** Attaches the framing programs (loaded already). Throws BpfError or Error. */
  static attach(object: BpfObject, log: Logger, cgroupPaths: readonly string[]): FramingControl {
    const cgroup = openCgroup2(cgroupPaths);
    try {
      for (const program of FRAMING_PROGRAMS) object.attachCgroup(program, cgroup.fd);
    } finally {
      closeSync(cgroup.fd);
    }
    log.child({ component: 'framing' }).info({ cgroup: cgroup.path }, 'protocol framing programs attached (HTTP/2 cleartext, TLS, HTTP/1 interim responses)');
    return new FramingControl(object);
  }

  /** After the watch maps were synced: a target new to its slot starts from zeroed counters. */
  sync(watched: Iterable<[string, { readonly slot: number; readonly generation: number }]>): void {
    const now = new Map(watched);
    for (const [targetId, state] of this.slots) {
      const at = now.get(targetId);
      if (!at || at.generation !== state.generation) this.slots.delete(targetId);
    }
    for (const [targetId, at] of now) {
      if (this.slots.has(targetId)) continue;
      this.stats.update(encodeArrayKey(at.slot), Buffer.alloc(PROTO_STATS.bytes));
      this.slots.set(targetId, { slot: at.slot, generation: at.generation, previous: ZERO });
    }
  }

  /** Reads every used slot's counters (one batch read); call once per tick, then `tick()` per target. */
  read(usedSlots: number): void {
    this.stats.readArrayPrefix(usedSlots, this.statsBuffer);
  }

  /** A target's protocol counters since the previous tick. */
  tick(targetId: string): ProtocolTick | undefined {
    const state = this.slots.get(targetId);
    if (!state) return undefined;
    const base = state.slot * PROTO_STATS.bytes;
    const now = Object.fromEntries(FIELDS.map(([name, field]) => [name, Number(this.statsBuffer.readBigUInt64LE(base + PROTO_STATS.offsets[field]))])) as unknown as ProtocolTick;
    const delta = Object.fromEntries(FIELDS.map(([name]) => [name, Math.max(0, now[name] - state.previous[name])])) as unknown as ProtocolTick;
    state.previous = now;
    return delta;
  }
}
