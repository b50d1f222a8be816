import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { programRunStats } from '../../src/bpf/prog-stats.js';
import { CollectorCore } from '../../src/collector/core.js';
import type { TargetDelta } from '../../src/collector/types.js';
import { Histogram } from '../../src/histogram/histogram.js';
import { createLogger } from '../../src/log.js';
import { createNetns, type TestNetns } from '../../test/helpers/netns.js';
import { listenCounters } from '../../test/helpers/netstat.js';
import { DEBIAN_PYTHON, runGrpcClient, runHttpClient, startGrpcServer, startNginx, type NginxServer } from '../../test/helpers/protocol-workloads.js';
import { waitReady } from '../../test/helpers/child-ready.js';
import { quantile, round, sleep } from '../lib/stats.js';
import type { CaseContext, CaseNotes } from '../lib/types.js';
import { runWrk } from '../lib/wrk.js';
import { wrkStatsCorrect } from '../lib/wrk-correction.js';

/**
 * Case 3: the kernel's request timing against ground truth, per protocol. Every row runs a
 * real server and a bounded client in a network namespace of its own, with the collector
 * core watching the server's port, and compares the histogram delta over exactly that run
 * with a client that records every request (or nginx's access log, `$request_time`):
 * p50, p90 and request count, each with its error. Rows: HTTP/1 keep-alive with mixed
 * delays (recording client; and wrk, whose own percentiles are shown beside nginx's log
 * and that log put through wrk's correction), gRPC with 1 and 16 concurrent streams on one
 * connection (python3-grpcio), TLS 1.3 keep-alive, TLS 1.3 and 1.2 with a new connection
 * per request (nginx ssl, a certificate made at run time), `Expect: 100-continue`, and a
 * listen(8) server past 100 % load (its dropped connection attempts against nstat).
 * docs/accuracy.md is rendered from these rows (bench/lib/accuracy-doc.ts).
 */

interface Figures {
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly count: number;
}

export interface AccuracyRow {
  readonly case: string;
  /** Where the reference figures come from. */
  readonly truth: 'client' | "client, from the request's send" | 'nginx $request_time';
  readonly kernel: Figures;
  readonly reference: Figures;
  readonly errorPct: { readonly p50: number; readonly p90: number; readonly count: number };
  /** How the kernel times this case and, when it is off, why. */
  readonly mechanism: string;
  readonly extra?: Readonly<Record<string, string | number>>;
  /** A documented limit, measured and shown but not held to the goal. */
  readonly limit?: true;
}

const HOST = '127.0.0.1';
const PORTS = { http: 8091, tls: 8443, grpc: 50051, listen: 8100 } as const;
const STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';

