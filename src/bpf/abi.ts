import { BUCKET_COUNT } from '../histogram/layout.js';

/**
 * The TypeScript mirror of bpf/scaler_abi.h: struct layouts (sizes and field offsets),
 * limits, map names, and codecs for the structs. test/bpf/abi.test.ts checks these against
 * the compiled object (struct member offsets from its BTF, map key/value sizes) and the C
 * bucket index against layout.ts.
 */

export const MAX_TARGETS = 4096;
export const MAX_WATCH_ENTRIES = 16384;
export const MAX_DEMAND_ENTRIES = 16384;
export const ANY_NETNS = 0;
/** watch_port_bits and demand_port_bits: one bit per TCP port, 64 per u64 word. */
export const PORT_BITMAP_WORDS = 65536 / 64;

export const FAMILY_INET = 2;
export const FAMILY_INET6 = 10;

export const MAP_NAMES = {
  watchPorts: 'watch_ports',
  watchPortBits: 'watch_port_bits',
  demandPortBits: 'demand_port_bits',
  watchEpoch: 'watch_epoch',
  demandAddrs: 'demand_addrs',
  slotMeta: 'slot_meta',
  targetStats: 'target_stats',
  health: 'health',
  wakeups: 'wakeups',
  connState: 'conn_state',
  connStateBySk: 'conn_state_by_sk',
  holdConfig: 'hold_config',
  holdStats: 'hold_stats',
  holdConns: 'hold_conns',
  connectMarks: 'connect_marks',
  listenStats: 'listen_stats',
  protoStats: 'proto_stats',
  h2Streams: 'h2_streams',
  framedConns: 'framed_conns',
  framingMoreIn: 'framing_more_in',
  framingMoreOut: 'framing_more_out',
} as const;

/**
 * One struct of bpf/scaler_abi.h as user space sees it: its C name, its size, and the byte
 * offset of every field user space encodes or decodes, under the field's C name.
 * test/bpf/abi.test.ts compares each offset with the compiled object's BTF, and requires
 * every C member to be listed here or to be padding (pad*, reserved).
 */
export interface StructLayout<Field extends string> {
  readonly struct: string;
  readonly bytes: number;
  readonly offsets: Readonly<Record<Field, number>>;
}

function layout<Field extends string>(struct: string, bytes: number, offsets: Record<Field, number>): StructLayout<Field> {
  return { struct, bytes, offsets };
}

export const WATCH_KEY = layout('scaler_watch_key', 8, { netns_inum: 0, port: 4 });
export const SLOT_REF = layout('scaler_slot_ref', 8, { slot: 0 });
export const DEMAND_KEY = layout('scaler_demand_key', 20, { family: 0, port: 2, addr: 4 });
export const SLOT_META = layout('scaler_slot_meta', 8, { generation: 0, wakeup_armed: 4 });
/**
 * struct scaler_target_stats: arrival-side counters on the first cache line, the latency
 * sum on the second, then the histogram. requests and in-flight are derived (deltas.ts).
 */
export const TARGET_STATS = layout('scaler_target_stats', 128 + 8 * BUCKET_COUNT, {
  requests_started: 0,
  accepted_connections: 8,
  demand_attempts: 16,
  demand_refused: 24,
  aborted_requests: 32,
  latency_sum_us: 64,
  latency_buckets: 128,
});
export const HEALTH = layout('scaler_health', 32, { conn_state_failures: 0, wakeup_drops: 8 });
export const WAKEUP_EVENT = layout('scaler_wakeup_event', 16, { time_ns: 0, slot: 8, generation: 12 });

/** struct scaler_hold_config: holdAtZero per slot, written by user space. */
export const HOLD_CONFIG = layout('scaler_hold_config', 16, { hold_ns: 0, generation: 8, episode: 12 });
/** struct scaler_hold_stats: the hold episode's deadline, outcomes and listeners, written by the kernel. */
export const HOLD_STATS = layout('scaler_hold_stats', 48, {
  deadline_ns: 0,
  episode: 8,
  held_connections: 16,
  released_connections: 24,
  timed_out_connections: 32,
  listen_delta: 40,
});
/** struct scaler_listen_stats: accept-queue overflow drops and fill per slot, written by the kernel (bpf/listen_overflow.bpf.c). */
export const LISTEN_STATS = layout('scaler_listen_stats', 40, {
  syn_drops: 0,
  ack_drops: 8,
  syns: 16,
  accept_queue_sum: 24,
  backlog: 32,
});
/** struct scaler_proto_stats: per-slot protocol framing counters, written by the kernel (bpf/protocol_framing.bpf.c). */
export const PROTO_STATS = layout('scaler_proto_stats', 64, {
  h2c_connections: 0,
  tls_connections: 8,
  tls_h2_connections: 16,
  h2_streams_over_limit: 24,
  framing_lost: 32,
  interim_responses: 40,
});
/** Every struct user space reads or writes (scaler_conn_state stays in the kernel). */
export const ABI_STRUCTS: readonly StructLayout<string>[] = [WATCH_KEY, SLOT_REF, DEMAND_KEY, SLOT_META, TARGET_STATS, HEALTH, WAKEUP_EVENT, HOLD_CONFIG, HOLD_STATS, LISTEN_STATS, PROTO_STATS];

