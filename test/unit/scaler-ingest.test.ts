import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { callError, idOf, isActive, ManualClock, metric, ref, specName, startTestScaler, type TestScaler } from '../helpers/scaler-server.js';
import { connectCollector, deltaFromLatencies, hello, report } from '../helpers/scaler-collector.js';
import { waitFor } from '../helpers/kube-wait.js';
import type { IngestStats } from '../../src/ingest/ingest.js';
import type { TargetDelta } from '../../src/proto/generated/kedaebpf/collector/v1/TargetDelta.js';

/**
 * Synthetic collector reports through the real CollectorIngest stream, read back through
 * the real ExternalScaler RPCs.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Reports the scaler has applied so far, whatever became of them. */
function handledReports(from: TestScaler | IngestStats): number {
  const s = 'server' in from ? from.server.stats().ingest : from;
  return s.reportsAccepted + s.reportsRejected + s.reportsDuplicate;
}

/** Deterministic PRNG (mulberry32) and Box-Muller normal, for a reproducible lognormal sample. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('ingest through the real collector stream (real clock)', () => {
  let scaler: TestScaler;
  before(async () => {
    scaler = await startTestScaler();
  });
  after(async () => {
    await scaler.close();
  });

  it('pushes the WatchSet on hello and whenever a target is added; Welcome carries last_sequence', async () => {
    const collector = await connectCollector(scaler.ingestAddress, hello({ collector_id: 'ws-1', node_name: 'node-ws' }));
    assert.equal(collector.welcome.protocol_version, 1);
    assert.equal(collector.welcome.last_sequence, 0);
    await collector.waitForWatchSet(() => true);
    const md = { port: '7001,7002', netns: '/run/netns/app', demandAddress: '127.0.0.1:7001,[::1]:7001', targetValue: '1' };
    const id = idOf(await specName(scaler, md));
    const ws = await collector.waitForWatchSet((w) => w.targets.some((t) => t.target_id === id));
    const target = ws.targets.find((t) => t.target_id === id)!;
    assert.deepEqual(target.servers.map((s) => [s.port, s.netns_path]), [[7001, '/run/netns/app'], [7002, '/run/netns/app']]);
    assert.deepEqual(target.demand_addresses, ['127.0.0.1:7001', '[::1]:7001']);
    for (let seq = 1; seq <= 3; seq++) collector.send(report(seq, [deltaFromLatencies(id, [100])]));
    await sleep(50);
    collector.close();
    await collector.status;
    const again = await connectCollector(scaler.ingestAddress, hello({ collector_id: 'ws-1', node_name: 'node-ws' }));
    assert.equal(again.welcome.last_sequence, 3, 'reconnect: scaler tells what it has');
    again.send(report(3, [deltaFromLatencies(id, [100])])); // resend of a merged report: skipped
    await sleep(50);
    assert.equal(scaler.server.stats().ingest.reportsDuplicate, 1);
    again.close();
    const restarted = await connectCollector(scaler.ingestAddress, hello({ collector_id: 'ws-2', node_name: 'node-ws' }));
    assert.equal(restarted.welcome.last_sequence, 0);
    assert.equal(scaler.server.stats().ingest.collectorRestarts, 1);
    restarted.close();
  });

  it('IsActive flips on the first request and back after activationWindow; StreamIsActive pushes within 100 ms', async () => {
    const md = { port: '7100', metric: 'rps', targetValue: '1', activationWindow: '2s' };
    const id = idOf(await specName(scaler, md));
    const collector = await connectCollector(scaler.ingestAddress, hello({ collector_id: 'act-1', node_name: 'node-act' }));
    assert.equal(await isActive(scaler, md), false);

    const stream = scaler.client.StreamIsActive(ref(md));
    const received: { result: boolean; at: number }[] = [];
    let notify: () => void = () => undefined;
    stream.on('data', (m: { result: boolean }) => {
      received.push({ result: m.result, at: performance.now() });
      notify();
    });
    stream.on('error', () => undefined);
    const nextMessage = (count: number, timeoutMs: number) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${received.length} stream messages`)), timeoutMs);
        notify = () => {
          if (received.length >= count) {
            clearTimeout(timer);
            resolve();
          }
        };
        notify();
      });
    await nextMessage(1, 2000);
    assert.equal(received[0]!.result, false, 'current state at once');

    const sentAt = performance.now();
    const sentWall = Date.now();
    collector.send(report(1, [deltaFromLatencies(id, [2000])]));
    await nextMessage(2, 2000);
    const delay = received[1]!.at - sentAt;
    console.log(`StreamIsActive push delay: ${delay.toFixed(2)} ms after the report was written by the collector`);
    assert.equal(received[1]!.result, true);
    assert.ok(delay < 100, `push within 100 ms (was ${delay.toFixed(2)} ms)`);
    assert.equal(await isActive(scaler, md), true, 'IsActive flips on the first request');

    // Activity leaves the 2 s window at the start of the 2nd second after the report's second.
    await nextMessage(3, 4000);
    const off = received[2]!;
    assert.equal(off.result, false);
    const offAfter = Date.now() - sentWall;
    console.log(`StreamIsActive turned false ${offAfter} ms after the only request (activationWindow 2s, 1 s slots)`);
    assert.ok(offAfter >= 1000 && offAfter <= 2200, `false between 1 s and 2.2 s after the request (was ${offAfter} ms)`);
    assert.equal(await isActive(scaler, md), false, 'IsActive flips back after activationWindow');
    stream.cancel();
    collector.close();
  });

  it('in-flight requests keep a target active while they last', async () => {
    const md = { port: '7150', targetValue: '1', activationWindow: '1s' };
    const id = idOf(await specName(scaler, md));
    const collector = await connectCollector(scaler.ingestAddress, hello({ collector_id: 'inflight-1', node_name: 'node-inflight' }));
    collector.send(report(1, [deltaFromLatencies(id, [], { in_flight: 2 })]));
    await sleep(50);
    assert.equal(await isActive(scaler, md), true);
    collector.send(report(2, [deltaFromLatencies(id, [], { in_flight: 0 })]));
    await sleep(50);
    assert.equal(await isActive(scaler, md), false);
    collector.close();
  });

  it('latency p50/p95/p99 of 10k lognormal values within 1/16 of the exact quantiles', async () => {
    const random = rng(42);
    const sample: number[] = [];
    for (let i = 0; i < 10_000; i++) {
      const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
      sample.push(Math.exp(Math.log(5000) + 0.8 * z)); // median 5 ms
    }
    const base = { port: '7200', metric: 'latency', targetValue: '100' };
    const id = idOf(await specName(scaler, base));
    const collector = await connectCollector(scaler.ingestAddress, hello({ collector_id: 'lat-1', node_name: 'node-lat' }));
    for (let r = 0; r < 10; r++) collector.send(report(r + 1, [deltaFromLatencies(id, sample.slice(r * 1000, (r + 1) * 1000))]));
    await sleep(100);
    const sorted = [...sample].sort((a, b) => a - b);
    for (const q of [0.5, 0.95, 0.99]) {
      const exactMs = sorted[Math.ceil(q * sorted.length) - 1]! / 1000;
      const got = await metric(scaler, { ...base, quantile: String(q) });
      const relative = Math.abs(got - exactMs) / exactMs;
      console.log(`latency p${q * 100}: exact ${exactMs.toFixed(4)} ms, scaler ${got.toFixed(4)} ms, relative error ${(relative * 100).toFixed(3)} %`);
      assert.ok(relative <= 1 / 16, `p${q * 100} within 1/16 (was ${relative})`);
    }
    collector.close();
  });
});

describe('ingest with a manual clock: exact rps and concurrency', () => {
  let scaler: TestScaler;
  const clock = new ManualClock();
  before(async () => {
    scaler = await startTestScaler({ clock: clock.now });
  });
  after(async () => {
    await scaler.close();
  });

  it('rps = (requests + refused demand) / window and concurrency = sum of latencies / window, for a load covering the window', async () => {
    const rpsMd = { port: '7300', metric: 'rps', window: '10s', targetValue: '10' };
    const concMd = { port: '7300', metric: 'concurrency', window: '10s', targetValue: '2' };
    const id = idOf(await specName(scaler, rpsMd));
    assert.equal(idOf(await specName(scaler, concMd)), id, 'triggers observing the same thing share a target');
    const collector = await connectCollector(scaler.ingestAddress, hello({ collector_id: 'exact-1', node_name: 'node-exact' }));
    // Second k of 10: (k+1)*10 requests of 20 ms each, and k refused demand attempts.
    let requests = 0;
    let latencySumUs = 0;
    let refused = 0;
    for (let k = 0; k < 10; k++) {
      const latencies = new Array<number>((k + 1) * 10).fill(20_000);
      const delta: TargetDelta = deltaFromLatencies(id, latencies, { demand_attempts: k, demand_refused: k });
      requests += latencies.length;
      latencySumUs += latencies.length * 20_000;
      refused += k;
      collector.send(report(k + 1, [delta], clock.now()));
      await sleep(20);
      if (k === 4) {
        // Less history than the window: rates divide by the 5 s the target has existed.
        assert.equal(await metric(scaler, rpsMd), (150 + 10) / 5);
      }
      if (k < 9) clock.advance(1000);
    }
    assert.equal(await metric(scaler, rpsMd), (requests + refused) / 10);
    assert.equal(await metric(scaler, concMd), latencySumUs / 1e6 / 10);
    console.log(`exact load: rps ${(requests + refused) / 10}, concurrency ${latencySumUs / 1e6 / 10}`);
    // One second later (and one more, empty, report) the first second (10 requests,
    // 0 refused) has left the window.
    clock.advance(1000);
    collector.send(report(11, [deltaFromLatencies(id, [])], clock.now()));
    await sleep(20);
    assert.equal(await metric(scaler, rpsMd), (requests + refused - 10) / 10);
    assert.equal(await metric(scaler, concMd), ((requests - 10) * 20_000) / 1e6 / 10);
    collector.close();
  });

  it('rps counts connection attempts the listeners dropped (accept queue full) like refused ones; older collectors without the fields still count', async () => {
    const rpsMd = { port: '7400', metric: 'rps', window: '5s', targetValue: '10' };
    const id = idOf(await specName(scaler, rpsMd));
    const collector = await connectCollector(scaler.ingestAddress, hello({ collector_id: 'listen-1', node_name: 'node-listen' }));
    // 5 s: 20 requests, 2 refused attempts, 7 dropped SYNs and 3 dropped handshake ACKs each;
    // the last report comes from a collector that predates listen drops (fields absent).
    for (let k = 0; k < 5; k++) {
      const extra = k < 4 ? { demand_attempts: 2, demand_refused: 2, listen_syn_drops: 7, listen_ack_drops: 3, listen_syns: 30, accept_queue_sum: 240, accept_backlog: 8 } : { demand_attempts: 2, demand_refused: 2 };
      collector.send(report(k + 1, [deltaFromLatencies(id, new Array<number>(20).fill(5000), extra)], clock.now()));
      await sleep(20);
      if (k < 4) clock.advance(1000);
    }
    assert.equal(await metric(scaler, rpsMd), (5 * 20 + 5 * 2 + 4 * (7 + 3)) / 5);
    assert.equal(await isActive(scaler, rpsMd), true);
    collector.close();
  });
});

describe('malformed collector input: rejected and counted, stream and server stay up', () => {
  let scaler: TestScaler;
  // A frozen clock: every report lands in one second, so rates below are plain counts.
  const clock = new ManualClock();
  before(async () => {
    scaler = await startTestScaler({ maxTargets: 5, clock: clock.now });
  });
  after(async () => {
    await scaler.close();
  });

  it('rejects bad reports and deltas, keeps merging good ones on the same stream', async () => {
    const md = { port: '7400', metric: 'rps', targetValue: '1' };
    const id = idOf(await specName(scaler, md));
    const collector = await connectCollector(scaler.ingestAddress, hello({ collector_id: 'bad-1', node_name: 'node-bad' }));
    const good = (): TargetDelta => deltaFromLatencies(id, [1000]);
    const cases: { name: string; targets: TargetDelta[]; intervalMs?: number; reason: string }[] = [
      { name: 'bucket index out of range', targets: [{ ...good(), bucket_index: [384], bucket_count: [1] }], reason: 'bucket_index' },
      // uint64 cannot carry a negative; a collector's -1 arrives as 2^64-1 (negatives: see the in-process test).
      { name: 'count 2^64-1 (a negative in two\'s complement)', targets: [{ ...good(), requests: '18446744073709551615' }], reason: 'requests' },
      { name: 'bucket count 2^64-5', targets: [{ ...good(), bucket_count: ['18446744073709551611'] }], reason: 'bucket_count' },
      { name: 'mismatched bucket arrays', targets: [{ ...good(), bucket_index: [1, 2], bucket_count: [1] }], reason: 'bucket_count' },
      { name: 'non-ascending bucket indices', targets: [{ ...good(), bucket_index: [5, 3], bucket_count: [1, 1] }], reason: 'bucket_index' },
      { name: 'more refused than attempts', targets: [{ ...good(), demand_attempts: 1, demand_refused: 2 }], reason: 'demand_refused' },
      { name: 'absurd request count', targets: [{ ...good(), requests: 1e12 }], reason: 'requests' },
      { name: 'interval_ms 0', targets: [good()], intervalMs: 0, reason: 'report.interval_ms' },
      { name: 'interval_ms of 2 h', targets: [good()], intervalMs: 7_200_000, reason: 'report.interval_ms' },
      { name: 'more targets than the scaler tracks', targets: new Array(6).fill(0).map(() => good()), reason: 'report.targets' },
    ];
    let seq = 0;
    for (const c of cases) {
      const before = scaler.server.stats().ingest;
      collector.send({ ...report(++seq, c.targets, clock.now()), interval_ms: c.intervalMs ?? 1000 });
      // Reports are applied in a later event-loop turn (the ingest queue): wait until this one was.
      await waitFor(`${c.name}: handled`, () => handledReports(scaler) > handledReports(before));
      const afterStats = scaler.server.stats().ingest;
      assert.equal(afterStats.reportsRejected, before.reportsRejected + 1, `${c.name}: report rejected`);
      assert.equal(afterStats.rejectedByReason[c.reason], (before.rejectedByReason[c.reason] ?? 0) + 1, `${c.name}: counted as ${c.reason}`);
    }
    assert.equal(await metric(scaler, md), 0, 'nothing from the bad reports entered the store');
    // Unknown target: dropped and counted, but not an error (another replica's target in HA).
    const beforeUnknown = scaler.server.stats().ingest;
    collector.send(report(++seq, [{ ...good(), target_id: 'ffffffffffff' }], clock.now()));
    await waitFor('the unknown-target report: handled', () => handledReports(scaler) > handledReports(beforeUnknown));
    const afterUnknown = scaler.server.stats().ingest;
    assert.equal(afterUnknown.deltasUnknownTarget, beforeUnknown.deltasUnknownTarget + 1);
    assert.equal(afterUnknown.rejectedByReason['unknown-target'], 1);
    assert.equal(afterUnknown.reportsRejected, beforeUnknown.reportsRejected);
    // Same stream, a good report and a mixed one: good deltas are merged.
    collector.send(report(++seq, [good()], clock.now()));
    collector.send(report(++seq, [good(), { ...good(), target_id: 'ffffffffffff' }], clock.now()));
    await sleep(50);
    assert.equal(await metric(scaler, md), 2);
    const stats = scaler.server.stats().ingest;
    console.log(`ingest counters after the bad-input table: ${JSON.stringify(stats)}`);
    assert.equal(stats.sequenceGaps, 0, 'rejected reports are not gaps');
    assert.equal(await isActive(scaler, md), true, 'server answers');
    collector.close();
  });

  it('protocol violations end only that stream, with a clear status', async () => {
    const { collectorClient, bearerMetadata } = await import('../helpers/scaler-collector.js');
    const { TEST_COLLECTOR_TOKEN } = await import('../helpers/scaler-server.js');
    const statusOf = (messages: object[]) =>
      new Promise<grpc.StatusObject>((resolve) => {
        const client = collectorClient(scaler.ingestAddress);
        const stream = client.Connect(bearerMetadata(TEST_COLLECTOR_TOKEN));
        stream.on('data', () => undefined);
        stream.on('error', () => undefined);
        stream.on('status', (s) => {
          client.close();
          resolve(s);
        });
        for (const m of messages) stream.write(m);
      });
    const beforeHello = await statusOf([{ report: report(1, []) }]);
    assert.equal(beforeHello.code, grpc.status.INVALID_ARGUMENT);
    assert.match(beforeHello.details, /Report before Hello/);
    const badVersion = await statusOf([{ hello: hello({ protocol_version: 2 }) }]);
    assert.equal(badVersion.code, grpc.status.FAILED_PRECONDITION);
    assert.match(badVersion.details, /protocol version 2/);
    const noId = await statusOf([{ hello: hello({ collector_id: '' }) }]);
    assert.equal(noId.code, grpc.status.INVALID_ARGUMENT);
    assert.match(noId.details, /collector_id/);
    const twice = await statusOf([{ hello: hello({ collector_id: 'twice' }) }, { hello: hello({ collector_id: 'twice' }) }]);
    assert.equal(twice.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(await isActive(scaler, { port: '7401', targetValue: '1' }), false, 'server answers');
  });

  it('a target beyond max targets is refused with RESOURCE_EXHAUSTED naming the limit', async () => {
    for (let p = 7500; scaler.server.store.stats().targets < 5; p++) await isActive(scaler, { port: String(p), targetValue: '1' });
    const err = await callError((cb) => scaler.client.IsActive(ref({ port: '7600', targetValue: '1' }), cb));
    assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(err.details, /maximum of 5 targets/);
    assert.equal(scaler.server.stats().store.refusedTotal, 1);
  });
});

describe('in-process ingest API (standalone collectors)', () => {
  it('rejects negative and non-integer counts that cannot arrive over the wire', async () => {
    const scaler = await startTestScaler();
    try {
      const id = idOf(await specName(scaler, { port: '7700', targetValue: '1' }));
      const session = scaler.server.ingest.openSession(hello({ collector_id: 'local' }));
      const base = deltaFromLatencies(id, [1000]) as Required<TargetDelta>;
      const toInput = (d: Partial<Record<keyof TargetDelta, unknown>>) => ({ ...base, ...d }) as unknown as Parameters<typeof session.report>[0]['targets'][number];
      const r1 = session.report({ sequence: 1, interval_ms: 1000, end_unix_ms: Date.now(), wakeup: false, targets: [toInput({ requests: -3 })] });
      assert.equal(r1.accepted, false);
      assert.match(r1.problem ?? '', /requests/);
      const r2 = session.report({ sequence: 2, interval_ms: 1000, end_unix_ms: Date.now(), wakeup: false, targets: [toInput({ latency_sum_us: 1.5 })] });
      assert.equal(r2.accepted, false);
      const r3 = session.report({ sequence: 3, interval_ms: 1000, end_unix_ms: Date.now(), wakeup: false, targets: [toInput({})] });
      assert.equal(r3.accepted, true);
      session.close();
    } finally {
      await scaler.close();
    }
  });
});
