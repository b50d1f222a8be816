import type { Logger } from '../log.js';
import { MAP_NAMES, PROTO_STATS, encodeArrayKey } from '../bpf/abi.js';
import type { BpfObject } from '../bpf/object.js';
import type { OptionalGroup } from './hook-loader.js';
import { SlotCounters, attachToCgroupRoot } from './slot-counters.js';
import type { ProtocolTick } from './types.js';

/**
 * The collector's half of protocol framing (bpf/protocol_framing.bpf.c): attaches its
 * cgroup_skb programs to the root cgroup v2 and reads the per-slot protocol counters per
 * tick (one batch map read), zeroing a slot when a target is assigned to it.
 */

/** Each build's attached programs (see the top of bpf/protocol_framing.bpf.c). */
export const FRAMING_PROGRAMS = {
  /** beside sk_storage variants, sharing their state; bpf_loop (5.17+) */
  bpfLoop: ['framing_ingress', 'framing_egress'],
  /** before 5.17, and beside the hash variants (5.10, kprobes) */
  compat: ['framing_ingress_compat', 'framing_egress_compat', 'framing_release_compat'],
} as const satisfies Record<string, readonly string[]>;
/** The compat build's continuations: loaded, never attached, tail-called through these prog arrays (slot 0). */
const COMPAT_CONTINUATIONS = [
  { program: 'framing_more_ingress_compat', progArray: MAP_NAMES.framingMoreIn },
  { program: 'framing_more_egress_compat', progArray: MAP_NAMES.framingMoreOut },
] as const;
const FRAMING = 'protocol framing';
/** The compat build beside any variant. */
export const FRAMING_COMPAT_GROUP: OptionalGroup = {
  name: FRAMING,
  programs: [...FRAMING_PROGRAMS.compat, ...COMPAT_CONTINUATIONS.map((c) => c.program)],
  ownMaps: [MAP_NAMES.h2Streams, MAP_NAMES.framedConns],
};
/** Loaded beside the hook ladder where they verify: the bpf_loop build, else the compat build. */
export const FRAMING_GROUPS: readonly OptionalGroup[] = [
  { name: FRAMING, programs: FRAMING_PROGRAMS.bpfLoop, onlyWith: 'sk_storage', ownMaps: [MAP_NAMES.h2Streams], fallback: FRAMING_COMPAT_GROUP },
  { ...FRAMING_COMPAT_GROUP, onlyWith: 'hash' },
];

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

  private constructor(
    object: BpfObject,
    /** The attached build's programs. */
    readonly programs: readonly string[],
  ) {
    this.counters = new SlotCounters(object.map(MAP_NAMES.protoStats), PROTO_STATS);
  }

  /** The framing build among the loaded optional groups (hook-loader.ts), if any. */
  static loadedBuild(optionalLoaded: ReadonlyMap<string, OptionalGroup>): OptionalGroup | undefined {
    return optionalLoaded.get(FRAMING);
  }

  /** Attaches a loaded build (loadedBuild): its continuations go into their prog arrays first. Throws BpfError or Error. */
  static attach(object: BpfObject, log: Logger, cgroupPaths: readonly string[], build: OptionalGroup): FramingControl {
    const continuations = COMPAT_CONTINUATIONS.filter((c) => build.programs.includes(c.program));
    for (const { program, progArray } of continuations) {
      const fd = Buffer.alloc(4);
      fd.writeUInt32LE(object.programFd(program));
      object.map(progArray).update(encodeArrayKey(0), fd);
    }
    const attached = build.programs.filter((p) => !continuations.some((c) => c.program === p));
    const cgroup = attachToCgroupRoot(object, attached, cgroupPaths);
    const what = continuations.length ? 'HTTP/2 cleartext, TLS; compat build' : 'HTTP/2 cleartext, TLS, HTTP/1 interim responses';
    log.child({ component: 'framing' }).info({ cgroup, programs: build.programs }, `protocol framing programs attached (${what})`);
    return new FramingControl(object, build.programs);
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
