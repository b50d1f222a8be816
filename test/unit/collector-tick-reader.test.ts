import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HEALTH, SLOT_META, TARGET_STATS } from '../../src/bpf/abi.js';
import { TickReader, type TickMaps, type WatchedSlots } from '../../src/collector/tick-reader.js';
import { createLogger } from '../../src/log.js';

/**
 * The tick reader against in-memory stand-ins for its three maps (target_stats as one
 * buffer of slots, slot_meta as a log of writes, health as one value) and a fixed slot
 * assignment: deltas per target, re-arming of idle targets, stale wake-ups ignored.
 */

type StatsField = keyof typeof TARGET_STATS.offsets;

class KernelSide implements TickMaps {
  readonly slots = Buffer.alloc(4 * TARGET_STATS.bytes);
  readonly metaWrites: { slot: number; generation: number; armed: number }[] = [];
  readonly healthValue = Buffer.alloc(HEALTH.bytes);

  readonly stats = {
    readArrayPrefix: (count: number, values: Buffer): void => {
      this.slots.copy(values, 0, 0, count * TARGET_STATS.bytes);
    },
  };
  readonly meta = {
    update: (key: Buffer, value: Buffer): void => {
      this.metaWrites.push({ slot: key.readUInt32LE(0), generation: value.readUInt32LE(SLOT_META.offsets.generation), armed: value.readUInt32LE(SLOT_META.offsets.wakeup_armed) });
    },
  };
  readonly health = { lookup: (): Buffer => this.healthValue };

  set(slot: number, field: StatsField, value: bigint): void {
    this.slots.writeBigUInt64LE(value, slot * TARGET_STATS.bytes + TARGET_STATS.offsets[field]);
  }

  /** One more completed request in histogram bucket `bucket`. */
  complete(slot: number, bucket: number, started: bigint): void {
    const at = slot * TARGET_STATS.bytes + TARGET_STATS.offsets.latency_buckets + 8 * bucket;
    this.slots.writeBigUInt64LE(this.slots.readBigUInt64LE(at) + 1n, at);
    this.set(slot, 'requests_started', started);
  }
}

function watched(assignments: Record<string, { slot: number; generation: number }>): WatchedSlots {
  return {
    targets: () => Object.entries(assignments)[Symbol.iterator](),
    targetAt: (slot, generation) => Object.entries(assignments).find(([, a]) => a.slot === slot && a.generation === generation)?.[0],
    usedSlots: () => 1 + Math.max(-1, ...Object.values(assignments).map((a) => a.slot)),
  };
}

test('tick reader: deltas per target; a target with demand is disarmed, then re-armed once idle', () => {
  const kernel = new KernelSide();
  const assignments = { a: { slot: 0, generation: 1 }, b: { slot: 2, generation: 2 } };
  const reader = new TickReader(kernel, watched(assignments), createLogger('silent'));

  kernel.complete(0, 10, 2n);
  kernel.set(2, 'demand_attempts', 3n);
  const first = reader.read(false);
  assert.deepEqual(
    first.targets.map((t) => [t.targetId, t.requests, t.inFlight, t.demandAttempts]),
    [
      ['a', 1, 1, 0],
      ['b', 0, 0, 3],
    ],
  );
  assert.deepEqual(kernel.metaWrites, [], 'a new target starts armed; b just fired');

  const second = reader.read(true);
  assert.equal(second.wakeup, true);
  assert.deepEqual(second.targets.map((t) => [t.targetId, t.requests, t.demandAttempts]), [['a', 0, 0], ['b', 0, 0]]);
  assert.deepEqual(kernel.metaWrites, [{ slot: 2, generation: 2, armed: 1 }], 'b is idle again: re-armed, a never disarmed');
  reader.read(false);
  assert.equal(kernel.metaWrites.length, 1, 're-armed once');
});

test('tick reader: a wake-up record disarms its target; a stale one (old generation) is dropped', () => {
  const kernel = new KernelSide();
  const reader = new TickReader(kernel, watched({ a: { slot: 1, generation: 7 } }), createLogger('silent'));
  assert.equal(reader.wakeupFrom({ timeNs: 1n, slot: 1, generation: 6 }), undefined);
  const event = reader.wakeupFrom({ timeNs: process.hrtime.bigint(), slot: 1, generation: 7 });
  assert.equal(event?.targetId, 'a');
  assert.ok(event.delayNs >= 0n);
  kernel.set(1, 'requests_started', 1n);
  reader.read(false);
  assert.deepEqual(kernel.metaWrites, [], 'a request in flight: not idle, stays disarmed');
  kernel.complete(1, 3, 1n);
  reader.read(false);
  assert.deepEqual(kernel.metaWrites, [], 'a request completed this tick: not idle yet');
  reader.read(false);
  assert.deepEqual(kernel.metaWrites, [{ slot: 1, generation: 7, armed: 1 }]);
});

test('tick reader: a target given a new generation counts from zero again', () => {
  const kernel = new KernelSide();
  const assignments: Record<string, { slot: number; generation: number }> = { a: { slot: 0, generation: 1 } };
  const reader = new TickReader(kernel, watched(assignments), createLogger('silent'));
  kernel.set(0, 'accepted_connections', 5n);
  assert.equal(reader.read(false).targets[0]!.acceptedConnections, 5);
  // Removed and added again: the syncer zeroed the slot; the kernel has counted 7 since
  // (more than before, so only the new generation tells the reader to start from zero).
  assignments.a = { slot: 0, generation: 3 };
  kernel.set(0, 'accepted_connections', 7n);
  assert.equal(reader.read(false).targets[0]!.acceptedConnections, 7);
  delete assignments.a;
  assert.deepEqual(reader.read(false).targets, []);
});
