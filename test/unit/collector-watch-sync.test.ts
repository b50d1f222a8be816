import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FAMILY_INET, FAMILY_INET6, SLOT_META, TARGET_STATS, encodeArrayKey, encodeDemandKey, encodeSlotRef, encodeWatchKey } from '../../src/bpf/abi.js';
import { BpfError, E2BIG, EPERM } from '../../src/bpf/errors.js';
import { WatchSync, type KernelMap, type WatchMaps } from '../../src/collector/watch-sync.js';
import type { WatchEntry } from '../../src/collector/types.js';

/**
 * The watch-map syncer against in-memory maps. The fake stands in for the syncer's
 * collaborator, the KernelMap interface, and behaves as the kernel's maps do where the
 * syncer can tell: a hash map refuses a new key when full with E2BIG, an array map has
 * exactly maxEntries indices. Every write is logged so the order of writes can be checked.
 */
class MemoryMap implements KernelMap {
  readonly entries = new Map<string, Buffer>();
  constructor(
    readonly name: string,
    readonly maxEntries: number,
    private readonly kind: 'hash' | 'array',
    private readonly writes: string[],
    private readonly failWith?: number,
  ) {}

  update(key: Buffer, value: Buffer): void {
    const k = key.toString('hex');
    if (this.failWith !== undefined) throw new BpfError('map-write', `update of ${this.name}`, this.failWith);
    if (this.kind === 'array' && key.readUInt32LE(0) >= this.maxEntries) throw new BpfError('map-write', `update of ${this.name}`, E2BIG);
    if (this.kind === 'hash' && !this.entries.has(k) && this.entries.size >= this.maxEntries) {
      throw new BpfError('map-write', `update of ${this.name}`, E2BIG);
    }
    this.entries.set(k, Buffer.from(value));
    this.writes.push(`${this.name}[${k}]=${value.toString('hex')}`);
  }

  delete(key: Buffer): boolean {
    this.writes.push(`${this.name}[${key.toString('hex')}] deleted`);
    return this.entries.delete(key.toString('hex'));
  }

  get(key: Buffer): Buffer | undefined {
    return this.entries.get(key.toString('hex'));
  }
}

interface Fixture {
  readonly sync: WatchSync;
  readonly maps: { [K in keyof WatchMaps]: MemoryMap };
  readonly writes: string[];
}

function fixture(options: { slots?: number; watchEntries?: number; watchFailsWith?: number } = {}): Fixture {
  const writes: string[] = [];
  const maps = {
    watch: new MemoryMap('watch_ports', options.watchEntries ?? 16, 'hash', writes, options.watchFailsWith),
    demand: new MemoryMap('demand_addrs', 16, 'hash', writes),
    portBits: new MemoryMap('watch_port_bits', 1024, 'array', writes),
    demandPortBits: new MemoryMap('demand_port_bits', 1024, 'array', writes),
    epoch: new MemoryMap('watch_epoch', 1, 'array', writes),
    meta: new MemoryMap('slot_meta', options.slots ?? 8, 'array', writes),
    stats: new MemoryMap('target_stats', options.slots ?? 8, 'array', writes),
  };
  return { sync: new WatchSync(maps, options.slots ?? 8), maps, writes };
}

const target = (targetId: string, ports: (number | [number, number])[], demand: { ip: string; port: number }[] = []): WatchEntry => ({
  targetId,
  servers: ports.map((p) => (Array.isArray(p) ? { port: p[0], netnsInode: p[1] } : { port: p })),
  demand,
});

/** The watch_port_bits (or demand_port_bits) word holding `port`, as a bigint. */
function bitmapWord(f: Fixture, port: number, map: MemoryMap = f.maps.portBits): bigint {
  return map.get(encodeArrayKey(port >> 6))?.readBigUInt64LE() ?? 0n;
}
const bit = (port: number): bigint => 1n << BigInt(port & 63);
const epochOf = (f: Fixture): number | undefined => f.maps.epoch.get(encodeArrayKey(0))?.readUInt32LE();
function metaOf(f: Fixture, slot: number): { generation: number; armed: number } | undefined {
  const raw = f.maps.meta.get(encodeArrayKey(slot));
  return raw && { generation: raw.readUInt32LE(SLOT_META.offsets.generation), armed: raw.readUInt32LE(SLOT_META.offsets.wakeup_armed) };
}
const slotIn = (map: MemoryMap, key: Buffer): number | undefined => map.get(key)?.readUInt32LE(0);

