import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { CollectorCore, CollectorCoreOptions } from '../../src/collector/core.js';
import { openCollector, sleep, targetOf, watchOnly } from '../helpers/kernel-collector.js';
import { createNetns, type TestNetns } from '../helpers/netns.js';
import { runGrpcClient, runHttpClient, startGrpcServer, startNginx } from '../helpers/protocol-workloads.js';
import { assertMatches } from '../helpers/protocol-assert.js';

/**
 * Protocol framing's compat build (bounded walks continued in tail calls, framed
 * connections named in framed_conns, aborts at sock_release), forced on this kernel in the
 * two places it runs elsewhere:
 *   - beside a hash variant of the hook ladder, what 5.10 (fentry) and kprobe hosts run:
 *     the timing programs keep connection state in an LRU hash and cannot read the framing
 *     programs' sk_storage (the tp_btf rung forced to its hash variant: connStates);
 *   - beside an sk_storage variant, sharing its state, what 5.11-5.16 run (fentry; no
 *     bpf_loop there): framing: 'compat'.
 * The VM matrix runs the build beside 5.10's fentry and the kprobe rung. Real servers in
 * test network namespaces, clients recording every request, issue 11's tolerances.
 */

const CONFIGURATIONS: readonly { label: string; connState: 'hash' | 'sk_storage'; options: Omit<CollectorCoreOptions, 'logger'> }[] = [
  { label: 'hash variant', connState: 'hash', options: { connStates: ['hash'] } },
  { label: 'sk_storage variant', connState: 'sk_storage', options: { framing: 'compat' } },
];

for (const { label, connState, options } of CONFIGURATIONS) {
  describe(`compat framing beside the ${label}`, () => {
    let core: CollectorCore;
    const namespaces: TestNetns[] = [];

    before(() => {
      core = openCollector(options);
      assert.equal(core.hooks.connState, connState);
      assert.ok(core.framing?.programs.includes('framing_ingress_compat'), "framing's compat build is attached");
    });
    after(() => {
      core?.close();
      for (const ns of namespaces) ns.dispose();
    });

    function watch(ns: TestNetns, targetId: string, port: number): void {
      watchOnly(core, ns.inode, targetId, port);
    }

    test(`${label}: gRPC (h2c), 16 concurrent streams on one connection, timed per stream`, async () => {
      const ns = createNetns(`${connState[0]}grpc16`);
      namespaces.push(ns);
      const port = 50051;
      await startGrpcServer(ns, '127.0.0.1', port);
      watch(ns, `${connState}-grpc-16`, port);
      const truth = await runGrpcClient(ns, '127.0.0.1', port, { requests: 320, streams: 16, delays: { minMs: 5, maxMs: 40, seed: 16 } });
      const delta = targetOf(core.readTick().targets, `${connState}-grpc-16`);
      assert.equal(delta.protocol?.h2cConnections, 1, 'one HTTP/2 connection framed');
      assert.equal(delta.protocol?.framingLost, 0, 'no packet held more frames than the bounded walk takes');
      assertMatches(`${label} gRPC 16 streams`, delta, truth);
    });

    for (const c of [
      { tls: '1.3', connection: 'new', requests: 120 },
      { tls: '1.2', connection: 'keepalive', requests: 150 },
    ] as const) {
      test(`${label}: TLS ${c.tls}, ${c.connection === 'new' ? 'a new connection per request' : 'keep-alive'} (nginx), timed per record turn`, async () => {
        const ns = createNetns(`${connState[0]}tls${c.tls.replace('.', '')}${c.connection}`);
        namespaces.push(ns);
        const port = 8443;
        await startNginx(ns, '127.0.0.1', port, { tls: true });
        const targetId = `${connState}-tls-${c.tls}-${c.connection}`;
        watch(ns, targetId, port);
        const truth = await runHttpClient(ns, '127.0.0.1', port, { requests: c.requests, delays: { minMs: 5, maxMs: 40, seed: 7 }, tls: c.tls, connection: c.connection, alpn: ['http/1.1'] });
        const delta = targetOf(core.readTick().targets, targetId);
        assert.equal(delta.protocol?.tlsConnections, c.connection === 'new' ? c.requests : 1, 'every connection framed as TLS');
        assert.equal(delta.protocol?.framingLost, 0);
        assertMatches(`${label} TLS ${c.tls} ${c.connection}`, delta, truth);
      });
    }

    test(`${label}: HTTP/1 keep-alive stays with turn-taking beside the framing programs`, async () => {
      const ns = createNetns(`${connState[0]}http1`);
      namespaces.push(ns);
      const port = 8080;
      await startNginx(ns, '127.0.0.1', port, { tls: false });
      watch(ns, `${connState}-http1`, port);
      const truth = await runHttpClient(ns, '127.0.0.1', port, { requests: 150, delays: { minMs: 5, maxMs: 40, seed: 11 }, tls: 'none', connection: 'keepalive' });
      const delta = targetOf(core.readTick().targets, `${connState}-http1`);
      assert.equal(delta.protocol?.h2cConnections ?? 0, 0);
      assertMatches(`${label} HTTP/1 keep-alive`, delta, truth);
    });

    /* The hash variant's close hook cannot reach the framing state: the framing release
     * program aborts what a closing server left unanswered. */
    test(`${label}: a gRPC server killed with calls open leaves none in flight (aborted at close)`, async () => {
      const ns = createNetns(`${connState[0]}grpckill`);
      namespaces.push(ns);
      const port = 50053;
      const server = await startGrpcServer(ns, '127.0.0.1', port);
      watch(ns, `${connState}-grpc-kill`, port);
      const client = runGrpcClient(ns, '127.0.0.1', port, { requests: 4, streams: 4, delays: { minMs: 2000, maxMs: 2000, seed: 1 }, callTimeoutS: 5 });
      let inFlightBeforeKill = 0;
      for (let i = 0; i < 40 && inFlightBeforeKill < 4; i++) {
        await sleep(50);
        inFlightBeforeKill = core.loadNow().get(`${connState}-grpc-kill`)?.inFlight ?? 0;
      }
      server.kill('SIGKILL');
      const truth = await client;
      await sleep(200);
      const delta = targetOf(core.readTick().targets, `${connState}-grpc-kill`);
      console.log(`${label}, server killed: ${inFlightBeforeKill} in flight before, ${truth.failures} calls failed, kernel ${delta.requests} completed, in flight ${delta.inFlight}`);
      assert.equal(inFlightBeforeKill, 4, 'the four calls were in flight before the kill');
      assert.equal(truth.failures, 4);
      assert.equal(delta.requests, 0);
      assert.equal(delta.inFlight, 0, 'aborted when the server socket was released');
      assert.equal(delta.abortedRequests, 4, 'the four open streams count as aborted');
    });
  });
}
