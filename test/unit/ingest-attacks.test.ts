import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { monotonicClock } from '../../src/clock.js';
import { TlsClientAuthenticator } from '../../src/ingest/auth/tls-client.js';
import { TokenFileAuthenticator } from '../../src/ingest/auth/token-file.js';
import { createLogger } from '../../src/log.js';
import type { ScalerMessage__Output } from '../../src/proto/generated/kedaebpf/collector/v1/ScalerMessage.js';
import { loadCollector } from '../../src/proto/load.js';
import { serverCredentials } from '../../src/server/credentials.js';
import { CollectorStreamClient } from '../../src/stream/collector-client.js';
import { bearerMetadata, collectorClient, connectCollector, deltaFromLatencies, hello, report } from '../helpers/scaler-collector.js';
import { callError, idOf, isActive, metric, ref, specName, startTestScaler, TEST_COLLECTOR_TOKEN, testTokenFile, unaryCall, type TestScaler } from '../helpers/scaler-server.js';
import { waitFor } from '../helpers/stream-ingest-server.js';

/**
 * The attacks of issue 10 that concern who may talk to the scaler and what they may claim
 * (1, 2, 3, 6, 7, 12), each replayed on loopback against a real scaler: each must now fail
 * to do harm. Figures are printed for the closing note.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Requests the scaler holds for a target over the last 10 s. */
const requestsIn = (scaler: TestScaler, id: string): number => scaler.server.store.query(id, monotonicClock(), 10_000, false)?.requests ?? 0;

/** Opens Connect with `metadata`, says Hello, and collects everything until the status. */
function rawConnect(address: string, metadata: grpc.Metadata, credentials = grpc.credentials.createInsecure(), helloMessage = hello()) {
  const client = collectorClient(address, credentials);
  const stream = client.Connect(metadata);
  const received: ScalerMessage__Output[] = [];
  stream.on('data', (m: ScalerMessage__Output) => received.push(m));
  stream.on('error', () => undefined);
  const status = new Promise<grpc.StatusObject>((resolve) => stream.on('status', resolve));
  stream.write({ hello: helloMessage });
  stream.write({ report: report(1, []) });
  return { received, status, close: () => client.close() };
}

describe('attack 1: injection without credentials', () => {
  let scaler: TestScaler;
  before(async () => {
    scaler = await startTestScaler();
  });
  after(() => scaler.close());

  it('no token or a wrong token: UNAUTHENTICATED before any Welcome or watch set; KEDA\'s port has no ingest at all', async () => {
    await isActive(scaler, { port: '7001', demandAddress: '10.0.0.1:80', targetValue: '1' });
    for (const [what, metadata] of [
      ['no token', bearerMetadata(null)],
      ['wrong token', bearerMetadata('not-the-token-0123456789')],
      ['malformed header', (() => { const m = new grpc.Metadata(); m.set('authorization', `Basic ${TEST_COLLECTOR_TOKEN}`); return m; })()],
    ] as const) {
      const c = rawConnect(scaler.ingestAddress, metadata);
      const status = await c.status;
      c.close();
      assert.equal(status.code, grpc.status.UNAUTHENTICATED, `${what}: ${status.details}`);
      assert.equal(c.received.length, 0, `${what}: nothing revealed (got ${c.received.length} messages)`);
    }
    const onKedaPort = rawConnect(scaler.address, bearerMetadata(TEST_COLLECTOR_TOKEN));
    assert.equal((await onKedaPort.status).code, grpc.status.UNIMPLEMENTED, 'the KEDA port does not serve CollectorIngest');
    onKedaPort.close();
    const failures = scaler.server.stats().ingest.authFailures;
    console.log(`attack 1: auth failures by reason ${JSON.stringify(failures)}`);
    assert.equal(failures['missing-credentials'], 2);
    assert.equal(failures['token-rejected'], 1);
  });

  it('an authenticated collector claiming 1e9 requests / in-flight / bucket 383 x 1e9 changes nothing', async () => {
    const md = { port: '7002', targetValue: '1', metric: 'rps', window: '10s' };
    const latency = { port: '7002', targetValue: '1', metric: 'latency', window: '10s' };
    const id = idOf(await specName(scaler, md));
    const before = { active: await isActive(scaler, md), rps: await metric(scaler, md), p95: await metric(scaler, latency) };
    const c = await connectCollector(scaler.ingestAddress, hello({ collector_id: 'liar', node_name: 'node-liar' }));
    c.send(report(1, [{ ...deltaFromLatencies(id, []), requests: 1e9, latency_sum_us: 1e9, bucket_index: [383], bucket_count: [1e9] }]));
    c.send(report(2, [{ ...deltaFromLatencies(id, []), in_flight: 1e9 }]));
    c.send(report(3, [{ ...deltaFromLatencies(id, []), demand_attempts: 1e9 }]));
    await waitFor(() => scaler.server.stats().ingest.deltasImplausible >= 3, 'three implausible deltas');
    const afterAttack = { active: await isActive(scaler, md), rps: await metric(scaler, md), p95: await metric(scaler, latency) };
    console.log(`attack 1 (authenticated liar): before ${JSON.stringify(before)}, after ${JSON.stringify(afterAttack)}, rejected ${JSON.stringify(scaler.server.stats().ingest.rejectedByReason)}`);
    assert.deepEqual(afterAttack, { active: false, rps: 0, p95: 0 });
    // The ceiling is a flag: an honest node under it is merged.
    c.send(report(4, [deltaFromLatencies(id, [1000, 2000, 3000])]));
    await waitFor(() => scaler.server.stats().ingest.deltasAccepted >= 1, 'the honest delta');
    assert.equal(await isActive(scaler, md), true);
    c.close();
  });
});