/** Mechanisms: how each case is timed today, and the cause when it misses the goal (issue 11). */
const TURN_TAKING = 'turn-taking: a request starts when bytes arrive on an idle connection and ends at the first byte sent back';
const MECHANISMS: Record<string, { readonly how: string; readonly whenOff: string }> = {
  http1: { how: `${TURN_TAKING}; HTTP/1 keep-alive is exactly one turn per request`, whenOff: 'unexpected for HTTP/1 turn-taking: check the run notes for load on the machine' },
  wrk: {
    how: `${TURN_TAKING}; the truth is nginx's log, wrk's own figures are shown for contrast`,
    whenOff: "unexpected: the kernel should match nginx's log here; wrk's own percentiles are expected to be off",
  },
  grpc1: {
    how: `${TURN_TAKING}, or per HTTP/2 stream where the protocol-framing programs are loaded`,
    whenOff: "HTTP/2 under turn-taking: the server's BDP PING and SETTINGS / WINDOW_UPDATE frames start or end \"requests\"",
  },
  grpc16: {
    how: `${TURN_TAKING}, or per HTTP/2 stream where the protocol-framing programs are loaded`,
    whenOff: 'HTTP/2 under turn-taking: with 16 streams in flight on one connection every frame is a "request" or "response"; the samples are the gaps between frames',
  },
  tlsKeepalive: { how: `${TURN_TAKING}; one TLS application-data flight each way per request`, whenOff: 'TLS 1.3 session tickets after the handshake make extra turns' },
  tlsNew: {
    how: `${TURN_TAKING}, or TLS-record aware where the protocol-framing programs are loaded`,
    whenOff: 'handshake flights (ClientHello / ServerHello, Finished, session tickets) are timed as requests, so the count is several times the truth and p50 far too low',
  },
  expect100: {
    how: `${TURN_TAKING}, HTTP/1 interim-response aware (tp_btf: where the protocol-framing programs are loaded; fentry, kprobe: in the send hook)`,
    whenOff: 'the interim `100 Continue` ends the request; the body and the final response make a second, short "request"',
  },
  pipeline: {
    how: `${TURN_TAKING}: a batch of pipelined requests is one turn, so one sample from the batch's arrival to the first response (a documented limit, README "Where a request begins and ends")`,
    whenOff: 'pipelined requests are not split: the count is one per batch and the sample is the first request\'s latency',
  },
  overflow: {
    how:
      "a request is timed from its bytes' arrival, queueing in the accept queue included, so it matches the client's time from its send; the wait before (a dropped SYN retried after 1 s, 3 s, ...; the client's figures from connect() are beside) is no server-side latency: the drops are counted per target instead (bpf/listen_overflow.bpf.c; dropped vs nstat below) and added to rps",
    whenOff: "the request's bytes reached the server later than the client's send (a dropped handshake ACK or data segment retransmitted), a wait only the client sees",
  },
};

function figures(latenciesUs: readonly number[]): Figures {
  return { p50Ms: quantile(latenciesUs, 0.5) / 1000, p90Ms: quantile(latenciesUs, 0.9) / 1000, count: latenciesUs.length };
}

function kernelFigures(delta: TargetDelta | undefined): Figures {
  const h = new Histogram();
  if (delta) h.addSparse(delta.buckets);
  return { p50Ms: h.total ? h.quantileUs(0.5) / 1000 : Number.NaN, p90Ms: h.total ? h.quantileUs(0.9) / 1000 : Number.NaN, count: h.total };
}

function kernelP99(delta: TargetDelta | undefined): number {
  const h = new Histogram();
  if (delta) h.addSparse(delta.buckets);
  return h.total ? h.quantileUs(0.99) / 1000 : Number.NaN;
}

const errorOf = (kernel: number, truth: number): number => round(((kernel - truth) / truth) * 100, 2);

function row(name: string, truth: AccuracyRow['truth'], mechanism: keyof typeof MECHANISMS, kernel: Figures, reference: Figures, extra?: Record<string, string | number>): AccuracyRow {
  const errorPct = { p50: errorOf(kernel.p50Ms, reference.p50Ms), p90: errorOf(kernel.p90Ms, reference.p90Ms), count: errorOf(kernel.count, reference.count) };
  const within = Math.abs(errorPct.p50) <= 5 && Math.abs(errorPct.p90) <= 5 && Math.abs(errorPct.count) <= 2;
  const m = MECHANISMS[mechanism]!;
  const r3 = (f: Figures): Figures => ({ p50Ms: round(f.p50Ms, 3), p90Ms: round(f.p90Ms, 3), count: f.count });
  return { case: name, truth, kernel: r3(kernel), reference: r3(reference), errorPct, mechanism: within ? m.how : `${m.how}. Off here: ${m.whenOff}`, ...(extra ? { extra } : {}) };
}

/** The collector's histogram delta for `targetId` over exactly `body`. */
async function measured<T>(core: CollectorCore, targetId: string, body: () => Promise<T>): Promise<{ result: T; delta: TargetDelta | undefined }> {
  core.readTick();
  const result = await body();
  await sleep(100);
  const delta = core.readTick().targets.find((t) => t.targetId === targetId);
  return { result, delta };
}

