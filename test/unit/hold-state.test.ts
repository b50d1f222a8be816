import assert from 'node:assert/strict';
import { test } from 'node:test';
import { countListening } from '../../src/collector/listeners.js';
import { HoldState } from '../../src/scaler/hold-state.js';
import { parseWatchTargets } from '../../src/stream/watch-target.js';
import type { ReportInput } from '../../src/ingest/schema.js';
import { hello } from '../helpers/scaler-collector.js';
import { ref, startTestScaler, unaryCall } from '../helpers/scaler-server.js';

/** holdAtZero bookkeeping without a kernel: per-target hold, readiness sources, wire form. */

test('a target holds for the longest holdAtZero its triggers state; 0 withdraws a trigger', () => {
  const changes: string[] = [];
  const holds = new HoldState((id) => changes.push(id));
  holds.request('t', 'ns/so/ebpf-latency', 30_000);
  holds.request('t', 'ns/so/ebpf-rps', 10_000);
  assert.deepEqual(holds.get('t'), { holdAtZeroMs: 30_000, ready: false });
  holds.request('t', 'ns/so/ebpf-latency', 30_000); // KEDA asks again: no change
  holds.request('t', 'ns/so/ebpf-latency', 0);
  assert.equal(holds.get('t').holdAtZeroMs, 10_000);
  assert.deepEqual(changes, ['t', 't']);
  assert.deepEqual(new HoldState(() => undefined).get('unknown'), { holdAtZeroMs: 0, ready: false });
});

test('standalone readiness: any collector reporting a listener; a departed collector no longer counts', () => {
  const changes: string[] = [];
  const holds = new HoldState((id) => changes.push(id));
  holds.request('t', 'k', 5000);
  holds.reportListeners('t', 'collector-a', 1);
  holds.reportListeners('t', 'collector-b', 0);
  assert.equal(holds.get('t').ready, true);
  holds.forgetSource('collector-a');
  assert.equal(holds.get('t').ready, false);
  assert.deepEqual(changes, ['t', 't', 't']);
});

test('Kubernetes readiness (EndpointSlices) overrides the listener view; readiness of a target that does not hold is no change', () => {
  const changes: string[] = [];
  const holds = new HoldState((id) => changes.push(id));
  holds.reportListeners('quiet', 'c', 2);
  assert.deepEqual(changes, [], 'no holdAtZero: no watch-set churn');
  holds.request('k8s', 'k', 5000);
  holds.setEndpointsReady('k8s', false);
  holds.reportListeners('k8s', 'c', 3);
  assert.equal(holds.get('k8s').ready, false, 'a listener on one node is not a ready Service endpoint');
  holds.setEndpointsReady('k8s', true);
  assert.equal(holds.get('k8s').ready, true);
});

test('watch targets carry holdAtZero and readiness; absent or 0 means no hold; out of range is rejected', () => {
  const parsed = parseWatchTargets([
    { target_id: 'a', demand_addresses: ['10.0.0.1:80'], hold_at_zero_ms: 30_000, ready: false },
    { target_id: 'b', demand_addresses: ['10.0.0.1:81'] },
    { target_id: 'c', hold_at_zero_ms: 0, ready: true },
    { target_id: 'd', hold_at_zero_ms: 3_600_000 },
  ]);
  assert.deepEqual(parsed.targets.map((t) => [t.targetId, t.hold]), [
    ['a', { holdAtZeroMs: 30_000, ready: false }],
    ['b', undefined],
    ['c', undefined],
  ]);
  assert.match(parsed.rejected[0]!, /target "d": hold_at_zero_ms: hold_at_zero_ms must be <= 120000/);
});

test('listening sockets from a /proc/net/tcp table: LISTEN state on the asked ports only', () => {
  const table = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0',
    '   1: 00000000:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0',
    '   2: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 20 4 30 10 -1',
  ].join('\n');
  assert.equal(countListening(table, new Set([8080])), 1, 'the ESTABLISHED socket on 8080 is not a listener');
  assert.equal(countListening(table, new Set([8080, 8081])), 2);
  assert.equal(countListening(table, new Set([9000])), 0);
});

test('standalone scaler: a collector reporting a listener on the target makes the watch set say ready; its departure takes it back', async () => {
  const scaler = await startTestScaler();
  try {
    const meta = { port: '18099', demandAddress: '127.0.0.1:18099', metric: 'rps', targetValue: '1', holdAtZero: '5s' };
    await unaryCall((cb) => scaler.client.IsActive(ref(meta, 'so', 'ns'), cb));
    const session = scaler.server.ingest.openSession(hello({ collector_id: 'c1' }));
    const target = () => session.watchSet().targets?.find((t) => t.demand_addresses?.includes('127.0.0.1:18099'));
    assert.deepEqual([target()?.hold_at_zero_ms, target()?.ready], [5000, false]);
    const id = target()!.target_id!;
    const pushed: boolean[] = [];
    const off = session.onWatchSet((ws) => pushed.push(ws.targets?.find((t) => t.target_id === id)?.ready ?? false));
    const listening = (sequence: number): ReportInput => ({
      sequence,
      interval_ms: 1000,
      end_unix_ms: Date.now(),
      wakeup: false,
      targets: [{ target_id: id, requests: 0, latency_sum_us: 0, in_flight: 0, accepted_connections: 0, demand_attempts: 0, demand_refused: 0, bucket_index: [], bucket_count: [], listeners: 1 }],
    });
    assert.equal(session.report(listening(1)).accepted, true);
    assert.deepEqual(pushed, [true], 'a new watch set at once, saying ready');
    session.report(listening(2));
    assert.deepEqual(pushed, [true], 'no new watch set while nothing changes');
    off();
    session.close();
    const other = scaler.server.ingest.openSession(hello({ collector_id: 'c2' }));
    assert.equal(other.watchSet().targets?.find((t) => t.target_id === id)?.ready, false, 'the departed collector no longer vouches for the listener');
    other.close();
  } finally {
    await scaler.close();
  }
});
