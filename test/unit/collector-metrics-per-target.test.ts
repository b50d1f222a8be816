import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import type { CollectorRuntime } from '../../src/collector/runtime.js';
import type { CollectorTick, TargetDelta } from '../../src/collector/types.js';
import { CollectorMetrics } from '../../src/metrics/collector-metrics.js';
import { sample } from '../helpers/metrics-text.js';

/**
 * Protocol framing counters (TargetDelta.protocol) reach keda_ebpf_collector_protocol_events_total
 * per target and event; aborted requests reach keda_ebpf_collector_requests_aborted_total per
 * target. Only these metrics are collected, so the runtime is never read: it is a stand-in
 * with nothing behind it.
 */
test('protocol framing counters are summed per target and event', async () => {
  const registry = new Registry();
  const metrics = new CollectorMetrics(registry, { runtime: {} as unknown as CollectorRuntime });
  const sent: CollectorTick[] = [];
  const uplink = metrics.measuredUplink({ send: (t) => void sent.push(t) });
  const target = (targetId: string, tlsH2Connections: number): TargetDelta => ({
    targetId,
    requests: 0,
    latencySumUs: 0,
    inFlight: 0,
    acceptedConnections: 0,
    demandAttempts: 0,
    demandRefused: 0,
    buckets: { indices: [], counts: [] },
    protocol: { h2cConnections: 1, tlsConnections: 0, tlsH2Connections, h2StreamsOverLimit: 0, framingLost: 0, interimResponses: 2 },
  });
  for (let i = 0; i < 2; i++) uplink.send({ endUnixMs: Date.now(), intervalMs: 1000, wakeup: false, targets: [target('a', 3), target('b', 0)] });
  const text = await registry.getSingleMetricAsString('keda_ebpf_collector_protocol_events_total');
  const name = 'keda_ebpf_collector_protocol_events_total';
  assert.equal(sent.length, 2);
  assert.equal(sample(text, name, { target_id: 'a', event: 'tls_h2_connection' }), 6);
  assert.equal(sample(text, name, { target_id: 'a', event: 'interim_response' }), 4);
  assert.equal(sample(text, name, { target_id: 'b', event: 'h2c_connection' }), 2);
  assert.equal(sample(text, name, { target_id: 'b', event: 'tls_h2_connection' }), undefined, 'zero deltas add no series');
});

test('aborted requests are summed per target', async () => {
  const registry = new Registry();
  const metrics = new CollectorMetrics(registry, { runtime: {} as unknown as CollectorRuntime });
  const uplink = metrics.measuredUplink({ send: () => undefined });
  const target = (targetId: string, abortedRequests: number | undefined): TargetDelta => ({
    targetId,
    requests: 0,
    latencySumUs: 0,
    inFlight: 0,
    acceptedConnections: 0,
    ...(abortedRequests === undefined ? {} : { abortedRequests }),
    demandAttempts: 0,
    demandRefused: 0,
    buckets: { indices: [], counts: [] },
  });
  for (let i = 0; i < 3; i++) uplink.send({ endUnixMs: Date.now(), intervalMs: 1000, wakeup: false, targets: [target('a', 2), target('b', 0), target('c', undefined)] });
  const name = 'keda_ebpf_collector_requests_aborted_total';
  const text = await registry.getSingleMetricAsString(name);
  assert.equal(sample(text, name, { target_id: 'a' }), 6);
  assert.equal(sample(text, name, { target_id: 'b' }), undefined, 'zero deltas add no series');
  assert.equal(sample(text, name, { target_id: 'c' }), undefined, 'a tick without the field adds nothing');
});