test('watch sync: new targets get the lowest free slots, zeroed counters, then their generation, armed', () => {
  const f = fixture();
  const result = f.sync.apply([target('a', [8080]), target('b', [[9090, 4026531840]])]);
  assert.deepEqual(result, { added: ['a', 'b'], removed: [], rejected: [] });
  assert.deepEqual([...f.sync.targets()], [
    ['a', { slot: 0, generation: 1 }],
    ['b', { slot: 1, generation: 2 }],
  ]);
  assert.deepEqual(metaOf(f, 0), { generation: 1, armed: 1 });
  assert.deepEqual(metaOf(f, 1), { generation: 2, armed: 1 });
  assert.deepEqual(f.maps.stats.get(encodeArrayKey(1)), Buffer.alloc(TARGET_STATS.bytes));
  const statsWrite = f.writes.indexOf(`target_stats[01000000]=${'00'.repeat(TARGET_STATS.bytes)}`);
  const metaWrite = f.writes.findIndex((w) => w.startsWith('slot_meta[01000000]='));
  assert.ok(statsWrite >= 0 && statsWrite < metaWrite, 'stats zeroed before the generation is published');
  assert.equal(slotIn(f.maps.watch, encodeWatchKey(0, 8080)), 0, 'any-netns key for a');
  assert.equal(slotIn(f.maps.watch, encodeWatchKey(4026531840, 9090)), 1);
  assert.equal(f.maps.watch.entries.size, 2);
  assert.equal(f.sync.usedSlots(), 2);
  assert.equal(f.sync.targetAt(1, 2), 'b');
  assert.equal(f.sync.targetAt(1, 1), undefined, 'a stale generation names no target');
});

test('watch sync: the port bitmap word holds one bit per watched port, reference-counted across netns', () => {
  const f = fixture();
  f.sync.apply([target('a', [[8080, 1], [8080, 2], 8081]), target('b', [[8080, 3]])]);
  assert.equal(f.sync.portRefCount(8080), 3);
  assert.equal(f.sync.portRefCount(8081), 1);
  assert.equal(bitmapWord(f, 8080), bit(8080) | bit(8081), 'ports 8080 and 8081 share word 126');
  assert.equal(f.maps.portBits.entries.size, 1);

  f.sync.apply([target('a', [[8080, 1]]), target('b', [[8080, 3]])]);
  assert.equal(f.sync.portRefCount(8080), 2);
  assert.equal(f.sync.portRefCount(8081), 0);
  assert.equal(bitmapWord(f, 8080), bit(8080), '8081 cleared, 8080 still named twice');

  f.sync.apply([target('b', [[8080, 3]])]);
  assert.equal(f.sync.portRefCount(8080), 1);
  assert.equal(bitmapWord(f, 8080), bit(8080));
  f.sync.apply([]);
  assert.equal(f.sync.portRefCount(8080), 0);
  assert.equal(bitmapWord(f, 8080), 0n, 'the last entry naming the port clears its bit');
  assert.equal(f.maps.watch.entries.size, 0);
});

test('watch sync: a bitmap word is rewritten only when a bit flips', () => {
  const f = fixture();
  f.sync.apply([target('a', [[80, 1]])]);
  const before = f.writes.filter((w) => w.startsWith('watch_port_bits')).length;
  f.sync.apply([target('a', [[80, 1], [80, 2]])]);
  assert.equal(f.writes.filter((w) => w.startsWith('watch_port_bits')).length, before, 'a second entry for port 80 sets no new bit');
  assert.equal(bitmapWord(f, 80), bit(80));
});

test('watch sync: the epoch bumps after every change and only then', () => {
  const f = fixture();
  assert.equal(f.sync.epoch, 0);
  f.sync.apply([target('a', [8080])]);
  assert.equal(f.sync.epoch, 1);
  assert.equal(epochOf(f), 1);
  const writes = f.writes.length;
  f.sync.apply([target('a', [8080])]);
  assert.equal(f.sync.epoch, 1, 'same watch set: no bump');
  assert.equal(f.writes.length, writes, 'and no kernel write at all');
  f.sync.apply([target('a', [8080, 8081])]);
  assert.equal(epochOf(f), 2, 'a new key');
  f.sync.apply([target('a', [8080, 8081], [{ ip: '10.0.0.1', port: 80 }])]);
  assert.equal(epochOf(f), 3, 'a new demand address');
  f.sync.apply([]);
  assert.equal(epochOf(f), 4, 'a removed target');
});

