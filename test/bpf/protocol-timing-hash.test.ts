import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { CollectorCore } from '../../src/collector/core.js';
import { openCollector, sleep, targetOf, watchOnly } from '../helpers/kernel-collector.js';
import { createNetns, type TestNetns } from '../helpers/netns.js';
import { runGrpcClient, runHttpClient, startGrpcServer, startNginx } from '../helpers/protocol-workloads.js';
import { assertMatches } from '../helpers/protocol-assert.js';

/**
 * Protocol framing beside a hash variant of the hook ladder: what 5.10 (fentry) and
 * kprobe hosts run, where the timing programs keep connection state in an LRU hash and
 * cannot read the framing programs' sk_storage. Here the tp_btf rung is forced to its hash
 * variant (connStates), so the framing programs' hash build runs with it on this kernel;
 * the VM matrix runs the same build beside 5.10's fentry and the kprobe rung. Real servers
 * in test network namespaces, clients recording every request, issue 11's tolerances.
 */

let core: CollectorCore;
const namespaces: TestNetns[] = [];

before(() => {
  core = openCollector({ connStates: ['hash'] });
  assert.equal(core.hooks.connState, 'hash', 'the hash variant was forced');
  assert.ok(core.framing?.programs.includes('framing_ingress_compat'), "framing's compat build is attached");
});
after(() => {
  core?.close();
  for (const ns of namespaces) ns.dispose();
});

function watch(ns: TestNetns, targetId: string, port: number): void {
  watchOnly(core, ns.inode, targetId, port);
}

test('hash variant: gRPC (h2c), 16 concurrent streams on one connection, timed per stream', async () => {
  const ns = createNetns('hgrpc16');
  namespaces.push(ns);
  const port = 50051;
  await startGrpcServer(ns, '127.0.0.1', port);
  watch(ns, 'hash-grpc-16', port);
  const truth = await runGrpcClient(ns, '127.0.0.1', port, { requests: 320, streams: 16, delays: { minMs: 5, maxMs: 40, seed: 16 } });
  const delta = targetOf(core.readTick().targets, 'hash-grpc-16');
  assert.equal(delta.protocol?.h2cConnections, 1, 'one HTTP/2 connection framed');
  assert.equal(delta.protocol?.framingLost, 0, 'no packet held more frames than the bounded walk takes');
  assertMatches('hash variant gRPC 16 streams', delta, truth);
});

for (const c of [
  { tls: '1.3', connection: 'new', requests: 120 },
  { tls: '1.2', connection: 'keepalive', requests: 150 },
] as const) {
  test(`hash variant: TLS ${c.tls}, ${c.connection === 'new' ? 'a new connection per request' : 'keep-alive'} (nginx), timed per record turn`, async () => {
    const ns = createNetns(`htls${c.tls.replace('.', '')}${c.connection}`);
    namespaces.push(ns);
    const port = 8443;
    await startNginx(ns, '127.0.0.1', port, { tls: true });
    const targetId = `hash-tls-${c.tls}-${c.connection}`;
    watch(ns, targetId, port);
    const truth = await runHttpClient(ns, '127.0.0.1', port, { requests: c.requests, delays: { minMs: 5, maxMs: 40, seed: 7 }, tls: c.tls, connection: c.connection, alpn: ['http/1.1'] });
    const delta = targetOf(core.readTick().targets, targetId);
    assert.equal(delta.protocol?.tlsConnections, c.connection === 'new' ? c.requests : 1, 'every connection framed as TLS');
    assert.equal(delta.protocol?.framingLost, 0);
    assertMatches(`hash variant TLS ${c.tls} ${c.connection}`, delta, truth);
  });
}

test('hash variant: HTTP/1 keep-alive stays with turn-taking beside the framing programs', async () => {
  const ns = createNetns('hhttp1');
  namespaces.push(ns);
  const port = 8080;
  await startNginx(ns, '127.0.0.1', port, { tls: false });
  watch(ns, 'hash-http1', port);
  const truth = await runHttpClient(ns, '127.0.0.1', port, { requests: 150, delays: { minMs: 5, maxMs: 40, seed: 11 }, tls: 'none', connection: 'keepalive' });
  const delta = targetOf(core.readTick().targets, 'hash-http1');
  assert.equal(delta.protocol?.h2cConnections ?? 0, 0);
  assertMatches('hash variant HTTP/1 keep-alive', delta, truth);
});

/* The hash variant's close hook cannot reach the framing state: the framing release
 * program aborts what a closing server left unanswered. */
test('hash variant: a gRPC server killed with calls open leaves none in flight (aborted at close)', async () => {
  const ns = createNetns('hgrpckill');
  namespaces.push(ns);
  const port = 50053;
  const server = await startGrpcServer(ns, '127.0.0.1', port);
  watch(ns, 'hash-grpc-kill', port);
  const client = runGrpcClient(ns, '127.0.0.1', port, { requests: 4, streams: 4, delays: { minMs: 2000, maxMs: 2000, seed: 1 }, callTimeoutS: 5 });
  let inFlightBeforeKill = 0;
  for (let i = 0; i < 40 && inFlightBeforeKill < 4; i++) {
    await sleep(50);
    inFlightBeforeKill = core.loadNow().get('hash-grpc-kill')?.inFlight ?? 0;
  }
  server.kill('SIGKILL');
  const truth = await client;
  await sleep(200);
  const delta = targetOf(core.readTick().targets, 'hash-grpc-kill');
  console.log(`hash variant, server killed: ${inFlightBeforeKill} in flight before, ${truth.failures} calls failed, kernel ${delta.requests} completed, in flight ${delta.inFlight}`);
  assert.equal(inFlightBeforeKill, 4, 'the four calls were in flight before the kill');
  assert.equal(truth.failures, 4);
  assert.equal(delta.requests, 0);
  assert.equal(delta.inFlight, 0, 'aborted when the server socket was released');
});
