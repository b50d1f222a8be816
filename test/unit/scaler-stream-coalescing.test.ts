import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type * as grpc from '@grpc/grpc-js';
import type { IsActiveResponse__Output } from '../../src/proto/generated/externalscaler/IsActiveResponse.js';
import { targetId } from '../../src/scaler/target.js';
import { parseTriggerMetadata } from '../../src/scaler/metadata.js';
import { connectCollector, hello } from '../helpers/scaler-collector.js';
import { ManualClock, ref, startTestScaler, type TestScaler } from '../helpers/scaler-server.js';

/**
 * Attack 5 (issue 10): each report re-evaluated every open StreamIsActive on its target,
 * merging the whole window per stream (5 streams x 50 collectors starved KEDA for ~55 s).
 * Now a batch of reports costs one counters-only evaluation per (target, activation
 * settings) group. Counted, not timed (timing is bench/cases/starvation.ts).
 */

const STREAMS = 200;
const md = { port: '8080', targetValue: '1', window: '10m', activationWindow: '10m' };
const id = targetId(parseTriggerMetadata(md).selection);

function report(sequence: number, now: number) {
  return {
    sequence,
    interval_ms: 1000,
    end_unix_ms: now,
    wakeup: false,
    targets: [{ target_id: id, requests: 10, latency_sum_us: 10_000, in_flight: 0, accepted_connections: 0, demand_attempts: 0, demand_refused: 0, bucket_index: [100, 200], bucket_count: [5, 5] }],
  };
}

describe('StreamIsActive re-evaluation is coalesced (attack 5)', () => {
  const clock = new ManualClock();
  let scaler: TestScaler;
  const streams: grpc.ClientReadableStream<IsActiveResponse__Output>[] = [];
  const received: boolean[][] = [];
  before(async () => {
    scaler = await startTestScaler({ clock: clock.now });
    for (let i = 0; i < STREAMS; i++) {
      const stream = scaler.client.StreamIsActive(ref(md, `so-${i % 5}`));
      stream.on('error', () => undefined);
      const mine: boolean[] = [];
      received.push(mine);
      stream.on('data', (m: IsActiveResponse__Output) => mine.push(Boolean(m.result)));
      streams.push(stream);
    }
    const deadline = Date.now() + 10_000;
    while (received.some((r) => r.length === 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  });
  after(async () => {
    for (const s of streams) s.cancel();
    await scaler.close();
  });

  it(`${STREAMS} streams on one target: 50 reports in one batch cost one evaluation`, async () => {
    assert.ok(received.every((r) => r.length === 1 && r[0] === false), 'every stream got its initial state');
    const before = scaler.server.stats().activityStreams;
    assert.equal(before.groups, 1, 'one group: same target, same activation settings');
    assert.equal(before.subscribers, STREAMS);
    const session = scaler.server.ingest.openSession(hello({ collector_id: 'batch', node_name: 'batch' }));
    for (let seq = 1; seq <= 50; seq++) session.report(report(seq, clock.nowMs));
    await new Promise((r) => setImmediate(r));
    const afterBatch = scaler.server.stats().activityStreams;
    assert.equal(afterBatch.evaluations - before.evaluations, 1, 'one evaluation for 50 reports x 200 streams');
    assert.equal(afterBatch.flushes - before.flushes, 1);
    const deadline = Date.now() + 5000;
    while (received.some((r) => r.length < 2) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(received.every((r) => r.length === 2 && r[1] === true), 'every stream learned it is active');
    session.close();
  });

  it('reports over a real collector stream into an active target: at most one evaluation per second', async () => {
    const before = scaler.server.stats().activityStreams.evaluations;
    const collector = await connectCollector(scaler.ingestAddress, hello({ collector_id: 'grpc', node_name: 'grpc' }));
    for (let seq = 1; seq <= 100; seq++) collector.send(report(seq, clock.nowMs));
    const deadline = Date.now() + 10_000;
    while (scaler.server.stats().ingest.reportsAccepted < 150 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setImmediate(r));
    const evaluations = scaler.server.stats().activityStreams.evaluations - before;
    console.log(`100 reports over gRPC into ${STREAMS} open streams of an active target: ${evaluations} evaluations (per-stream re-evaluation would be ${100 * STREAMS})`);
    assert.equal(scaler.server.stats().ingest.reportsAccepted, 150);
    // The group is active already: new data re-evaluates it at most once per second.
    assert.ok(evaluations <= 1, `${evaluations} evaluations`);
    assert.ok(scaler.server.stats().activityStreams.deferred > 0);
    // ...and the postponed re-check does happen, once.
    await new Promise((r) => setTimeout(r, 1200));
    assert.equal(scaler.server.stats().activityStreams.evaluations - before, 1);
    collector.close();
  });
});
