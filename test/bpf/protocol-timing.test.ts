import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { CollectorCore } from '../../src/collector/core.js';
import type { TargetDelta } from '../../src/collector/types.js';
import { openCollector, sleep, targetOf, watchOnly } from '../helpers/kernel-collector.js';
import { createNetns, type TestNetns } from '../helpers/netns.js';
import { DEBIAN_PYTHON, runGrpcClient, runHttpClient, startGrpcServer, startNginx } from '../helpers/protocol-workloads.js';
import { assertMatches, printNginx } from '../helpers/protocol-assert.js';
import { waitReady } from '../helpers/child-ready.js';
import { runHalfCloseClient, runUnreadBodyClient, startHalfCloseServer } from '../helpers/half-close.js';

/**
 * Acceptance 1 of issue 11: request boundaries by protocol (bpf/protocol_framing.bpf.c).
 * Real servers in test network namespaces, clients recording every request; the kernel's
 * p50/p90 must be within 5 % of the clients' and its request count within 2 %.
 */

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
  watchOnly(core, ns.inode, targetId, port);
}

for (const c of [
  { streams: 1, requests: 150, host: '127.0.0.1' },
  { streams: 16, requests: 320, host: '127.0.0.1' },
  // the framing programs find TCP after the fixed 40-byte IPv6 header
  { streams: 16, requests: 320, host: '::1' },
]) {
  const v6 = c.host.includes(':');
  test(`gRPC (h2c${v6 ? ' over IPv6' : ''}), ${c.streams} concurrent stream(s) on one connection: p50/p90 within 5 %, count within 2 %`, async () => {
    const ns = createNetns(`grpc${c.streams}${v6 ? 'v6' : ''}`);
    namespaces.push(ns);
    const port = 50051;
    await startGrpcServer(ns, c.host, port);
    const targetId = `grpc-${c.streams}${v6 ? '-v6' : ''}`;
    watch(ns, targetId, port);
    const truth = await runGrpcClient(ns, c.host, port, { requests: c.requests, streams: c.streams, delays: { minMs: 5, maxMs: 40, seed: c.streams } });
    const delta = targetOf(core.readTick().targets, targetId);
    assert.equal(delta.protocol?.h2cConnections, 1, 'one HTTP/2 connection framed');
    assert.equal(delta.protocol?.framingLost, 0);
    assertMatches(`gRPC ${c.streams} stream(s)${v6 ? ' IPv6' : ''}`, delta, truth);
  });
}

const TLS_CASES = [
  { tls: '1.3', connection: 'new', requests: 120 },
  { tls: '1.3', connection: 'keepalive', requests: 150 },
  { tls: '1.2', connection: 'new', requests: 120 },
  { tls: '1.2', connection: 'keepalive', requests: 150 },
] as const;

for (const c of TLS_CASES) {
  test(`TLS ${c.tls}, ${c.connection === 'new' ? 'a new connection per request' : 'keep-alive'} (nginx): p50/p90 within 5 %, count within 2 %`, async () => {
    const ns = createNetns(`tls${c.tls.replace('.', '')}${c.connection}`);
    namespaces.push(ns);
    const port = 8443;
    const nginx = await startNginx(ns, '127.0.0.1', port, { tls: true });
    const targetId = `tls-${c.tls}-${c.connection}`;
    watch(ns, targetId, port);
    const truth = await runHttpClient(ns, '127.0.0.1', port, { requests: c.requests, delays: { minMs: 5, maxMs: 40, seed: 7 }, tls: c.tls, connection: c.connection, alpn: ['http/1.1'] });
    const delta = targetOf(core.readTick().targets, targetId);
    printNginx(`TLS ${c.tls} ${c.connection}`, delta, nginx.requestTimesUs());
    assert.equal(delta.protocol?.tlsConnections, c.connection === 'new' ? c.requests : 1, 'every connection framed as TLS');
    assert.equal(delta.protocol?.framingLost, 0);
    assertMatches(`TLS ${c.tls} ${c.connection}`, delta, truth);
  });
}

