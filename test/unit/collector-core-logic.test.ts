import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FAMILY_INET, FAMILY_INET6, TARGET_STATS, encodeDemandKey, encodeWatchKey } from '../../src/bpf/abi.js';
import { parseAddress } from '../../src/collector/addresses.js';
import { STATS_WORDS, decodeStats, statsDelta } from '../../src/collector/deltas.js';
import { effectiveCapabilities, missingCapabilities } from '../../src/collector/kernel-facts.js';
import { netnsPath } from '../../src/collector/netns.js';
import { SlotTable } from '../../src/collector/slots.js';

/** The collector core's pure parts: slots, deltas, address and capability parsing. */

test('slots: lowest free first, fresh generation on reuse, used prefix', () => {
  const slots = new SlotTable(3);
  assert.deepEqual(slots.assign('a'), { slot: 0, generation: 1 });
  assert.deepEqual(slots.assign('b'), { slot: 1, generation: 2 });
  assert.deepEqual(slots.assign('a'), { slot: 0, generation: 1 }, 'idempotent');
  assert.equal(slots.usedPrefix(), 2);
  slots.release('a');
  assert.equal(slots.targetAt(0), undefined);
  assert.deepEqual(slots.assign('c'), { slot: 0, generation: 3 });
  assert.deepEqual(slots.assign('d'), { slot: 2, generation: 4 });
  assert.equal(slots.assign('e'), undefined, 'full');
  slots.release('d');
  assert.equal(slots.usedPrefix(), 2);
});

type StatsField = keyof typeof TARGET_STATS.offsets;
function raw(fields: Partial<Record<StatsField, bigint>>, buckets: Record<number, bigint> = {}): Buffer {
  const b = Buffer.alloc(TARGET_STATS.bytes);
  for (const [k, v] of Object.entries(fields)) b.writeBigUInt64LE(v, TARGET_STATS.offsets[k as StatsField]);
  for (const [i, v] of Object.entries(buckets)) b.writeBigUInt64LE(v, TARGET_STATS.offsets.latency_buckets + 8 * Number(i));
  return b;
}

test('deltas: counters subtract, requests = histogram delta, in-flight derived, reset slot counts from zero', () => {
  const prev = new Float64Array(STATS_WORDS);
  const cur = new Float64Array(STATS_WORDS);
  decodeStats(raw({ requests_started: 13n, latency_sum_us: 5000n }, { 100: 10n }), 0, prev);
  decodeStats(raw({ requests_started: 17n, latency_sum_us: 9000n, demand_attempts: 2n, aborted_requests: 1n }, { 100: 12n, 383: 3n }), 0, cur);
  const d = statsDelta('t', cur, prev);
  assert.equal(d.requests, 5);
  assert.equal(d.latencySumUs, 4000);
  assert.equal(d.inFlight, 1, '17 started - 15 completed - 1 aborted');
  assert.equal(d.demandAttempts, 2);
  assert.equal(d.abortedRequests, 1);
  assert.deepEqual(d.buckets, { indices: [100, 383], counts: [2, 3] });
  // The slot was zeroed and counted 4 since: the delta is 4, never negative.
  decodeStats(raw({ requests_started: 3n }, { 7: 4n }), 0, prev);
  const reset = statsDelta('t', prev, cur);
  assert.equal(reset.requests, 4);
  assert.equal(reset.inFlight, 0, 'a transiently negative gauge reads as 0');
});

test('addresses: IPv4, IPv6, v4-mapped IPv6 becomes IPv4, garbage throws', () => {
  assert.deepEqual(parseAddress('10.1.2.3'), { family: FAMILY_INET, bytes: Uint8Array.from([10, 1, 2, 3]) });
  const v6 = parseAddress('fd00::1:2');
  assert.equal(v6.family, FAMILY_INET6);
  assert.deepEqual([...v6.bytes], [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2]);
  assert.deepEqual([...parseAddress('::1').bytes], [...Array<number>(15).fill(0), 1]);
  assert.deepEqual(parseAddress('::ffff:127.0.0.1'), { family: FAMILY_INET, bytes: Uint8Array.from([127, 0, 0, 1]) });
  assert.throws(() => parseAddress('localhost'), /not an IPv4 or IPv6 address/);
});

test('abi encoders: little-endian fields at their offsets', () => {
  assert.equal(encodeWatchKey(4026531840, 8080).toString('hex'), '000000f0901f0000');
  const k = encodeDemandKey(FAMILY_INET, Uint8Array.from([127, 0, 0, 1]), 80);
  assert.equal(k.toString('hex'), '020050007f000001' + '00'.repeat(12));
});

test('capabilities: CapEff parsed; CAP_SYS_ADMIN alone suffices', () => {
  const all = effectiveCapabilities('Name:\tnode\nCapEff:\t000001ffffffffff\n');
  assert.deepEqual(missingCapabilities(all), []);
  const none = effectiveCapabilities('CapEff:\t0000000000000000\n');
  assert.deepEqual(missingCapabilities(none), ['CAP_BPF', 'CAP_PERFMON']);
  const bpfOnly = effectiveCapabilities(`CapEff:\t${(1n << 39n).toString(16)}\n`);
  assert.deepEqual(missingCapabilities(bpfOnly), ['CAP_PERFMON']);
  assert.deepEqual(missingCapabilities(new Set(['CAP_SYS_ADMIN'])), []);
});

test('netns specs: name, pid or path', () => {
  assert.equal(netnsPath('blue'), '/run/netns/blue');
  assert.equal(netnsPath('1234'), '/proc/1234/ns/net');
  assert.equal(netnsPath('/proc/1/ns/net'), '/proc/1/ns/net');
});