test('watch sync: a removed target stops at once; its slot comes back with a new generation', () => {
  const f = fixture();
  f.sync.apply([target('a', [8080], [{ ip: '10.0.0.1', port: 80 }]), target('b', [9090])]);
  const result = f.sync.apply([target('b', [9090])]);
  assert.deepEqual(result, { added: [], removed: ['a'], rejected: [] });
  assert.deepEqual(metaOf(f, 0), { generation: 0, armed: 0 }, 'generation cleared');
  const cleared = f.writes.indexOf(`slot_meta[00000000]=${'00'.repeat(8)}`);
  const keyDropped = f.writes.indexOf(`watch_ports[${encodeWatchKey(0, 8080).toString('hex')}] deleted`);
  assert.ok(cleared >= 0 && cleared < keyDropped, 'generation cleared before the keys go');
  assert.equal(f.maps.demand.entries.size, 0);
  assert.equal(f.sync.targetCount, 1);
  assert.equal(f.sync.usedSlots(), 2, 'b still holds slot 1');

  f.sync.apply([target('b', [9090]), target('c', [8080])]);
  assert.deepEqual([...f.sync.targets()].find(([id]) => id === 'c'), ['c', { slot: 0, generation: 3 }]);
  assert.deepEqual(metaOf(f, 0), { generation: 3, armed: 1 });
  assert.equal(slotIn(f.maps.watch, encodeWatchKey(0, 8080)), 0);
});

test('watch sync: a key owned by another target is refused, the owner keeps it', () => {
  const f = fixture();
  f.sync.apply([target('a', [[8080, 7]], [{ ip: '10.0.0.1', port: 80 }])]);
  const result = f.sync.apply([
    target('a', [[8080, 7]], [{ ip: '10.0.0.1', port: 80 }]),
    target('b', [[8080, 7], 9090], [{ ip: '10.0.0.1', port: 80 }]),
  ]);
  assert.deepEqual(result.added, ['b']);
  assert.deepEqual(result.rejected, [
    { targetId: 'b', reason: `watch_ports entry ${encodeWatchKey(7, 8080).toString('hex')} already belongs to target a` },
    { targetId: 'b', reason: `demand_addrs entry ${encodeDemandKey(FAMILY_INET, Uint8Array.from([10, 0, 0, 1]), 80).toString('hex')} already belongs to target a` },
  ]);
  assert.equal(slotIn(f.maps.watch, encodeWatchKey(7, 8080)), 0, 'still a\'s slot');
  assert.equal(slotIn(f.maps.watch, encodeWatchKey(0, 9090)), 1, 'b got its other port');
  assert.equal(f.sync.portRefCount(8080), 1, 'the refused entry is not counted');
  // Once a lets go, b can take it.
  f.sync.apply([target('b', [[8080, 7], 9090])]);
  assert.equal(slotIn(f.maps.watch, encodeWatchKey(7, 8080)), 1);
  assert.equal(f.sync.portRefCount(8080), 1);
});

test('watch sync: demand addresses are keyed by family, port and address; a bad address is refused alone', () => {
  const f = fixture();
  const result = f.sync.apply([target('a', [], [{ ip: '10.0.0.1', port: 80 }, { ip: 'fd00::1', port: 443 }, { ip: 'not-an-ip', port: 1 }])]);
  assert.equal(result.rejected.length, 1);
  assert.match(result.rejected[0]!.reason, /not-an-ip.*not an IPv4 or IPv6 address/);
  assert.equal(slotIn(f.maps.demand, encodeDemandKey(FAMILY_INET, Uint8Array.from([10, 0, 0, 1]), 80)), 0);
  const v6 = Uint8Array.from([0xfd, ...Array<number>(14).fill(0), 1]);
  assert.equal(slotIn(f.maps.demand, encodeDemandKey(FAMILY_INET6, v6, 443)), 0);
  assert.equal(f.maps.demand.entries.size, 2);
  assert.equal(f.maps.portBits.entries.size, 0, 'demand keys set no watch port bits');
});

