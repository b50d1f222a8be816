import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseWatchTargets } from '../../src/stream/watch-target.js';
import { WatchUnion } from '../../src/stream/watch-union.js';
import { tickToReport } from '../../src/stream/report-encode.js';

const wire = (target_id: string, demand: string[] = [], port = 8080) => ({
  target_id,
  servers: [{ port, netns_path: '', pod_namespace: '', pod_selector: {} }],
  demand_addresses: demand,
});

test('watch targets convert to the plain form; IPv6 demand addresses unbracketed', () => {
  const { targets, rejected } = parseWatchTargets([
    {
      target_id: 'a',
      servers: [
        { port: 8080, netns_path: '/run/netns/x', pod_namespace: '', pod_selector: {} },
        { port: 9000, netns_path: '', pod_namespace: 'shop', pod_selector: { app: 'web' } },
      ],
      demand_addresses: ['10.0.0.7:80', '[fd00::1]:8443'],
    },
  ]);
  assert.deepEqual(rejected, []);
  assert.deepEqual(targets, [
    {
      targetId: 'a',
      servers: [
        { port: 8080, netnsPath: '/run/netns/x' },
        { port: 9000, podNamespace: 'shop', podSelector: { app: 'web' } },
      ],
      demand: [
        { ip: '10.0.0.7', port: 80 },
        { ip: 'fd00::1', port: 8443 },
      ],
    },
  ]);
});

test('a malformed watch target is rejected with its id and field; the rest applies', () => {
  const rows: { target: ReturnType<typeof wire>; problem: RegExp }[] = [
    { target: wire('bad-port', [], 0), problem: /servers\.0\.port/ },
    { target: wire('bad-port-high', [], 70000), problem: /port must be 1-65535/ },
    { target: wire('bad-demand', ['web:80']), problem: /demand address "web:80"/ },
    { target: wire('bad-v6', ['fd00::1:80']), problem: /IPv6 as \[ADDR\]:PORT/ },
    { target: wire(''), problem: /target_id must not be empty/ },
  ];
  for (const row of rows) {
    const { targets, rejected } = parseWatchTargets([row.target, wire('good', ['127.0.0.1:1'])]);
    assert.deepEqual(targets.map((t) => t.targetId), ['good'], row.target.target_id);
    assert.equal(rejected.length, 1);
    assert.match(rejected[0]!, row.problem);
  }
});

test('watch union dedupes by target id and reports only real changes', () => {
  const union = new WatchUnion();
  const [a, b, c] = parseWatchTargets([wire('a'), wire('b'), wire('c')]).targets;
  assert.equal(union.set('s1', [b!, a!]), true);
  assert.deepEqual(union.targets.map((t) => t.targetId), ['a', 'b']);
  assert.equal(union.set('s2', [a!, c!]), true);
  assert.deepEqual(union.targets.map((t) => t.targetId), ['a', 'b', 'c']);
  assert.equal(union.set('s2', [c!, a!]), false, 'same set in another order is no change');
  assert.equal(union.set('s1', [a!]), true, 'b only came from s1');
  assert.deepEqual(union.targets.map((t) => t.targetId), ['a', 'c']);
  assert.equal(union.set('s1', [a!]), false);
  assert.equal(union.remove('s2'), true);
  assert.deepEqual(union.targets.map((t) => t.targetId), ['a']);
  assert.equal(union.remove('s2'), false);
});

test('a tick becomes a wire report with sparse buckets as parallel arrays', () => {
  const report = tickToReport(
    {
      endUnixMs: 1_700_000_000_123.4,
      intervalMs: 250,
      wakeup: true,
      targets: [
        {
          targetId: 't',
          requests: 3,
          latencySumUs: 4500,
          inFlight: 2,
          acceptedConnections: 1,
          demandAttempts: 5,
          demandRefused: 4,
          buckets: { indices: [7, 200], counts: [2, 1] },
          listenSynDrops: 6,
          listenAckDrops: 2,
          listenSyns: 9,
          acceptQueueSum: 70,
          acceptBacklog: 8,
        },
      ],
    },
    42,
  );
  // The interval's end on this process's monotonic clock, taken at encoding (right after the read).
  const { end_monotonic_ms: endMonotonicMs, ...rest } = report;
  assert.ok(endMonotonicMs >= 1 && Math.abs(endMonotonicMs - performance.now()) < 1000, `end_monotonic_ms ${endMonotonicMs} vs performance.now() ${performance.now()}`);
  assert.deepEqual(rest, {
    sequence: 42,
    interval_ms: 250,
    end_unix_ms: 1_700_000_000_123,
    wakeup: true,
    targets: [
      {
        target_id: 't',
        requests: 3,
        latency_sum_us: 4500,
        in_flight: 2,
        accepted_connections: 1,
        demand_attempts: 5,
        demand_refused: 4,
        bucket_index: [7, 200],
        bucket_count: [2, 1],
        listeners: 0,
        held_connections: 0,
        released_connections: 0,
        timed_out_connections: 0,
        listen_syn_drops: 6,
        listen_ack_drops: 2,
        listen_syns: 9,
        accept_queue_sum: 70,
        accept_backlog: 8,
        h2c_connections: 0,
        tls_connections: 0,
        tls_h2_connections: 0,
        h2_streams_over_limit: 0,
        framing_lost: 0,
        interim_responses: 0,
      },
    ],
  });
});