describe('attack 2: roles and node identity', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ingest-roles-'));
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let scaler: TestScaler;

  before(async () => {
    writeFileSync(file('san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    for (const ca of ['keda-ca', 'collector-ca']) openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', file(`${ca}.key`), '-out', file(`${ca}.pem`), '-days', '1', '-subj', `/CN=${ca}`);
    const issue = (who: string, cn: string, ca: string) => {
      openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', file(`${who}.key`), '-out', file(`${who}.csr`), '-subj', `/CN=${cn}`);
      openssl('x509', '-req', '-in', file(`${who}.csr`), '-CA', file(`${ca}.pem`), '-CAkey', file(`${ca}.key`), '-CAcreateserial', '-out', file(`${who}.pem`), '-days', '1', '-extfile', file('san.ext'));
    };
    issue('server', 'scaler', 'keda-ca');
    issue('keda', 'keda-operator', 'keda-ca');
    issue('node-a', 'node-a', 'collector-ca');
    issue('node-b', 'node-b', 'collector-ca');
    scaler = await startTestScaler({
      credentials: serverCredentials({ certFile: file('server.pem'), keyFile: file('server.key'), clientCaFile: file('keda-ca.pem') }),
      ingest: {
        listen: '127.0.0.1:0',
        credentials: serverCredentials({ certFile: file('server.pem'), keyFile: file('server.key'), clientCaFile: file('collector-ca.pem') }),
        authenticator: new TlsClientAuthenticator(),
      },
    });
  });
  after(async () => {
    await scaler.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const tls = (who: string | undefined) =>
    who === undefined
      ? grpc.credentials.createSsl(readFileSync(file('keda-ca.pem')))
      : grpc.credentials.createSsl(readFileSync(file('keda-ca.pem')), readFileSync(file(`${who}.key`)), readFileSync(file(`${who}.pem`)));
  it('KEDA\'s client certificate and no certificate cannot open the ingest stream; nothing is revealed', async () => {
    for (const who of ['keda', undefined]) {
      const c = rawConnect(scaler.ingestAddress, new grpc.Metadata(), tls(who));
      const status = await c.status;
      c.close();
      assert.notEqual(status.code, grpc.status.OK, `${who ?? 'no certificate'}: refused`);
      assert.equal(c.received.length, 0, `${who ?? 'no certificate'}: no Welcome, no watch set`);
      console.log(`attack 2: ${who ?? 'no'} certificate on the ingest port -> ${grpc.status[status.code]} (${status.details})`);
    }
  });

  it('a collector certificate for node-a cannot speak for node-b, so node-b\'s in-flight counts stay', async () => {
    const { ExternalScaler } = (await import('../../src/proto/load.js')).loadExternalScaler().externalscaler;
    const keda = new ExternalScaler(scaler.address, tls('keda'));
    const md = { port: '7101', targetValue: '1', metric: 'concurrency' };
    const name = await unaryCall<{ metricSpecs: { metricName: string }[] }>((cb) => keda.GetMetricSpec(ref(md), cb));
    const id = idOf(name.metricSpecs[0]!.metricName);
    const victim = await connectCollector(scaler.ingestAddress, hello({ node_name: 'node-b', collector_id: 'b-1' }), { credentials: tls('node-b'), token: null });
    victim.send(report(1, [{ ...deltaFromLatencies(id, []), in_flight: 5 }]));
    const active = () => unaryCall<{ result: boolean }>((cb) => keda.IsActive(ref(md), cb)).then((r) => r.result);
    await waitFor(() => scaler.server.stats().ingest.deltasAccepted >= 1, 'victim report');
    assert.equal(await active(), true, 'victim in flight');
    const impostor = await connectCollector(scaler.ingestAddress, hello({ node_name: 'node-b', collector_id: 'a-evil' }), { credentials: tls('node-a'), token: null }).then(
      () => 'connected',
      (err: Error) => err.message,
    );
    assert.match(impostor, new RegExp(`^stream ended before Welcome: ${grpc.status.PERMISSION_DENIED} .*node "node-a" may not speak for node "node-b"`));
    // Even reusing the victim's collector_id under its own node changes nothing for node-b.
    const own = await connectCollector(scaler.ingestAddress, hello({ node_name: '', collector_id: 'b-1' }), { credentials: tls('node-a'), token: null });
    own.send(report(9_007_199_254_740_991, []));
    await sleep(100);
    assert.equal(await active(), true, 'node-b is still in flight: nothing wiped');
    assert.equal(scaler.server.stats().ingest.collectorRestarts, 0);
    own.close();
    victim.close();
    keda.close();
  });

  it('token file: a token bound to a node speaks for that node only', async () => {
    const tokens = testTokenFile(['node-a token-of-node-a-0123456789', 'token-shared-by-all-0123456789']);
    const auth = new TokenFileAuthenticator(tokens);
    assert.deepEqual(await auth.authenticate({ bearerToken: 'token-of-node-a-0123456789' }), { method: 'token', principal: 'token:1', nodeName: 'node-a' });
    assert.deepEqual(await auth.authenticate({ bearerToken: 'token-shared-by-all-0123456789' }), { method: 'token', principal: 'token:2' });
    await assert.rejects(auth.authenticate({ bearerToken: 'token-of-node-a-012345678' }), /not accepted/);
    // Rotation: the file is read again when it changes.
    await sleep(20);
    writeFileSync(tokens, 'rotated-token-0123456789abcdef\n');
    await assert.rejects(auth.authenticate({ bearerToken: 'token-shared-by-all-0123456789' }), /not accepted/);
    assert.equal((await auth.authenticate({ bearerToken: 'rotated-token-0123456789abcdef' })).principal, 'token:1');
    assert.throws(() => new TokenFileAuthenticator(testTokenFile(['short'])), /line 1: a token must be at least 16 characters/);
  });
});

/**
 * A collector that stops reading at the HTTP/2 level (a paused stream never returns flow-control
 * credit), as a hostile or wedged peer does; a grpc-js client would read into its own memory.
 */
function pausedCollector(address: string, collectorId: string) {
  const connect = loadCollector().kedaebpf.collector.v1.CollectorIngest.service.Connect;
  const session = http2.connect(`http://${address}`);
  session.on('error', () => undefined);
  const stream = session.request({ ':method': 'POST', ':path': connect.path, 'content-type': 'application/grpc', te: 'trailers', authorization: `Bearer ${TEST_COLLECTOR_TOKEN}` });
  stream.on('error', () => undefined);
  stream.pause();
  const body = connect.requestSerialize({ hello: hello({ collector_id: collectorId, node_name: `node-${collectorId}` }) });
  const frame = Buffer.alloc(5 + body.length);
  frame.writeUInt32BE(body.length, 1);
  body.copy(frame, 5);
  stream.write(frame);
  const closed = new Promise<number>((resolve) => stream.on('close', () => resolve(stream.rstCode ?? -1)));
  return {
    /** Resolves with the RST_STREAM code once the scaler dropped the stream. */
    closed,
    /** Starts reading again; resolves each decoded ScalerMessage to `onMessage`. */
    resume(onMessage: (m: ScalerMessage__Output) => void): void {
      let buffered = Buffer.alloc(0);
      stream.on('data', (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        while (buffered.length >= 5 && buffered.length >= 5 + buffered.readUInt32BE(1)) {
          const length = buffered.readUInt32BE(1);
          onMessage(connect.responseDeserialize(buffered.subarray(5, 5 + length)) as ScalerMessage__Output);
          buffered = buffered.subarray(5 + length);
        }
      });
      stream.resume();
    },
    close: () => session.destroy(),
  };
}

describe('attack 3: collectors that never read', () => {
  // ~30 KB per target: 200 targets make a ~6 MB watch set, far beyond the HTTP/2 windows.
  const netns = `/run/netns/${'n'.repeat(3900)}`;
  const ports = (i: number) => Array.from({ length: 8 }, (_, k) => String(10_000 + i * 8 + k)).join(',');

  it('are disconnected and counted, hold at most one watch set each, and healthy collectors keep theirs', async () => {
    const scaler = await startTestScaler({ ingest: { listen: '127.0.0.1:0', authenticator: new TokenFileAuthenticator(testTokenFile()), slowReaderMs: 3000 }, maxTargets: 2000, maxTargetsPerScaledObject: 2000 });
    try {
      for (let i = 0; i < 200; i++) await isActive(scaler, { port: ports(i), netns, targetValue: '1' });
      const paused = Array.from({ length: 5 }, (_, i) => pausedCollector(scaler.ingestAddress, `never-reads-${i}`));
      const healthy = await connectCollector(scaler.ingestAddress, hello({ collector_id: 'reads', node_name: 'fast' }));
      await waitFor(() => scaler.server.stats().ingest.collectorsConnected === 6, 'six collectors');
      global.gc?.();
      const heapBefore = process.memoryUsage().heapUsed;
      // Target churn while they do not read: every change is a new ~6 MB watch set for every stream.
      for (let i = 200; i < 260; i++) await isActive(scaler, { port: ports(i), netns, targetValue: '1' });
      const heapDuring = process.memoryUsage().heapUsed;
      await waitFor(() => scaler.server.stats().ingest.slowReadersDisconnected === 5, 'five slow readers disconnected', 10_000);
      const stats = scaler.server.stats().ingest;
      console.log(
        `attack 3: 5 non-reading streams x 60 watch-set changes (~6-8 MB each): heap ${(heapBefore / 1e6).toFixed(0)} -> ${(heapDuring / 1e6).toFixed(0)} MB during the churn; ` +
          `slowReadersDisconnected ${stats.slowReadersDisconnected}, collectorsConnected ${stats.collectorsConnected}`,
      );
      // Unbounded queues would hold 5 x 60 x ~7 MB = ~2 GB; one in flight + one pending per stream is ~70 MB.
      assert.ok(heapDuring - heapBefore < 150e6, `heap grew ${((heapDuring - heapBefore) / 1e6).toFixed(0)} MB`);
      assert.equal(stats.collectorsConnected, 1, 'only the reading collector is left');
      // Reset, not left waiting behind its unread bytes (grpc-js would send the status only after them).
      const resets = await Promise.all(paused.map((p) => Promise.race([p.closed, sleep(5000).then(() => 'still open')])));
      assert.deepEqual(resets, resets.map(() => http2.constants.NGHTTP2_CANCEL), `RST_STREAM codes ${resets.join(',')}`);
      const latest = await healthy.waitForWatchSet((ws) => Number(ws.generation) === scaler.server.registry.generation, 10_000);
      assert.equal(latest.targets.length, 260, 'the reading collector has the newest watch set');
      for (const p of paused) p.close();
      healthy.close();
    } finally {
      await scaler.close();
    }
  });

  it('a collector that pauses gets the newest watch set when it reads again, not every one it missed', async () => {
    const scaler = await startTestScaler({ ingest: { listen: '127.0.0.1:0', authenticator: new TokenFileAuthenticator(testTokenFile()), slowReaderMs: 60_000 }, maxTargets: 2000, maxTargetsPerScaledObject: 2000 });
    try {
      for (let i = 0; i < 200; i++) await isActive(scaler, { port: ports(i), netns, targetValue: '1' });
      const paused = pausedCollector(scaler.ingestAddress, 'pauses');
      await waitFor(() => scaler.server.stats().ingest.collectorsConnected === 1, 'connected');
      const changes = 40;
      for (let i = 200; i < 200 + changes; i++) await isActive(scaler, { port: ports(i), netns, targetValue: '1' });
      const generations = new Set<number>();
      paused.resume((m) => {
        if (m.watch_set) generations.add(Number(m.watch_set.generation));
      });
      await waitFor(() => generations.has(scaler.server.registry.generation), 'the newest generation', 10_000);
      console.log(`attack 3: a paused collector missed ${changes} changes and then received ${generations.size} generations (${[...generations].join(',')})`);
      assert.ok(generations.size <= 3, `coalesced: ${generations.size} generations`);
      paused.close();
    } finally {
      await scaler.close();
    }
  });
});

describe('attack 6: a watch set larger than the gRPC message limit', () => {
  let scaler: TestScaler;
  before(async () => {
    scaler = await startTestScaler();
  });
  after(() => scaler.close());

  it('reaches the real collector stream client in parts; targets added later are observed too', async () => {
    const netns = `/run/netns/${'x'.repeat(3990)}`;
    const ports = (i: number) => Array.from({ length: 64 }, (_, k) => String(30_000 + i * 64 + k)).join(',');
    for (let i = 0; i < 20; i++) await isActive(scaler, { port: ports(i), netns, targetValue: '1' });
    let seen = 0;
    const client = new CollectorStreamClient({
      scalers: scaler.ingestAddress,
      nodeName: 'node-big',
      version: 'test',
      hookRung: 'tp_btf',
      capabilities: [],
      logger: createLogger('silent'),
      metadata: () => bearerMetadata(TEST_COLLECTOR_TOKEN),
      onWatchSet: (targets) => (seen = targets.length),
    });
    await client.start();
    await waitFor(() => seen === 20, '20 targets (a ~5.2 MB watch set)', 10_000);
    await isActive(scaler, { port: ports(20), netns, targetValue: '1' });
    await waitFor(() => seen === 21, 'the target added later', 10_000);
    const status = client.scalers()[0]!;
    console.log(`attack 6: 21 targets x 64 ports x 4000-char netns reached the collector; connects ${status.connects}, problem ${status.watchSetProblem ?? 'none'}`);
    assert.equal(status.connects, 1, 'no reconnect loop');
    assert.equal(status.watchSetProblem, undefined);
    await client.close();
  });
});

describe('attack 7: clocks', () => {
  it('scaler wall clock stepped -120 s and +120 s: no report is late or doubled (monotonic stream offsets)', async () => {
    // The default clock (monotonic); Date.now is stepped for everything in this process,
    // the collector client included: only the wall-clock field of reports moves.
    const scaler = await startTestScaler({ clock: undefined });
    const realNow = Date.now;
    let step = 0;
    Date.now = () => realNow() + step;
    try {
      const md = { port: '7301', targetValue: '1', metric: 'rps', window: '2s' };
      const id = idOf(await specName(scaler, md));
      const client = new CollectorStreamClient({
        scalers: scaler.ingestAddress,
        nodeName: 'node-clock',
        version: 'test',
        hookRung: 'tp_btf',
        capabilities: [],
        logger: createLogger('silent'),
        metadata: () => bearerMetadata(TEST_COLLECTOR_TOKEN),
      });
      await client.start();
      await waitFor(() => client.scalers()[0]?.state === 'ready', 'connected');
      const samples: Record<string, number[]> = { before: [], back: [], forward: [] };
      const tick = (): void => {
        client.send({ endUnixMs: Date.now(), intervalMs: 100, wakeup: false, targets: [{ targetId: id, requests: 10, latencySumUs: 10_000, inFlight: 0, acceptedConnections: 0, demandAttempts: 0, demandRefused: 0, buckets: { indices: [], counts: [] } }] });
      };
      const timer = setInterval(tick, 100);
      try {
        for (const [phase, offset] of [['before', 0], ['back', -120_000], ['forward', 120_000]] as const) {
          step = offset;
          await sleep(2300);
          for (let i = 0; i < 5; i++) {
            samples[phase]!.push(Math.round(await metric(scaler, md)));
            await sleep(150);
          }
        }
      } finally {
        clearInterval(timer);
      }
      await client.close();
      const stats = scaler.server.stats();
      console.log(`attack 7: rps (100/s sent) before ${samples.before!.join(',')}; wall clock -120 s ${samples.back!.join(',')}; +120 s ${samples.forward!.join(',')}; droppedLate ${stats.store.droppedLateDeltas}`);
      for (const v of Object.values(samples).flat()) assert.ok(v >= 75 && v <= 125, `rps ${v} stays ~100 through the steps`);
      assert.equal(stats.store.droppedLateDeltas, 0);
    } finally {
      Date.now = realNow;
      await scaler.close();
    }
  });

  it('a collector 70 s behind loses nothing; one without monotonic times is corrected loudly (counted), not dropped', async () => {
    const scaler = await startTestScaler({ clock: undefined });
    try {
      const id = idOf(await specName(scaler, { port: '7302', targetValue: '1', metric: 'rps', window: '10s' }));
      const behind = Date.now() - 70_000;
      const withOffsets = await connectCollector(scaler.ingestAddress, hello({ collector_id: 'late-1', node_name: 'late-a', monotonic_ms: 5000 }));
      withOffsets.send({ ...report(1, [deltaFromLatencies(id, Array(50).fill(1000))], behind), end_monotonic_ms: 5000 });
      const legacy = await connectCollector(scaler.ingestAddress, hello({ collector_id: 'late-2', node_name: 'late-b' }));
      legacy.send(report(1, [deltaFromLatencies(id, Array(50).fill(1000))], behind));
      await waitFor(() => scaler.server.stats().ingest.deltasAccepted >= 2, 'both reports');
      const merged = requestsIn(scaler, id);
      const stats = scaler.server.stats();
      console.log(`attack 7: two collectors 70 s behind, 50 requests each: requests in the 10 s window ${merged}, clockSkewCorrected ${stats.ingest.clockSkewCorrected}, droppedLate ${stats.store.droppedLateDeltas}`);
      assert.equal(merged, 100, 'both reports are in the current window');
      assert.equal(stats.ingest.clockSkewCorrected, 1);
      assert.equal(stats.store.droppedLateDeltas, 0);
      withOffsets.close();
      legacy.close();
    } finally {
      await scaler.close();
    }
  });
});

describe('attack 12: absurd numbers', () => {
  let scaler: TestScaler;
  before(async () => {
    scaler = await startTestScaler();
  });
  after(() => scaler.close());

  it('targetValue=1e308 is refused naming the key (no int64 targetSize of 9.2e18)', async () => {
    const err = await callError((cb) => scaler.client.GetMetricSpec(ref({ port: '7401', targetValue: '1e308' }), cb));
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
    assert.match(err.details, /targetValue/);
    const ok = await unaryCall<{ metricSpecs: { targetSize: number | string }[] }>((cb) => scaler.client.GetMetricSpec(ref({ port: '7401', targetValue: '1e9' }), cb));
    assert.equal(Number(ok.metricSpecs[0]!.targetSize), 1e9);
  });

  it('sequence 2^53-1 does not wedge the collector: its later reports are merged', async () => {
    const md = { port: '7402', targetValue: '1', metric: 'rps', window: '10s' };
    const id = idOf(await specName(scaler, md));
    const c = await connectCollector(scaler.ingestAddress, hello({ collector_id: 'seq', node_name: 'node-seq' }));
    c.send(report(2 ** 53 - 1, [deltaFromLatencies(id, Array(10).fill(1000))]));
    c.send(report(1, [deltaFromLatencies(id, Array(10).fill(1000))]));
    c.send(report(2, [deltaFromLatencies(id, Array(10).fill(1000))]));
    c.send(report(2, [deltaFromLatencies(id, Array(10).fill(1000))]));
    await waitFor(() => scaler.server.stats().ingest.reportsAccepted + scaler.server.stats().ingest.reportsDuplicate >= 4, 'four reports');
    const stats = scaler.server.stats().ingest;
    const merged = requestsIn(scaler, id);
    console.log(`attack 12: after 2^53-1: accepted ${stats.reportsAccepted}, duplicate ${stats.reportsDuplicate}, sequenceResets ${stats.sequenceResets}, requests merged ${merged}`);
    assert.equal(stats.reportsAccepted, 3);
    assert.equal(stats.reportsDuplicate, 1, 'a true resend is still a duplicate');
    assert.equal(stats.sequenceResets, 1);
    assert.equal(merged, 30, 'three reports of 10 requests');
    c.close();
  });

  it('one target id repeated 1000 times in a report counts once', async () => {
    const md = { port: '7403', targetValue: '1', metric: 'rps', window: '10s' };
    const id = idOf(await specName(scaler, md));
    const c = await connectCollector(scaler.ingestAddress, hello({ collector_id: 'dup', node_name: 'node-dup' }));
    c.send(report(1, Array.from({ length: 1000 }, () => deltaFromLatencies(id, Array(10).fill(1000)))));
    await waitFor(() => (scaler.server.stats().ingest.rejectedByReason['duplicate-target'] ?? 0) >= 999, 'duplicates refused');
    assert.equal(requestsIn(scaler, id), 10, '10 requests, not 10,000');
    c.close();
  });
});
