import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { afterEach, test } from 'node:test';
import type { CollectorTick } from '../../src/collector/types.js';
import { createLogger } from '../../src/log.js';
import { CollectorStreamClient, type CollectorStreamClientOptions } from '../../src/stream/collector-client.js';
import type { ReceivedWatchTarget } from '../../src/stream/watch-target.js';
import { RecordingIngestServer, waitFor } from '../helpers/stream-ingest-server.js';

/** Log lines the client wrote, parsed. */
interface LogLine {
  msg: string;
  level: number;
  retryInMs?: number;
  attempt?: number;
}
class LogCapture extends Writable {
  readonly lines: LogLine[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    for (const line of chunk.toString().split('\n')) if (line.trim()) this.lines.push(JSON.parse(line) as LogLine);
    done();
  }
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function server(options: Parameters<typeof RecordingIngestServer.start>[0] = {}): Promise<RecordingIngestServer> {
  const s = await RecordingIngestServer.start(options);
  cleanups.push(() => s.stop());
  return s;
}

function client(scalers: string, extra: Partial<CollectorStreamClientOptions> = {}): { c: CollectorStreamClient; logs: LogCapture } {
  const logs = new LogCapture();
  const c = new CollectorStreamClient({
    scalers,
    nodeName: 'node-a',
    version: '0.1.0-test',
    hookRung: 'tp_btf',
    capabilities: ['ipv6', 'demand', 'ringbuf-wakeup'],
    logger: createLogger('debug', logs),
    backoff: { initialMs: 50, maxMs: 400 },
    ...extra,
  });
  cleanups.push(() => c.close());
  return { c, logs };
}

function tick(requests: number, wakeup = false): CollectorTick {
  return {
    endUnixMs: Date.now(),
    intervalMs: 250,
    wakeup,
    targets: [
      {
        targetId: 'default/web',
        requests,
        latencySumUs: requests * 1500,
        inFlight: 1,
        acceptedConnections: requests,
        demandAttempts: 0,
        demandRefused: 0,
        buckets: { indices: [100], counts: [requests] },
      },
    ],
  };
}

const ready = (c: CollectorStreamClient, n: number) => () => c.scalers().filter((s) => s.state === 'ready').length === n;

const watchTarget = (id: string, port: number) => ({ target_id: id, servers: [{ port }], demand_addresses: [`127.0.0.1:${port}`] });

test('hello carries node, a per-process collector id, version, hook rung and capabilities (recording ingest server)', async () => {
  const s = await server();
  const { c } = client(s.address);
  await c.start();
  await waitFor(() => s.streams.length === 1, 'hello');
  const hello = s.streams[0]!.hello;
  assert.equal(hello.protocol_version, 1);
  assert.equal(hello.node_name, 'node-a');
  assert.match(hello.collector_id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(hello.collector_id, c.collectorId);
  assert.equal(hello.version, '0.1.0-test');
  assert.equal(hello.hook_rung, 'tp_btf');
  assert.deepEqual(hello.capabilities, ['ipv6', 'demand', 'ringbuf-wakeup']);
  const other = client(s.address).c;
  assert.notEqual(other.collectorId, c.collectorId, 'every client instance (process start) gets a new id');
});

test('the collector observes the union of both scalers watch sets, deduped by target id (recording ingest server)', async () => {
  const a = await server({ watchTargets: [watchTarget('t-a', 8080), watchTarget('t-shared', 9000)] });
  const b = await server({ watchTargets: [watchTarget('t-shared', 9000), watchTarget('t-b', 8081)] });
  const seen: string[][] = [];
  const { c } = client(`${a.address},${b.address}`, {
    onWatchSet: (targets: readonly ReceivedWatchTarget[]) => seen.push(targets.map((t) => t.targetId)),
  });
  await c.start();
  await waitFor(() => c.watchTargets.length === 3, 'union of 3 targets');
  assert.deepEqual(c.watchTargets.map((t) => t.targetId), ['t-a', 't-b', 't-shared']);
  assert.deepEqual(c.watchTargets[0], { targetId: 't-a', servers: [{ port: 8080 }], demand: [{ ip: '127.0.0.1', port: 8080 }] });

  // b drops t-b and adds t-c; t-shared stays because a still wants it.
  const callbacks = seen.length;
  b.pushWatchSet([watchTarget('t-c', 8082)]);
  await waitFor(() => c.watchTargets.some((t) => t.targetId === 't-c'), 't-c');
  assert.deepEqual(c.watchTargets.map((t) => t.targetId), ['t-a', 't-c', 't-shared']);
  assert.deepEqual(seen.at(-1), ['t-a', 't-c', 't-shared']);
  // Pushing the same set again is no change: no callback.
  const after = seen.length;
  assert.ok(after > callbacks);
  b.pushWatchSet([watchTarget('t-c', 8082)]);
  a.pushWatchSet([watchTarget('t-shared', 9000), watchTarget('t-a', 8080)]);
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(seen.length, after);
});

test('every report goes to both scalers with consecutive sequence numbers, without a log line per report (recording ingest server)', async () => {
  const a = await server();
  const b = await server();
  const { c, logs } = client(`${a.address},${b.address}`);
  // Reports made before any scaler answered wait in the backlog and go out after Welcome.
  assert.equal(c.send(tick(1)), 1);
  assert.equal(c.send(tick(2)), 2);
  await c.start();
  await waitFor(ready(c, 2), 'both scalers ready');
  const logLinesBefore = logs.lines.length; // debug level: would show any per-report line
  const sequences: number[] = [];
  for (let i = 3; i <= 50; i++) sequences.push(c.send(tick(i)));
  assert.deepEqual(sequences, Array.from({ length: 48 }, (_, i) => i + 3));
  await waitFor(() => a.reports.length === 50 && b.reports.length === 50, '50 reports at each scaler');
  const expected = Array.from({ length: 50 }, (_, i) => i + 1);
  assert.deepEqual(a.sequences, expected);
  assert.deepEqual(b.sequences, expected);
  assert.deepEqual(a.reports, b.reports, 'identical reports at both scalers');
  const r7 = a.reports[6]!;
  assert.equal(r7.interval_ms, 250);
  assert.deepEqual(r7.targets[0], {
    target_id: 'default/web',
    requests: 7,
    latency_sum_us: 10500,
    in_flight: 1,
    accepted_connections: 7,
    demand_attempts: 0,
    demand_refused: 0,
    bucket_index: [100],
    bucket_count: [7],
    listeners: 0,
    held_connections: 0,
    released_connections: 0,
    timed_out_connections: 0,
    listen_syn_drops: 0,
    listen_ack_drops: 0,
    listen_syns: 0,
    accept_queue_sum: 0,
    accept_backlog: 0,
    h2c_connections: 0,
    tls_connections: 0,
    tls_h2_connections: 0,
    h2_streams_over_limit: 0,
    framing_lost: 0,
    interim_responses: 0,
  });
  assert.equal(logs.lines.length, logLinesBefore, 'no log line per report');

  // A wake-up report is written at once, not at the next tick.
  const t0 = performance.now();
  c.send(tick(0, true));
  await waitFor(() => a.reports.length === 51 && b.reports.length === 51, 'wake-up report', 1000);
  const wakeMs = performance.now() - t0;
  assert.equal(a.reports[50]!.wakeup, true);
  assert.ok(wakeMs < 100, `wake-up report took ${wakeMs.toFixed(1)} ms`);
  console.log(`# wake-up report send -> both scalers received: ${wakeMs.toFixed(1)} ms`);
});

test('scaler restart on the same port: reconnect with backoff, resend exactly what it lacks (recording ingest server)', async () => {
  const first = await server();
  const { port } = first;
  const { c, logs } = client(first.address);
  await c.start();
  for (let i = 1; i <= 5; i++) c.send(tick(i));
  await waitFor(() => first.reports.length === 5, 'first 5 reports');

  first.stop();
  await waitFor(() => c.scalers()[0]!.state !== 'ready', 'client notices the loss');
  for (let i = 6; i <= 9; i++) c.send(tick(i)); // produced while the scaler is down
  await new Promise((r) => setTimeout(r, 300)); // a few failed attempts against a closed port

  // The new instance says it has merged up to 7 (e.g. 6 and 7 arrived before the crash).
  const t0 = performance.now();
  const second = await server({ port, lastSequence: 7 });
  await waitFor(ready(c, 1), 'reconnected', 5000);
  const reconnectMs = performance.now() - t0;
  await waitFor(() => second.reports.length === 2, 'resent reports');
  assert.deepEqual(second.sequences, [8, 9], 'exactly the reports after Welcome.last_sequence');
  c.send(tick(10));
  await waitFor(() => second.reports.length === 3, 'live report after resend');
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(second.sequences, [8, 9, 10], 'nothing twice');
  const status = c.scalers()[0]!;
  assert.equal(status.connects, 2);
  assert.equal(status.lastResent, 2);
  assert.equal(status.reportsLost, 0);
  assert.ok(reconnectMs < 1000, `reconnect took ${reconnectMs.toFixed(0)} ms (backoff capped at 400 ms here)`);
  // Each retry waited a jittered delay under its exponential ceiling (50 ms doubling, cap 400).
  const retries = logs.lines.filter((l) => l.retryInMs !== undefined);
  assert.ok(retries.length >= 2, `expected several attempts while the scaler was down, saw ${retries.length}`);
  for (const r of retries) assert.ok(r.retryInMs! <= Math.min(400, 50 * 2 ** (r.attempt! - 1)), JSON.stringify(r));
  console.log(`# reconnect after scaler restart: ${reconnectMs.toFixed(0)} ms`);
});

test('a stream broken without a restart resumes without duplicates (recording ingest server)', async () => {
  const s = await server(); // answers last_sequence from what it has merged
  const { c } = client(s.address);
  await c.start();
  for (let i = 1; i <= 4; i++) c.send(tick(i));
  await waitFor(() => s.reports.length === 4, '4 reports');
  s.breakStreams();
  await waitFor(() => c.scalers()[0]!.connects === 2, 'second stream', 5000);
  for (let i = 5; i <= 6; i++) c.send(tick(i));
  await waitFor(() => s.reports.length === 6, '6 reports');
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(s.sequences, [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(s.streams.map((st) => st.reports.length), [4, 2]);
});

test('the backlog is bounded: an outage longer than it loses the oldest reports and says so (recording ingest server)', async () => {
  const first = await server();
  const { c, logs } = client(first.address, { backlog: { maxReports: 3 } });
  await c.start();
  c.send(tick(1));
  c.send(tick(2));
  await waitFor(() => first.reports.length === 2, '2 reports');
  first.stop();
  await waitFor(() => c.scalers()[0]!.state !== 'ready', 'loss noticed');
  for (let i = 3; i <= 10; i++) c.send(tick(i));
  assert.equal(c.backlogSize, 3);
  const second = await server({ port: first.port, lastSequence: 2 });
  await waitFor(() => second.reports.length === 3, 'backlog resent', 5000);
  assert.deepEqual(second.sequences, [8, 9, 10]);
  assert.equal(c.scalers()[0]!.reportsLost, 5);
  assert.ok(logs.lines.some((l) => l.level === 40 && /no longer in the backlog/.test(l.msg)), 'gap is logged');
});

test('a DNS name with two addresses is two scalers; re-resolution follows replicas (recording ingest server)', async () => {
  const a = await server({ host: '127.0.0.1', watchTargets: [watchTarget('t-a', 8080)] });
  const b = await server({ host: '127.0.0.2', port: a.port, watchTargets: [watchTarget('t-b', 8081)] });
  let addresses = ['127.0.0.1', '127.0.0.2'];
  const asked: string[] = [];
  const { c } = client(`scaler-headless.keda.svc:${a.port}`, {
    resolve: async (name) => {
      asked.push(name);
      return addresses;
    },
  });
  await c.start();
  assert.deepEqual(asked, ['scaler-headless.keda.svc']);
  await waitFor(ready(c, 2), 'two scalers from one name');
  assert.deepEqual(
    c.scalers().map((s) => [s.key, s.hostname]),
    [
      [`127.0.0.1:${a.port}`, 'scaler-headless.keda.svc'],
      [`127.0.0.2:${a.port}`, 'scaler-headless.keda.svc'],
    ],
  );
  c.send(tick(1));
  await waitFor(() => a.reports.length === 1 && b.reports.length === 1, 'report at both');
  await waitFor(() => c.watchTargets.length === 2, 'union');

  // The replica at 127.0.0.2 goes away from DNS: its stream ends cleanly and its targets go.
  addresses = ['127.0.0.1'];
  await c.refreshEndpoints();
  assert.deepEqual(c.scalers().map((s) => s.key), [`127.0.0.1:${a.port}`]);
  await waitFor(() => b.streams[0]!.ended, 'stream to the removed replica ended');
  assert.deepEqual(c.watchTargets.map((t) => t.targetId), ['t-a']);

  // A failed resolution keeps what we had.
  addresses = [];
  await c.refreshEndpoints();
  assert.equal(c.scalers().length, 1);
});

test('periodic re-resolution picks up a new replica without a call (recording ingest server)', async () => {
  const a = await server({ host: '127.0.0.1' });
  let addresses = ['127.0.0.1'];
  const { c } = client(`scalers:${a.port}`, { resolve: async () => addresses, reresolveIntervalMs: 100 });
  await c.start();
  await waitFor(ready(c, 1), 'first replica');
  const b = await server({ host: '127.0.0.2', port: a.port });
  addresses = ['127.0.0.1', '127.0.0.2'];
  await waitFor(ready(c, 2), 'second replica found by re-resolution', 3000);
  c.send(tick(1));
  await waitFor(() => b.reports.length === 1, 'report at the new replica');
});

test('close() half-closes every stream and the scalers end them with OK (recording ingest server)', async () => {
  const a = await server();
  const b = await server();
  const { c } = client(`${a.address},${b.address}`);
  await c.start();
  await waitFor(ready(c, 2), 'ready');
  await c.close();
  assert.ok(a.streams[0]!.ended && b.streams[0]!.ended);
  assert.ok(c.scalers().length === 0);
  assert.throws(() => c.send(tick(1)), /closed/);
});

test('backoff keeps growing across a flapping scaler and restarts after a stable stream (recording ingest server)', async () => {
  const attemptsAfterBreaks = async (stableMs: number): Promise<number[]> => {
    const s = await server();
    const { c, logs } = client(s.address, { stableMs });
    await c.start();
    for (let n = 1; n <= 3; n++) {
      await waitFor(() => c.scalers()[0]!.connects === n && c.scalers()[0]!.state === 'ready', `stream ${n}`, 5000);
      s.breakStreams();
      await waitFor(() => logs.lines.filter((l) => l.msg === 'scaler stream ended; reconnecting').length === n, `break ${n} seen`);
    }
    return logs.lines.filter((l) => l.msg === 'scaler stream ended; reconnecting').map((l) => l.attempt!);
  };
  assert.deepEqual(await attemptsAfterBreaks(60_000), [1, 2, 3], 'streams that die young do not reset the backoff');
  assert.deepEqual(await attemptsAfterBreaks(0), [1, 1, 1], 'a stable stream resets it');
});

test('a scaler that never answers Welcome gets no reports and is retried (recording ingest server)', async () => {
  const s = await server({ noWelcome: true });
  const { c } = client(s.address, { welcomeTimeoutMs: 150 });
  await c.start();
  c.send(tick(1));
  await waitFor(() => s.streams.length >= 2, 'a second attempt after the Welcome timeout', 3000);
  assert.equal(s.reports.length, 0, 'reports wait for Welcome.last_sequence');
  assert.equal(c.scalers()[0]!.connects, 0);
});
