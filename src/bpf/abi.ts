import { BUCKET_COUNT } from '../histogram/layout.js';

/**
 * The TypeScript mirror of bpf/scaler_abi.h: sizes, offsets, limits, map and program
 * names, and codecs for the structs. test/bpf/abi.test.ts checks these against the
 * compiled object (map key/value sizes) and the C bucket index against layout.ts.
 */

export const MAX_TARGETS = 4096;
export const MAX_WATCH_ENTRIES = 16384;
export const MAX_DEMAND_ENTRIES = 16384;
export const ANY_NETNS = 0;
/** watch_port_bits: one bit per TCP port, 64 per u64 word. */
export const PORT_BITMAP_WORDS = 65536 / 64;

export const FAMILY_INET = 2;
export const FAMILY_INET6 = 10;

export const MAP_NAMES = {
  watchPorts: 'watch_ports',
  watchPortBits: 'watch_port_bits',
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
} as const;

export const WATCH_KEY_BYTES = 8;
export const SLOT_REF_BYTES = 8;
export const DEMAND_KEY_BYTES = 20;
export const SLOT_META_BYTES = 8;
export const HEALTH_BYTES = 32;
export const WAKEUP_EVENT_BYTES = 16;
export const CONN_STATE_BYTES = 40;

/**
 * struct scaler_target_stats: arrival-side counters on the first cache line, the latency
 * sum on the second, then the histogram. requests and in-flight are derived (deltas.ts).
 */
export const TARGET_STATS = {
  requestsStarted: 0,
  acceptedConnections: 8,
  demandAttempts: 16,
  demandRefused: 24,
  abortedRequests: 32,
  latencySumUs: 64,
  buckets: 128,
} as const;
export const TARGET_STATS_BYTES = TARGET_STATS.buckets + 8 * BUCKET_COUNT;

export function encodeWatchKey(netnsInode: number, port: number): Buffer {
  const b = Buffer.alloc(WATCH_KEY_BYTES);
  b.writeUInt32LE(netnsInode >>> 0, 0);
  b.writeUInt16LE(port, 4);
  return b;
}

/** The port of an encoded watch key. */
export function watchKeyPort(key: Buffer): number {
  return key.readUInt16LE(4);
}

/** A watch_port_bits word from the set of watched ports. */
export function encodePortBitmapWord(word: number, isWatched: (port: number) => boolean): Buffer {
  let bits = 0n;
  for (let bit = 0; bit < 64; bit++) if (isWatched(word * 64 + bit)) bits |= 1n << BigInt(bit);
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(bits);
  return b;
}

export function encodeSlotRef(slot: number): Buffer {
  const b = Buffer.alloc(SLOT_REF_BYTES);
  b.writeUInt32LE(slot, 0);
  return b;
}

export function encodeSlotKey(slot: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(slot, 0);
  return b;
}

/** Demand key from the address bytes (4 for IPv4, 16 for IPv6, network order). */
export function encodeDemandKey(family: typeof FAMILY_INET | typeof FAMILY_INET6, addr: Uint8Array, port: number): Buffer {
  const b = Buffer.alloc(DEMAND_KEY_BYTES);
  b.writeUInt16LE(family, 0);
  b.writeUInt16LE(port, 2);
  b.set(addr.subarray(0, family === FAMILY_INET ? 4 : 16), 4);
  return b;
}

export function encodeSlotMeta(generation: number, wakeupArmed: boolean): Buffer {
  const b = Buffer.alloc(SLOT_META_BYTES);
  b.writeUInt32LE(generation >>> 0, 0);
  b.writeUInt32LE(wakeupArmed ? 1 : 0, 4);
  return b;
}

export interface WakeupEvent {
  readonly timeNs: bigint;
  readonly slot: number;
  readonly generation: number;
}

export function decodeWakeupEvent(b: Buffer): WakeupEvent | undefined {
  if (b.length < WAKEUP_EVENT_BYTES) return undefined;
  return { timeNs: b.readBigUInt64LE(0), slot: b.readUInt32LE(8), generation: b.readUInt32LE(12) };
}

export interface KernelHealth {
  readonly connStateFailures: bigint;
  readonly wakeupDrops: bigint;
}

export function decodeHealth(b: Buffer): KernelHealth {
  return { connStateFailures: b.readBigUInt64LE(0), wakeupDrops: b.readBigUInt64LE(8) };
}

/** struct scaler_hold_config (holdAtZero, written by user space). */
export const HOLD_CONFIG = { holdNs: 0, generation: 8, episode: 12 } as const;
export const HOLD_CONFIG_BYTES = 16;

/** struct scaler_hold_stats (written by the kernel). */
export const HOLD_STATS = {
  deadlineNs: 0,
  episode: 8,
  heldConnections: 16,
  releasedConnections: 24,
  timedOutConnections: 32,
  listenDelta: 40,
} as const;
export const HOLD_STATS_BYTES = 48;
export const HOLD_CONN_BYTES = 8;
export const CONNECT_MARK_BYTES = 16;

export function encodeHoldConfig(holdNs: bigint, generation: number, episode: number): Buffer {
  const b = Buffer.alloc(HOLD_CONFIG_BYTES);
  b.writeBigUInt64LE(holdNs, HOLD_CONFIG.holdNs);
  b.writeUInt32LE(generation >>> 0, HOLD_CONFIG.generation);
  b.writeUInt32LE(episode >>> 0, HOLD_CONFIG.episode);
  return b;
}
