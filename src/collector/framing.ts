import type { Logger } from '../log.js';
import { MAP_NAMES, PROTO_STATS } from '../bpf/abi.js';
import type { BpfObject } from '../bpf/object.js';
import type { OptionalGroup } from './hook-loader.js';
import { SlotCounters, attachToCgroupRoot } from './slot-counters.js';
import type { ProtocolTick } from './types.js';

/**
 * The collector's half of protocol framing (bpf/protocol_framing.bpf.c): attaches its
 * cgroup_skb programs to the root cgroup v2 and reads the per-slot protocol counters per
 * tick (one batch map read), zeroing a slot when a target is assigned to it.
 */

export const FRAMING_PROGRAMS = ['framing_ingress', 'framing_egress'] as const;
/** Loaded beside the hook ladder where they verify; they share its sk_storage connection state. */
export const FRAMING_GROUP: OptionalGroup = { name: 'protocol framing', programs: FRAMING_PROGRAMS, needsSkStorage: true, ownMaps: [MAP_NAMES.h2Streams] };

/** The kernel's field behind each ProtocolTick counter. */
const FIELDS = {
  h2cConnections: 'h2c_connections',
  tlsConnections: 'tls_connections',
  tlsH2Connections: 'tls_h2_connections',
  h2StreamsOverLimit: 'h2_streams_over_limit',
  framingLost: 'framing_lost',
  interimResponses: 'interim_responses',
} as const satisfies Record<keyof ProtocolTick, keyof typeof PROTO_STATS.offsets>;
const KERNEL_FIELDS = Object.values(FIELDS);

export class FramingControl {
  private readonly counters: SlotCounters<keyof typeof PROTO_STATS.offsets>;

  private constructor(object: BpfObject) {
    this.counters = new SlotCounters(object.map(MAP_NAMES.protoStats), PROTO_STATS);
  }

  /** Attaches the framing programs (loaded already). Throws BpfError or Error. */
  static attach(object: BpfObject, log: Logger, cgroupPaths: readonly string[]): FramingControl {
    const cgroup = attachToCgroupRoot(object, FRAMING_PROGRAMS, cgroupPaths);
    log.child({ component: 'framing' }).info({ cgroup }, 'protocol framing programs attached (HTTP/2 cleartext, TLS, HTTP/1 interim responses)');
    return new FramingControl(object);
  }

  /** After the watch maps were synced: a target new to its slot starts from zeroed counters. */
  sync(watched: Iterable<[string, { readonly slot: number; readonly generation: number }]>): void {
    this.counters.sync(watched);
  }

  /** Reads every used slot's counters (one batch read); call once per tick, then `tick()` per target. */
  read(usedSlots: number): void {
    this.counters.read(usedSlots);
  }

  /** A target's protocol counters since the previous tick. */
  tick(targetId: string): ProtocolTick | undefined {
    const d = this.counters.deltas(targetId, KERNEL_FIELDS);
    if (!d) return undefined;
    return {
      h2cConnections: d[FIELDS.h2cConnections],
      tlsConnections: d[FIELDS.tlsConnections],
      tlsH2Connections: d[FIELDS.tlsH2Connections],
      h2StreamsOverLimit: d[FIELDS.h2StreamsOverLimit],
      framingLost: d[FIELDS.framingLost],
      interimResponses: d[FIELDS.interimResponses],
    };
  }
}