/** Access-log lines written since `from` (nginx appends one per request). */
function logSince(nginx: NginxServer, from: number): number[] {
  return nginx.requestTimesUs().slice(from);
}

async function startSlowAcceptServer(ns: TestNetns): Promise<ReturnType<TestNetns['spawn']>> {
  const child = ns.spawn(DEBIAN_PYTHON, [path.resolve('test/helpers/slow-accept-server.py'), HOST, String(PORTS.listen), '8', '5', '300']);
  await waitReady(child, 'slow-accept server');
  return child;
}

export async function accuracy(ctx: CaseContext): Promise<{ rows: AccuracyRow[]; notes: CaseNotes }> {
  const n = ctx.quick ? 80 : 300;
  const wrkSeconds = ctx.quick ? 3 : 10;
  const wrkConnections = 32;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kes-bench-acc-'));
  const ns = createNetns('bench-acc');
  let core: CollectorCore | undefined;
  const nginxes: NginxServer[] = [];
  const statsBefore = fs.readFileSync(STATS_SYSCTL, 'utf8').trim();
  try {
    const plain = await startNginx(ns, HOST, PORTS.http, { tls: false });
    nginxes.push(plain);
    const tls = await startNginx(ns, HOST, PORTS.tls, { tls: true });
    nginxes.push(tls);
    await startGrpcServer(ns, HOST, PORTS.grpc);
    core = CollectorCore.open({ logger: createLogger('warn') });
    core.applyWatchSet(Object.entries(PORTS).map(([targetId, port]) => ({ targetId, servers: [{ port, netnsInode: ns.inode }], demand: [] })));
    const rows: AccuracyRow[] = [];
    const add = (r: AccuracyRow): void => {
      rows.push(r);
      ctx.log(
        `accuracy ${r.case}: kernel p50 ${r.kernel.p50Ms} / p90 ${r.kernel.p90Ms} ms / ${r.kernel.count} vs ${r.truth} ${r.reference.p50Ms} / ${r.reference.p90Ms} ms / ${r.reference.count}; ` +
          `error ${r.errorPct.p50} % / ${r.errorPct.p90} % / count ${r.errorPct.count} %`,
      );
    };
    const mixed = { minMs: 5, maxMs: 80, seed: 11 };

    // HTTP/1 keep-alive, mixed delays, a client recording every request; nginx's log beside it.
    let logFrom = plain.requestTimesUs().length;
    const http1 = await measured(core, 'http', () => runHttpClient(ns, HOST, PORTS.http, { requests: n, delays: mixed, tls: 'none', connection: 'keepalive', deadlineS: 60 }));
    const http1Log = figures(logSince(plain, logFrom));
    add(row('HTTP/1 keep-alive, delays 5-80 ms', 'client', 'http1', kernelFigures(http1.delta), figures(http1.result.latenciesUs), { nginxLogP50Ms: http1Log.p50Ms, nginxLogP90Ms: http1Log.p90Ms, nginxLogCount: http1Log.count }));

    // wrk with a log-uniform mix: truth is nginx's log; wrk's percentiles and the log through wrk's correction beside it.
    const mix = path.join(dir, 'mix.lua');
    fs.writeFileSync(mix, 'math.randomseed(7)\nrequest = function()\n  local t = 0.005 * math.exp(math.random() * math.log(16))\n  return wrk.format(nil, "/?d=" .. string.format("%.3f", t))\nend\n');
    logFrom = plain.requestTimesUs().length;
    const wrk = await measured(core, 'http', () => runWrk(ns, { url: `http://${HOST}:${PORTS.http}/`, seconds: wrkSeconds, connections: wrkConnections, script: mix }));
    const wrkLog = logSince(plain, logFrom);
    const corrected = wrkStatsCorrect(wrkLog, wrkSeconds * 1e6, wrkConnections);
    add(
      row(`HTTP/1 keep-alive via wrk (${wrkConnections} connections, log-uniform 5-80 ms)`, 'nginx $request_time', 'wrk', kernelFigures(wrk.delta), figures(wrkLog), {
        wrkP50Ms: wrk.result.p50Ms,
        wrkP90Ms: wrk.result.p90Ms,
        wrkRequests: wrk.result.requests,
        nginxLogThroughWrkCorrectionP50Ms: round(quantile(corrected, 0.5) / 1000, 3),
        nginxLogThroughWrkCorrectionP90Ms: round(quantile(corrected, 0.9) / 1000, 3),
      }),
    );

    // gRPC (h2c), one connection: 1 stream, then 16 concurrent streams.
    const grpcDelays = { minMs: 5, maxMs: 40, seed: 12 };
    const grpc1 = await measured(core, 'grpc', () => runGrpcClient(ns, HOST, PORTS.grpc, { requests: n, streams: 1, delays: grpcDelays, deadlineS: 60 }));
    add(row('gRPC unary, 1 stream, delays 5-40 ms', 'client', 'grpc1', kernelFigures(grpc1.delta), figures(grpc1.result.latenciesUs)));
    const grpc16 = await measured(core, 'grpc', () => runGrpcClient(ns, HOST, PORTS.grpc, { requests: n * 4, streams: 16, delays: grpcDelays, deadlineS: 60 }));
    add(row('gRPC unary, 16 concurrent streams on one connection, delays 5-40 ms', 'client', 'grpc16', kernelFigures(grpc16.delta), figures(grpc16.result.latenciesUs)));

    // TLS: keep-alive, then a new connection (full handshake) per request.
    const tlsDelays = { minMs: 5, maxMs: 40, seed: 13 };
    const tls13ka = await measured(core, 'tls', () => runHttpClient(ns, HOST, PORTS.tls, { requests: n, delays: tlsDelays, tls: '1.3', connection: 'keepalive', alpn: ['http/1.1'], deadlineS: 60 }));
    add(row('TLS 1.3 keep-alive (HTTP/1.1), delays 5-40 ms', 'client', 'tlsKeepalive', kernelFigures(tls13ka.delta), figures(tls13ka.result.latenciesUs)));
    const tls13new = await measured(core, 'tls', () => runHttpClient(ns, HOST, PORTS.tls, { requests: n, delays: tlsDelays, tls: '1.3', connection: 'new', alpn: ['http/1.1'], deadlineS: 90 }));
    add(row('TLS 1.3, new connection per request, delays 5-40 ms', 'client', 'tlsNew', kernelFigures(tls13new.delta), figures(tls13new.result.latenciesUs)));
    const tls12new = await measured(core, 'tls', () => runHttpClient(ns, HOST, PORTS.tls, { requests: n, delays: tlsDelays, tls: '1.2', connection: 'new', alpn: ['http/1.1'], deadlineS: 90 }));
    add(row('TLS 1.2, new connection per request, delays 5-40 ms', 'client', 'tlsNew', kernelFigures(tls12new.delta), figures(tls12new.result.latenciesUs)));

    // Expect: 100-continue uploads on one keep-alive connection.
    const expect = await measured(core, 'http', () => runHttpClient(ns, HOST, PORTS.http, { requests: n, delays: tlsDelays, tls: 'none', connection: 'keepalive', expectContinue: true, deadlineS: 60 }));
    add(row('HTTP/1 POST with Expect: 100-continue, delays 5-40 ms', 'client', 'expect100', kernelFigures(expect.delta), figures(expect.result.latenciesUs)));

    // HTTP/1 pipelining, 4 GETs per write on one keep-alive connection: measured, a documented limit.
    const piped = await measured(core, 'http', () => runHttpClient(ns, HOST, PORTS.http, { requests: n, delays: tlsDelays, tls: 'none', connection: 'keepalive', pipeline: 4, deadlineS: 60 }));
    add({ ...row('HTTP/1 keep-alive, 4 pipelined GETs per write, delays 5-40 ms', 'client', 'pipeline', kernelFigures(piped.delta), figures(piped.result.latenciesUs)), limit: true });

    // A listen(8) server accepting one connection per 5 ms, 40 concurrent clients: drops vs nstat.
    const slow = await startSlowAcceptServer(ns);
    fs.writeFileSync(STATS_SYSCTL, '1');
    const programId = core.programIds()['listen_overflow_ingress'];
    const runStats = (): { ns: number; cnt: number } => {
      if (programId === undefined) return { ns: 0, cnt: 0 };
      const s = programRunStats(programId);
      return { ns: Number(s.runTimeNs), cnt: Number(s.runCount) };
    };
    const nstatBefore = listenCounters(await ns.run('cat', ['/proc/net/netstat']));
    const runsBefore = runStats();
    const overflow = await measured(core, 'listen', async () =>
      JSON.parse(await ns.run(DEBIAN_PYTHON, ['test/helpers/recording-client.py', HOST, String(PORTS.listen), '40', String(n * 2), '60'], 90_000)) as { durations_ms: number[]; send_to_end_ms: number[] },
    );
    const runsAfter = runStats();
    fs.writeFileSync(STATS_SYSCTL, statsBefore);
    const nstatAfter = listenCounters(await ns.run('cat', ['/proc/net/netstat']));
    slow.kill('SIGKILL');
    const dropped = (overflow.delta?.listenSynDrops ?? 0) + (overflow.delta?.listenAckDrops ?? 0);
    const runs = runsAfter.cnt - runsBefore.cnt;
    add(
      // Truth from the request's send: the kernel times a request from its bytes' arrival, and
      // the wait before (a SYN or handshake ACK dropped and retried, 40 client threads taking
      // turns) is counted as dropped attempts, not latency; the client's figures from connect()
      // are kept beside.
      row('listen(8) server past 100 % load, new connection per request', "client, from the request's send", 'overflow', kernelFigures(overflow.delta), figures(overflow.result.send_to_end_ms.map((d) => d * 1000)), {
        kernelP99Ms: round(kernelP99(overflow.delta), 3),
        clientP99Ms: round(quantile(overflow.result.send_to_end_ms, 0.99), 3),
        clientFromConnectP50Ms: round(quantile(overflow.result.durations_ms, 0.5), 3),
        clientFromConnectP90Ms: round(quantile(overflow.result.durations_ms, 0.9), 3),
        clientFromConnectP99Ms: round(quantile(overflow.result.durations_ms, 0.99), 3),
        droppedCounted: dropped,
        droppedSyn: overflow.delta?.listenSynDrops ?? 0,
        droppedAck: overflow.delta?.listenAckDrops ?? 0,
        nstatListenOverflows: nstatAfter.overflows - nstatBefore.overflows,
        nstatListenDrops: nstatAfter.drops - nstatBefore.drops,
        listenOverflowIngressRuns: runs,
        listenOverflowIngressNsPerRunRaw: runs ? round((runsAfter.ns - runsBefore.ns) / runs, 1) : 'n/a',
      }),
    );
    return {
      rows,
      notes: {
        requestsPerRow: n,
        wrk: `${wrkSeconds} s, ${wrkConnections} connections, unpinned`,
        rows: rows.map((r) => `${r.case}: p50 ${r.errorPct.p50} %, p90 ${r.errorPct.p90} %, count ${r.errorPct.count} %`).join(' | '),
      },
    };
  } finally {
    if (fs.readFileSync(STATS_SYSCTL, 'utf8').trim() !== statsBefore) fs.writeFileSync(STATS_SYSCTL, statsBefore);
    core?.close();
    // SIGTERM lets the master stop its workers (SIGKILL from ns.dispose would orphan them).
    for (const nginx of nginxes) nginx.child.kill('SIGTERM');
    await sleep(500);
    ns.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