test('watch sync: demand ports have a bitmap of their own, set after the entry and cleared after the last one', () => {
  const f = fixture();
  f.sync.apply([target('a', [8080], [{ ip: '10.0.0.1', port: 80 }, { ip: '10.0.0.2', port: 80 }, { ip: 'fd00::1', port: 443 }])]);
  assert.equal(f.sync.demandPortRefCount(80), 2);
  assert.equal(f.sync.demandPortRefCount(443), 1);
  assert.equal(bitmapWord(f, 80, f.maps.demandPortBits), bit(80), 'port 80 in word 1');
  assert.equal(bitmapWord(f, 443, f.maps.demandPortBits), bit(443), 'port 443 in word 6');
  assert.equal(bitmapWord(f, 8080, f.maps.demandPortBits), 0n, 'a server port is not a demand port');
  assert.equal(bitmapWord(f, 80), 0n, 'nor is a demand port watched');
  const entryWrite = f.writes.findIndex((w) => w.startsWith(`demand_addrs[${encodeDemandKey(FAMILY_INET, Uint8Array.from([10, 0, 0, 1]), 80).toString('hex')}]=`));
  const bitWrite = f.writes.findIndex((w) => w.startsWith(`demand_port_bits[${encodeArrayKey(1).toString('hex')}]=`));
  assert.ok(entryWrite >= 0 && bitWrite > entryWrite, 'the bit is set after the entry it announces');

  f.sync.apply([target('a', [8080], [{ ip: '10.0.0.2', port: 80 }])]);
  assert.equal(f.sync.demandPortRefCount(80), 1);
  assert.equal(bitmapWord(f, 80, f.maps.demandPortBits), bit(80), 'still one address on port 80');
  assert.equal(bitmapWord(f, 443, f.maps.demandPortBits), 0n);
  f.writes.length = 0;
  f.sync.apply([target('a', [8080])]);
  assert.equal(bitmapWord(f, 80, f.maps.demandPortBits), 0n);
  assert.deepEqual(
    f.writes.filter((w) => w.startsWith('demand')),
    [`demand_addrs[${encodeDemandKey(FAMILY_INET, Uint8Array.from([10, 0, 0, 2]), 80).toString('hex')}] deleted`, `demand_port_bits[${encodeArrayKey(1).toString('hex')}]=${'00'.repeat(8)}`],
    'the entry goes first, then its bit',
  );
});

test('watch sync: a full watch map refuses the entry, counts it, and leaves the bitmap alone', () => {
  const f = fixture({ watchEntries: 2 });
  const result = f.sync.apply([target('a', [1000, 1001, 1002])]);
  assert.deepEqual(result.rejected, [{ targetId: 'a', reason: 'watch_ports is full (2 entries)' }]);
  assert.equal(f.sync.mapFullCount, 1);
  assert.equal(f.maps.watch.entries.size, 2);
  assert.equal(bitmapWord(f, 1000), bit(1000) | bit(1001), 'port 1002 has no bit');
  assert.equal(f.sync.portRefCount(1002), 0);
  // Retried on the next apply, and taken once there is room.
  f.sync.apply([target('a', [1002])]);
  assert.equal(f.sync.mapFullCount, 1);
  assert.equal(slotIn(f.maps.watch, encodeWatchKey(0, 1002)), 0);
  assert.equal(bitmapWord(f, 1000), bit(1002));
});

test('watch sync: when every slot is taken a new target is refused, and gets one once freed', () => {
  const f = fixture({ slots: 2 });
  const result = f.sync.apply([target('a', [1]), target('b', [2]), target('c', [3])]);
  assert.deepEqual(result.added, ['a', 'b']);
  assert.deepEqual(result.rejected, [{ targetId: 'c', reason: 'all 2 target slots are in use' }]);
  assert.equal(f.sync.mapFullCount, 1);
  assert.equal(f.maps.watch.get(encodeWatchKey(0, 3)), undefined);
  f.sync.apply([target('b', [2]), target('c', [3])]);
  assert.deepEqual([...f.sync.targets()].find(([id]) => id === 'c'), ['c', { slot: 0, generation: 3 }]);
  assert.deepEqual(f.maps.watch.get(encodeWatchKey(0, 3)), encodeSlotRef(0));
});

test('watch sync: a map error other than "full" is not swallowed', () => {
  const f = fixture({ watchFailsWith: EPERM });
  assert.throws(() => f.sync.apply([target('a', [1])]), (err: unknown) => err instanceof BpfError && err.errno === EPERM);
});
