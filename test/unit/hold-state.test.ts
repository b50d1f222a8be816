import assert from 'node:assert/strict';
import { test } from 'node:test';
import { countListening } from '../../src/collector/listeners.js';
import { HoldState } from '../../src/scaler/hold-state.js';
import { parseWatchTargets } from '../../src/stream/watch-target.js';

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