for (const c of [
  { label: 'Expect: 100-continue uploads', expectContinue: true, interim: 150 },
  { label: 'HTTP/1 keep-alive', expectContinue: false, interim: 0 },
]) {
  test(`${c.label} (nginx, cleartext): p50/p90 within 5 %, count within 2 %`, async () => {
    const ns = createNetns(c.expectContinue ? 'continue' : 'http1');
    namespaces.push(ns);
    const port = 8080;
    const nginx = await startNginx(ns, '127.0.0.1', port, { tls: false });
    const targetId = c.expectContinue ? 'continue' : 'http1';
    watch(ns, targetId, port);
    const truth = await runHttpClient(ns, '127.0.0.1', port, { requests: 150, delays: { minMs: 5, maxMs: 40, seed: 11 }, tls: 'none', connection: 'keepalive', expectContinue: c.expectContinue });
    const delta = targetOf(core.readTick().targets, targetId);
    printNginx(c.label, delta, nginx.requestTimesUs());
    assert.equal(delta.protocol?.interimResponses, c.interim, 'each 100 Continue seen once, and only those');
    assertMatches(c.label, delta, truth);
  });
}

test('TLS offering ALPN h2: counted per connection, kept out of latency and request counts', async () => {
  const ns = createNetns('tlsh2');
  namespaces.push(ns);
  const port = 8443;
  await startNginx(ns, '127.0.0.1', port, { tls: true });
  watch(ns, 'tls-h2', port);
  const truth = await runHttpClient(ns, '127.0.0.1', port, { requests: 20, delays: { minMs: 1, maxMs: 5, seed: 3 }, tls: '1.3', connection: 'new', alpn: ['h2', 'http/1.1'] });
  const delta = targetOf(core.readTick().targets, 'tls-h2');
  console.log(`TLS ALPN h2: ${truth.latenciesUs.length} requests served, kernel ${delta.requests} timed, protocol ${JSON.stringify(delta.protocol)}`);
  assert.equal(truth.latenciesUs.length, 20);
  assert.equal(delta.protocol?.tlsH2Connections, 20, 'every connection offering h2 counted');
  assert.equal(delta.requests, 0, 'none timed');
  assert.equal(delta.inFlight, 0);
});

/* The client resets each stream (RST_STREAM) at its deadline; the server, told the deadline
 * in grpc-timeout, may answer first with a DEADLINE_EXCEEDED status (HEADERS): either ends
 * the stream, once. */
test('gRPC calls past their deadline end once each (answered or RST_STREAM), none stays in flight', async () => {
  const ns = createNetns('grpcrst');
  namespaces.push(ns);
  const port = 50052;
  await startGrpcServer(ns, '127.0.0.1', port);
  watch(ns, 'grpc-rst', port);
  const truth = await runGrpcClient(ns, '127.0.0.1', port, { requests: 8, streams: 4, delays: { minMs: 300, maxMs: 300, seed: 1 }, callTimeoutS: 0.05 });
  await sleep(400); // the server's late answers, if any, must not count
  const delta = targetOf(core.readTick().targets, 'grpc-rst');
  console.log(`gRPC deadline: ${truth.failures} calls cancelled, kernel ${delta.requests} completed, in flight ${delta.inFlight}`);
  assert.equal(truth.failures, 8);
  assert.ok(delta.requests <= 8, 'no stream ends twice');
  assert.equal(delta.inFlight, 0);
});

test('connections closed before a response abort their request, none stays in flight (HTTP/1, TLS 1.3)', async () => {
  const ns = createNetns('closed');
  namespaces.push(ns);
  const server = ns.spawn(DEBIAN_PYTHON, [
    '-c',
    'import socket\ns = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", 9000)); s.listen(16)\n' +
      'print("ready", flush=True)\nwhile True:\n    c, _ = s.accept(); c.recv(1000); c.close()\n',
  ]);
  await waitReady(server, 'closing server');
  watch(ns, 'closed', 9000);
  await ns.run(DEBIAN_PYTHON, [
    '-c',
    'import socket\nfor i in range(5):\n    c = socket.create_connection(("127.0.0.1", 9000)); c.sendall(b"GET / HTTP/1.1\\r\\n\\r\\n"); c.recv(100); c.close()\n',
  ]);
  await sleep(300);
  const delta = targetOf(core.readTick().targets, 'closed');
  console.log(`closed before a response: kernel ${delta.requests} completed, in flight ${delta.inFlight}, aborted ${delta.abortedRequests}`);
  assert.equal(delta.requests, 0);
  assert.equal(delta.inFlight, 0, 'aborted at close (the local port reads 0 by then)');
  assert.equal(delta.abortedRequests, 5, 'each closed connection counts one aborted request');
});

