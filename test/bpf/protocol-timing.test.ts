import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Histogram } from '../../src/histogram/histogram.js';
import type { CollectorCore } from '../../src/collector/core.js';
import type { TargetDelta } from '../../src/collector/types.js';
import { openCollector, targetOf } from '../helpers/kernel-collector.js';
import { createNetns, type TestNetns } from '../helpers/netns.js';
import { errorPercent, exactQuantile, runGrpcClient, startGrpcServer, type RecordedRequests } from '../helpers/protocol-workloads.js';

/**
 * Acceptance 1 of issue 11: request boundaries by protocol (bpf/protocol_framing.bpf.c).
 * Real servers in test network namespaces, clients recording every request; the kernel's
 * p50/p90 must be within 5 % of the clients' and its request count within 2 %.
 */

const QUANTILE_TOLERANCE_PERCENT = 5;
const COUNT_TOLERANCE_PERCENT = 2;

let core: CollectorCore;
const namespaces: TestNetns[] = [];

before(() => {
  core = openCollector();
  assert.ok(core.framing, 'protocol framing programs are attached');
});
after(() => {
  core?.close();
  for (const ns of namespaces) ns.dispose();
});

function watch(ns: TestNetns, targetId: string, port: number): void {
  core.applyWatchSet([{ targetId, servers: [{ port, netnsInode: ns.inode }], demand: [] }]);
  core.readTick();
}

/** Compares the kernel's tick with what the client recorded; prints the figures. */
export function assertMatches(label: string, delta: TargetDelta, truth: RecordedRequests): void {
  const kernel = Histogram.fromSparse(delta.buckets);
  const count = truth.latenciesUs.length;
  const countError = errorPercent(delta.requests, count);
  console.log(`${label}: kernel ${delta.requests} requests, client ${count} (${countError.toFixed(2)} %), in flight ${delta.inFlight}, failures ${truth.failures}, protocol ${JSON.stringify(delta.protocol)}`);
  for (const q of [0.5, 0.9]) {
    const k = kernel.quantileUs(q);
    const client = exactQuantile(truth.latenciesUs, q);
    const service = exactQuantile(truth.serviceUs, q);
    console.log(
      `${label} p${q * 100}: kernel ${(k / 1000).toFixed(3)} ms, client ${(client / 1000).toFixed(3)} ms (${errorPercent(k, client).toFixed(2)} %), ` +
        `drawn service ${(service / 1000).toFixed(3)} ms (${errorPercent(k, service).toFixed(2)} %)`,
    );
    assert.ok(Math.abs(errorPercent(k, client)) <= QUANTILE_TOLERANCE_PERCENT, `${label} p${q * 100}: kernel ${k} us vs client ${client} us`);
  }
  assert.equal(truth.failures, 0, 'every client request succeeded');
  assert.ok(Math.abs(countError) <= COUNT_TOLERANCE_PERCENT, `${label}: kernel counted ${delta.requests} requests, the client completed ${count}`);
  assert.equal(delta.inFlight, 0, 'nothing left in flight');
}

for (const c of [
  { streams: 1, requests: 150 },
  { streams: 16, requests: 320 },
]) {
  test(`gRPC (h2c), ${c.streams} concurrent stream(s) on one connection: p50/p90 within 5 %, count within 2 %`, async () => {
    const ns = createNetns(`grpc${c.streams}`);
    namespaces.push(ns);
    const port = 50051;
    await startGrpcServer(ns, '127.0.0.1', port);
    const targetId = `grpc-${c.streams}`;
    watch(ns, targetId, port);
    const truth = await runGrpcClient(ns, '127.0.0.1', port, { requests: c.requests, streams: c.streams, delays: { minMs: 5, maxMs: 40, seed: c.streams } });
    const delta = targetOf(core.readTick().targets, targetId);
    assert.equal(delta.protocol?.h2cConnections, 1, 'one HTTP/2 connection framed');
    assert.equal(delta.protocol?.framingLost, 0);
    assertMatches(`gRPC ${c.streams} stream(s)`, delta, truth);
  });
}