/** Keys of the array maps (slot_meta, target_stats, health, the port bitmaps, watch_epoch): a u32 index. */
export const ARRAY_KEY_BYTES = 4;
/** watch_port_bits / demand_port_bits value: one u64 word of the port bitmap. */
export const PORT_BITMAP_WORD_BYTES = 8;
/** watch_epoch value: a u32 counter. */
export const WATCH_EPOCH_BYTES = 4;

export function encodeWatchKey(netnsInode: number, port: number): Buffer {
  const b = Buffer.alloc(WATCH_KEY.bytes);
  b.writeUInt32LE(netnsInode >>> 0, WATCH_KEY.offsets.netns_inum);
  b.writeUInt16LE(port, WATCH_KEY.offsets.port);
  return b;
}

/** The port of an encoded watch key. */
export function watchKeyPort(key: Buffer): number {
  return key.readUInt16LE(WATCH_KEY.offsets.port);
}

/** A port bitmap word (watch_port_bits, demand_port_bits) from the set of ports in use. */
export function encodePortBitmapWord(word: number, isSet: (port: number) => boolean): Buffer {
  let bits = 0n;
  for (let bit = 0; bit < 64; bit++) if (isSet(word * 64 + bit)) bits |= 1n << BigInt(bit);
  const b = Buffer.alloc(PORT_BITMAP_WORD_BYTES);
  b.writeBigUInt64LE(bits);
  return b;
}

export function encodeSlotRef(slot: number): Buffer {
  const b = Buffer.alloc(SLOT_REF.bytes);
  b.writeUInt32LE(slot, SLOT_REF.offsets.slot);
  return b;
}

/** The u32 key of an array map (slot index, bitmap word, 0 for single-entry maps). */
export function encodeArrayKey(index: number): Buffer {
  const b = Buffer.alloc(ARRAY_KEY_BYTES);
  b.writeUInt32LE(index, 0);
  return b;
}

export function encodeWatchEpoch(epoch: number): Buffer {
  const b = Buffer.alloc(WATCH_EPOCH_BYTES);
  b.writeUInt32LE(epoch >>> 0, 0);
  return b;
}

/** Demand key from the address bytes (4 for IPv4, 16 for IPv6, network order). */
export function encodeDemandKey(family: typeof FAMILY_INET | typeof FAMILY_INET6, addr: Uint8Array, port: number): Buffer {
  const b = Buffer.alloc(DEMAND_KEY.bytes);
  b.writeUInt16LE(family, DEMAND_KEY.offsets.family);
  b.writeUInt16LE(port, DEMAND_KEY.offsets.port);
  b.set(addr.subarray(0, family === FAMILY_INET ? 4 : 16), DEMAND_KEY.offsets.addr);
  return b;
}

/** The port of an encoded demand key. */
export function demandKeyPort(key: Buffer): number {
  return key.readUInt16LE(DEMAND_KEY.offsets.port);
}

export function encodeSlotMeta(generation: number, wakeupArmed: boolean): Buffer {
  const b = Buffer.alloc(SLOT_META.bytes);
  b.writeUInt32LE(generation >>> 0, SLOT_META.offsets.generation);
  b.writeUInt32LE(wakeupArmed ? 1 : 0, SLOT_META.offsets.wakeup_armed);
  return b;
}

export interface KernelWakeupEvent {
  readonly timeNs: bigint;
  readonly slot: number;
  readonly generation: number;
}

export function decodeWakeupEvent(b: Buffer): KernelWakeupEvent | undefined {
  if (b.length < WAKEUP_EVENT.bytes) return undefined;
  const at = WAKEUP_EVENT.offsets;
  return { timeNs: b.readBigUInt64LE(at.time_ns), slot: b.readUInt32LE(at.slot), generation: b.readUInt32LE(at.generation) };
}

export interface KernelHealth {
  readonly connStateFailures: bigint;
  readonly wakeupDrops: bigint;
}

export function decodeHealth(b: Buffer): KernelHealth {
  return { connStateFailures: b.readBigUInt64LE(HEALTH.offsets.conn_state_failures), wakeupDrops: b.readBigUInt64LE(HEALTH.offsets.wakeup_drops) };
}

/** Values that stay in the kernel (sizes checked like the maps'): hold_conns (sk_storage). */
export const HOLD_CONN_BYTES = 8;
/** connect_marks: a preallocated table of struct scaler_connect_mark, indexed by socket cookie. */
export const CONNECT_MARK_BYTES = 24;
export const CONNECT_MARKS = 32768;

export function encodeHoldConfig(holdNs: bigint, generation: number, episode: number): Buffer {
  const b = Buffer.alloc(HOLD_CONFIG.bytes);
  b.writeBigUInt64LE(holdNs, HOLD_CONFIG.offsets.hold_ns);
  b.writeUInt32LE(generation >>> 0, HOLD_CONFIG.offsets.generation);
  b.writeUInt32LE(episode >>> 0, HOLD_CONFIG.offsets.episode);
  return b;
}