/** Mean latency of a target's timed requests and of the client's own durations, in ms. */
function means(delta: TargetDelta, durations: readonly number[]): { kernelMeanMs: number; clientMeanMs: number } {
  return {
    kernelMeanMs: delta.requests ? delta.latencySumUs / delta.requests / 1000 : 0,
    clientMeanMs: durations.reduce((a, b) => a + b, 0) / durations.length,
  };
}

/** The half-close cases time sequential requests of one fixed service time: means within 10 % (at least 2 ms). */
function assertMeansAgree(kernelMeanMs: number, clientMeanMs: number): void {
  assert.ok(Math.abs(kernelMeanMs - clientMeanMs) <= Math.max(2, clientMeanMs * 0.1), `kernel mean ${kernelMeanMs} ms vs client ${clientMeanMs} ms`);
}

/* Clients that half-close after their request (test/helpers/half-close.ts): the request's
 * bytes and the FIN in one segment are timed; a FIN on its own is no request. */
test('a request that arrives with the client FIN (half-close) is timed; a FIN alone is not a request', async () => {
  const ns = createNetns('halfclose');
  namespaces.push(ns);
  await startHalfCloseServer(ns, 9001, 30);
  for (const cork of [true, false]) {
    const targetId = `halfclose-${cork ? 'one-segment' : 'fin-after'}`;
    watch(ns, targetId, 9001);
    const durations = await runHalfCloseClient(ns, 9001, 20, cork);
    await sleep(200);
    const delta = targetOf(core.readTick().targets, targetId);
    const { kernelMeanMs, clientMeanMs } = means(delta, durations);
    console.log(`half-close, ${cork ? 'request and FIN in one segment' : 'FIN after the request'}: kernel ${delta.requests} requests, mean ${kernelMeanMs.toFixed(2)} ms; client ${durations.length}, mean ${clientMeanMs.toFixed(2)} ms; in flight ${delta.inFlight}, aborted ${delta.abortedRequests}`);
    assert.equal(delta.requests, durations.length, 'every request timed once');
    assertMeansAgree(kernelMeanMs, clientMeanMs);
    assert.equal(delta.inFlight, 0);
    assert.equal(delta.abortedRequests, 0, 'no FIN begins a request');
  }
});

/* The half-close rule's documented side effect (README): a server that answers without
 * reading all the client sent, and the client's FIN arriving before the server closes. The
 * unread bytes and the FIN look like a request sent with a FIN, so each connection counts one
 * more request, aborted at the close: in the aborted counter, not in latency or requests. */
test('half-close side effect: bytes the server never read, then the client FIN, count one aborted request each', async () => {
  const ns = createNetns('unreadbody');
  namespaces.push(ns);
  await startHalfCloseServer(ns, 9002, 30, 60);
  const targetId = 'halfclose-unread-body';
  watch(ns, targetId, 9002);
  const connections = 10;
  const durations = await runUnreadBodyClient(ns, 9002, connections, 10);
  await sleep(200);
  const delta = targetOf(core.readTick().targets, targetId);
  const { kernelMeanMs, clientMeanMs } = means(delta, durations);
  console.log(`unread body then FIN: kernel ${delta.requests} requests, mean ${kernelMeanMs.toFixed(2)} ms; client ${durations.length}, mean ${clientMeanMs.toFixed(2)} ms; aborted ${delta.abortedRequests}, in flight ${delta.inFlight}`);
  assert.equal(delta.requests, connections, 'each POST timed once, to its answer');
  assertMeansAgree(kernelMeanMs, clientMeanMs);
  assert.equal(delta.abortedRequests, connections, 'one aborted request per connection: the unread body and the FIN');
  assert.equal(delta.inFlight, 0);
});
