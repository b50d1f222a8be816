import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadCollector, protobufRuntime } from '../../src/proto/load.js';

test('64-bit fields decode straight to the same numbers, with no Long objects', () => {
  assert.equal(protobufRuntime.util.Long, undefined, 'protobufjs reads 64-bit varints as numbers');
  const connect = loadCollector().kedaebpf.collector.v1.CollectorIngest.service.Connect;
  const encode = connect.requestSerialize as (message: unknown) => Buffer;
  const decode = connect.requestDeserialize as (bytes: Buffer) => { report?: { sequence: unknown; end_unix_ms: unknown; targets: Record<string, unknown>[] } };
  const big = Number.MAX_SAFE_INTEGER;
  const report = decode(encode({ report: { sequence: big, interval_ms: 1000, end_unix_ms: -5, targets: [{ target_id: 't', requests: 2 ** 40 + 3, bucket_index: [1], bucket_count: [2 ** 33] }] } })).report;
  assert.ok(report);
  assert.equal(report.sequence, big);
  assert.equal(report.end_unix_ms, -5);
  const delta = report.targets[0]!;
  assert.equal(delta.requests, 2 ** 40 + 3);
  assert.deepEqual(delta.bucket_count, [2 ** 33]);
  assert.equal(delta.demand_attempts, 0, 'defaults are numbers too');
  for (const value of Object.values(delta)) assert.ok(typeof value !== 'object' || Array.isArray(value), `no Long objects: ${JSON.stringify(value)}`);
});
