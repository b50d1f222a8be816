import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Histogram } from '../../src/histogram/histogram.js';
import type { CollectorCore } from '../../src/collector/core.js';
import { openCollector, targetOf } from '../helpers/kernel-collector.js';
import { exactQuantile, runClients, startServer } from '../helpers/kernel-workloads.js';
import { createNetns, type TestNetns } from '../helpers/netns.js';

/**
 * Acceptance 2: a single-threaded server (one connection at a time, 20 ms each) and 8
 * concurrent clients. Requests wait in the accept queue; the kernel times from arrival,
 * so its median is what the clients feel (~8 x 20 ms), not the 20 ms service time that
 * a recv()-time tracer would report.
 */

const SERVICE_MS = 20;
const CLIENTS = 8;
const REQUESTS_PER_CLIENT = 6;
const PORT = 8081;

let core: CollectorCore | undefined;
let ns: TestNetns | undefined;
after(() => {
  core?.close();
  ns?.dispose();
});

test('queueing in the accept queue counts: kernel median ~ what 8 concurrent clients feel', async () => {
  core = openCollector();
  ns = createNetns('queue');
  await startServer(ns, '127.0.0.1', PORT, SERVICE_MS, 'close');
  core.applyWatchSet([{ targetId: 'queueing', servers: [{ port: PORT, netnsInode: ns.inode }], demand: [] }]);
  core.readTick();
  const client = await runClients(ns, '127.0.0.1', PORT, REQUESTS_PER_CLIENT, CLIENTS, 'close');
  const delta = targetOf(core.readTick().targets, 'queueing');
  const kernelMedianUs = Histogram.fromSparse(delta.buckets).quantileUs(0.5);
  const clientMedianUs = exactQuantile(client.socket, 0.5);
  console.log(
    `queueing: service ${SERVICE_MS} ms, ${CLIENTS} clients: kernel median ${(kernelMedianUs / 1000).toFixed(1)} ms, ` +
      `client median ${(clientMedianUs / 1000).toFixed(1)} ms, requests ${delta.requests}, accepted ${delta.acceptedConnections}`,
  );
  assert.equal(delta.requests, CLIENTS * REQUESTS_PER_CLIENT);
  assert.equal(delta.acceptedConnections, CLIENTS * REQUESTS_PER_CLIENT);
  assert.ok(kernelMedianUs > 4 * SERVICE_MS * 1000, 'the median includes the wait, far above the service time');
  assert.ok(Math.abs(kernelMedianUs - clientMedianUs) <= clientMedianUs / 8, 'kernel median within 1/8 of the clients\'');
});
